import Foundation
import Shared

/// Backend credentials per (tenant, server), sealed with the ``CredentialKeyring`` (AES-256-GCM)
/// before they reach PostgreSQL, and opened only in a worker's memory for a call.
///
/// Each value is bound to its row: the associated data is tenant, server, target and name, so a
/// sealed value copied to another row (another tenant) does not open.
public struct CredentialStore: Sendable {
    public enum Target: String, Sendable, CaseIterable {
        /// An HTTP header on every request to a streamable HTTP or SSE backend.
        case header
        /// An environment variable of a stdio backend's process.
        case env
    }

    /// One stored credential, without its value.
    public struct Entry: Sendable, Equatable {
        public var tenant: String
        public var server: String
        public var target: Target
        public var name: String
        public var keyID: String
        public var updatedAt: Date
    }

    /// The tenant whose credentials are the platform's own; used only through a share.
    public static let platformTenant = "platform"
    static let keyCheckText = "mcpgw credentials key check"

    private let database: PostgresClient
    private let keyring: CredentialKeyring?
    private let opensValues: Bool

    /// - Parameter opensValues: `false` resolves which credential applies (names, source) without
    ///   opening values, which are then empty: for `explain`, which needs no key.
    public init(database: PostgresClient, keyring: CredentialKeyring?, opensValues: Bool = true) {
        self.database = database
        self.keyring = keyring
        self.opensValues = opensValues
    }

    static func context(tenant: String, server: String, target: Target, name: String) -> String {
        "mcpgw-credential:v1:\(tenant):\(server):\(target.rawValue):\(name)"
    }

    static func keyCheckContext(_ keyID: String) -> String { "mcpgw-key-check:v1:\(keyID)" }

    private func requireKeyring() throws(ConfigurationError) -> CredentialKeyring {
        guard let keyring else {
            throw ConfigurationError(variable: CredentialKeyring.Variable.key, reason: "is required to read or write backend credentials")
        }
        return keyring
    }

    // MARK: Start-up check

    /// Fails with a ``ConfigurationError`` naming the variable when a configured key is not the
    /// one this database knows under its id, or when stored credentials are sealed under a key
    /// id that is not configured. Registers the current key id the first time it is seen.
    public func verifyKeys() async throws {
        let keyring = try requireKeyring()
        for keyID in keyring.keyIDs {
            let variable = keyID == keyring.currentKeyID ? CredentialKeyring.Variable.key : CredentialKeyring.Variable.previousKeys
            var rows = try await database.query("SELECT sealed_check FROM credential_keys WHERE key_id = \(keyID)")
            if rows.isEmpty && keyID == keyring.currentKeyID {
                let check = try keyring.seal(Array(Self.keyCheckText.utf8), context: Self.keyCheckContext(keyID), keyID: keyID)
                try await database.execute("INSERT INTO credential_keys (key_id, sealed_check) VALUES (\(keyID), \(check)) ON CONFLICT DO NOTHING")
                rows = try await database.query("SELECT sealed_check FROM credential_keys WHERE key_id = \(keyID)")
            }
            guard let row = rows.first else { continue }
            let check = try row.decode(Data.self, "sealed_check")
            let opened = try? keyring.open(check, keyID: keyID, context: Self.keyCheckContext(keyID))
            guard opened == Array(Self.keyCheckText.utf8) else {
                throw ConfigurationError(
                    variable: variable,
                    reason: "holds a key with id '\(keyID)' that is not the key this database's credentials under that id were sealed with (wrong key, or wrong \(CredentialKeyring.Variable.keyID))"
                )
            }
        }
        let missing = try await database.query(
            "SELECT DISTINCT key_id FROM backend_credentials WHERE NOT (key_id = ANY(\(keyring.keyIDs)::text[])) ORDER BY key_id"
        ).map { try $0.decode(String.self, "key_id") }
        if !missing.isEmpty {
            throw ConfigurationError(
                variable: CredentialKeyring.Variable.previousKeys,
                reason: "has no key for id(s) \(missing.map { "'\($0)'" }.joined(separator: ", ")), under which stored credentials are sealed; add them (id:key) or re-seal with 'mcpgw credentials rotate-key'"
            )
        }
    }

    // MARK: Writing

    /// Seals and stores one value (replacing the previous one of the same name).
    public func set(tenant: String, server: String, target: Target, name: String, value: [UInt8]) async throws {
        let keyring = try requireKeyring()
        try await verifyKeys()
        let (keyID, sealed) = try keyring.seal(value, context: Self.context(tenant: tenant, server: server, target: target, name: name))
        try await database.execute(
            """
            INSERT INTO backend_credentials (tenant_id, server_id, target, name, key_id, sealed)
            VALUES (\(tenant), \(server), \(target.rawValue), \(name), \(keyID), \(sealed))
            ON CONFLICT (tenant_id, server_id, target, name)
            DO UPDATE SET key_id = EXCLUDED.key_id, sealed = EXCLUDED.sealed, updated_at = now()
            """
        )
    }

    /// Removes a tenant's credentials for a server (one name, or all); how many were removed.
    @discardableResult
    public func remove(tenant: String, server: String, target: Target? = nil, name: String? = nil) async throws -> Int {
        try await database.execute(
            """
            DELETE FROM backend_credentials WHERE tenant_id = \(tenant) AND server_id = \(server)
              AND (\(target?.rawValue)::text IS NULL OR target = \(target?.rawValue)::text) AND (\(name)::text IS NULL OR name = \(name)::text)
            """
        )
    }

    /// Re-seals every value not sealed under the current key; how many were re-sealed.
    public func resealUnderCurrentKey() async throws -> Int {
        let keyring = try requireKeyring()
        try await verifyKeys()
        return try await database.withTransaction { connection in
            let rows = try await connection.query(
                "SELECT tenant_id, server_id, target, name, key_id, sealed FROM backend_credentials WHERE key_id <> \(keyring.currentKeyID) FOR UPDATE"
            )
            for row in rows {
                let (tenant, server, name) = (try row.decode(String.self, "tenant_id"), try row.decode(String.self, "server_id"), try row.decode(String.self, "name"))
                let target = Target(rawValue: try row.decode(String.self, "target")) ?? .header
                let context = Self.context(tenant: tenant, server: server, target: target, name: name)
                let plaintext = try keyring.open(try row.decode(Data.self, "sealed"), keyID: try row.decode(String.self, "key_id"), context: context)
                let (keyID, sealed) = try keyring.seal(plaintext, context: context)
                try await connection.execute(
                    """
                    UPDATE backend_credentials SET key_id = \(keyID), sealed = \(sealed), updated_at = now()
                    WHERE tenant_id = \(tenant) AND server_id = \(server) AND target = \(target.rawValue) AND name = \(name)
                    """
                )
            }
            return rows.count
        }
    }

    // MARK: Reading

    /// What is stored, without values.
    public func list(tenant: String? = nil, server: String? = nil) async throws -> [Entry] {
        try await database.query(
            """
            SELECT tenant_id, server_id, target, name, key_id, updated_at FROM backend_credentials
            WHERE (\(tenant)::text IS NULL OR tenant_id = \(tenant)::text) AND (\(server)::text IS NULL OR server_id = \(server)::text)
            ORDER BY tenant_id, server_id, target, name
            """
        ).map { row in
            Entry(
                tenant: try row.decode(String.self, "tenant_id"), server: try row.decode(String.self, "server_id"),
                target: Target(rawValue: try row.decode(String.self, "target")) ?? .header, name: try row.decode(String.self, "name"),
                keyID: try row.decode(String.self, "key_id"), updatedAt: try row.decode(Date.self, "updated_at")
            )
        }
    }

    /// Lets `tenant` use the platform's credentials for `server`: visible, revocable, never implied.
    @discardableResult
    public func share(tenant: String, server: String) async throws -> Bool {
        try await database.execute("INSERT INTO platform_credential_shares (tenant_id, server_id) VALUES (\(tenant), \(server)) ON CONFLICT DO NOTHING") == 1
    }

    @discardableResult
    public func unshare(tenant: String, server: String) async throws -> Bool {
        try await database.execute("DELETE FROM platform_credential_shares WHERE tenant_id = \(tenant) AND server_id = \(server)") > 0
    }

    public func shares() async throws -> [(tenant: String, server: String)] {
        try await database.query("SELECT tenant_id, server_id FROM platform_credential_shares ORDER BY tenant_id, server_id").map {
            (try $0.decode(String.self, "tenant_id"), try $0.decode(String.self, "server_id"))
        }
    }

    /// The credential a call of `tenant` on `server` uses: the tenant's own; else the platform's
    /// if shared with the tenant explicitly; else `nil`.
    public func resolve(tenant: String, server: String) async throws(GatewayError) -> BackendCredential? {
        do {
            let rows = try await database.query(
                """
                SELECT c.tenant_id, c.target, c.name, c.key_id, c.sealed FROM backend_credentials c
                WHERE c.server_id = \(server)
                  AND (c.tenant_id = \(tenant)
                       OR (c.tenant_id = \(Self.platformTenant)
                           AND NOT EXISTS (SELECT 1 FROM backend_credentials o WHERE o.tenant_id = \(tenant) AND o.server_id = \(server))
                           AND EXISTS (SELECT 1 FROM platform_credential_shares s WHERE s.tenant_id = \(tenant) AND s.server_id = \(server))))
                ORDER BY c.target, c.name
                """
            )
            guard let first = rows.first else { return nil }
            let owner = try first.decode(String.self, "tenant_id")
            var credential = BackendCredential(source: owner == tenant ? .tenant(tenant) : .platformSharedWith(tenant))
            if !opensValues {
                for row in rows {
                    let name = try row.decode(String.self, "name")
                    if try row.decode(String.self, "target") == Target.env.rawValue { credential.environment[name] = "" } else { credential.headers[name] = "" }
                }
                return credential
            }
            let keyring: CredentialKeyring
            do {
                keyring = try requireKeyring()
            } catch {
                throw GatewayError(.authorizationUnavailable, "the credentials for the MCP server '\(server)' cannot be opened on this worker", detail: "\(error)")
            }
            for row in rows {
                let target = Target(rawValue: try row.decode(String.self, "target")) ?? .header
                let name = try row.decode(String.self, "name")
                let value: [UInt8]
                do {
                    value = try keyring.open(
                        try row.decode(Data.self, "sealed"), keyID: try row.decode(String.self, "key_id"),
                        context: Self.context(tenant: owner, server: server, target: target, name: name)
                    )
                } catch {
                    throw GatewayError(.authorizationUnavailable, "the credentials for the MCP server '\(server)' cannot be opened on this worker", detail: "\(error)")
                }
                let text = String(decoding: value, as: UTF8.self)
                switch target {
                case .header: credential.headers[name] = text
                case .env: credential.environment[name] = text
                }
            }
            return credential
        } catch let error as GatewayError {
            throw error
        } catch {
            throw GatewayError(.authorizationUnavailable, "authorization is unavailable right now; the call was refused", detail: "\(error)")
        }
    }
}
