import Foundation
import Logging
import Shared
import Synchronization

/// The MCP server catalog, read from PostgreSQL and cached briefly: every call needs its
/// server's definition, and the catalog changes rarely.
public final class ServerCatalog: Sendable {
    private let database: PostgresClient
    private let ttl: Duration
    private let cache = Mutex<(servers: [String: ServerRecord], until: ContinuousClock.Instant)?>(nil)

    public init(database: PostgresClient, ttl: Duration = .seconds(5)) {
        self.database = database
        self.ttl = ttl
    }

    /// Every server, enabled or not.
    public func all() async throws -> [ServerRecord] {
        let rows = try await database.query("SELECT * FROM mcp_servers ORDER BY id")
        return try rows.map(ServerRecord.init(row:))
    }

    /// The enabled server with this id, or `nil`.
    public func server(_ id: String) async throws -> ServerRecord? {
        try await cached()[id].flatMap { $0.enabled ? $0 : nil }
    }

    /// Every enabled server, in id order.
    public func enabled() async throws -> [ServerRecord] {
        try await cached().values.filter(\.enabled).sorted { $0.id < $1.id }
    }

    private func cached() async throws -> [String: ServerRecord] {
        let now = ContinuousClock.now
        if let cached = cache.withLock({ $0 }), cached.until > now { return cached.servers }
        let servers = try await all()
        let byID = Dictionary(uniqueKeysWithValues: servers.map { ($0.id, $0) })
        cache.withLock { $0 = (byID, now + ttl) }
        return byID
    }

    /// Forgets the cached catalog, so the next lookup reads PostgreSQL.
    public func invalidate() {
        cache.withLock { $0 = nil }
    }

    /// Adds a server, or replaces the one with the same id.
    public func upsert(_ server: ServerRecord) async throws {
        try await database.execute(
            """
            INSERT INTO mcp_servers (id, display_name, transport, url, command, arguments, environment, timeout_ms, enabled, credential_required)
            VALUES (\(server.id), \(server.displayName), \(server.transport.rawValue), \(server.url), \(server.command),
                    \(PostgresJSON(server.arguments)), \(PostgresJSON(server.environment)), \(server.timeoutMilliseconds), \(server.enabled),
                    \(server.credentialRequired))
            ON CONFLICT (id) DO UPDATE SET display_name = EXCLUDED.display_name, transport = EXCLUDED.transport, url = EXCLUDED.url,
                command = EXCLUDED.command, arguments = EXCLUDED.arguments, environment = EXCLUDED.environment,
                timeout_ms = EXCLUDED.timeout_ms, enabled = EXCLUDED.enabled, credential_required = EXCLUDED.credential_required,
                updated_at = now()
            """
        )
        invalidate()
    }

    /// Enables or disables a server; `false` when there is no such server.
    @discardableResult
    public func setEnabled(_ id: String, _ enabled: Bool) async throws -> Bool {
        let changed = try await database.execute("UPDATE mcp_servers SET enabled = \(enabled), updated_at = now() WHERE id = \(id)")
        invalidate()
        return changed > 0
    }

    @discardableResult
    public func remove(_ id: String) async throws -> Bool {
        let removed = try await database.execute("DELETE FROM mcp_servers WHERE id = \(id)")
        invalidate()
        return removed > 0
    }
}
