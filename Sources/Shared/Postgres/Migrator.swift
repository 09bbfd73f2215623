import Logging

/// Brings the database schema up to date at process start.
///
/// Every worker and ingress replica runs it when it starts, so it must be safe to run many times
/// at once: it holds a session-level `pg_advisory_lock` for the whole run, so one process applies
/// and the others, once they get the lock, find nothing left to do. Each migration runs in its
/// own transaction together with its `schema_migrations` row, so a failure leaves the schema at
/// the previous version, never half-applied.
///
/// Tables are created unqualified, in the first schema of the session's `search_path`
/// (`public` by default; tests point it at a schema of their own).
public struct Migrator: Sendable {
    /// The advisory lock key (`"mcpgwmig"` in ASCII), fixed so every replica contends for the
    /// same lock.
    public static let advisoryLockKey: Int64 = 0x6D63_7067_776D_6967

    public let migrations: [Migration]
    private let client: PostgresClient
    private let logger: Logger

    public init(client: PostgresClient, migrations: [Migration], logger: Logger) {
        self.client = client
        self.migrations = migrations.sorted { $0.version < $1.version }
        self.logger = logger
    }

    /// Applies every migration not yet recorded, in version order; returns those it applied
    /// (none when the schema is current).
    ///
    /// - Throws: ``MigrationError/checksumMismatch(version:name:recorded:current:)`` when an
    ///   applied migration's file changed, before anything is applied;
    ///   ``MigrationError/failed(version:name:error:)`` when a migration's SQL fails;
    ///   ``PostgresError`` when the database cannot be reached.
    @discardableResult
    public func migrate() async throws -> [Migration] {
        try await client.withConnection { connection in
            _ = try await connection.query("SELECT pg_advisory_lock(\(Self.advisoryLockKey))")
            let applied: [Migration]
            do {
                applied = try await applyPending(on: connection)
            } catch {
                await unlock(connection)
                throw error
            }
            await unlock(connection)
            return applied
        }
    }

    /// The migrations of this build that the database has not recorded (all of them when none
    /// ever ran): what a process that does not migrate waits for. Reads only; takes no lock.
    public func pending() async throws -> [Migration] {
        let present = try await client.query("SELECT to_regclass('schema_migrations') IS NOT NULL AS present")
        guard try present.first?.decode(Bool.self, "present") == true else { return migrations }
        var applied = Set<Int>()
        for row in try await client.query("SELECT version FROM schema_migrations") {
            applied.insert(try row.decode(Int.self, "version"))
        }
        return migrations.filter { !applied.contains($0.version) }
    }

    private func applyPending(on connection: PostgresConnection) async throws -> [Migration] {
        _ = try await connection.query(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version integer PRIMARY KEY,
                name text NOT NULL,
                checksum text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """
        )
        let rows = try await connection.query("SELECT version, name, checksum FROM schema_migrations ORDER BY version")
        var recorded: [Int: (name: String, checksum: String)] = [:]
        for row in rows {
            recorded[try row.decode(Int.self, "version")] = (try row.decode(String.self, "name"), try row.decode(String.self, "checksum"))
        }

        for migration in migrations {
            guard let record = recorded[migration.version] else { continue }
            if record.checksum != migration.checksum {
                throw MigrationError.checksumMismatch(
                    version: migration.version,
                    name: migration.name,
                    recorded: record.checksum,
                    current: migration.checksum
                )
            }
        }
        let known = Set(migrations.map(\.version))
        let unknown = recorded.keys.filter { !known.contains($0) }.sorted()
        if !unknown.isEmpty {
            // A newer release migrated this database; this older code may still run (a rolling
            // deployment), so this is not an error.
            logger.warning(
                "the database has migrations this build does not know",
                metadata: [LogKeys.pgMigration: "\(unknown.map(String.init).joined(separator: ","))"]
            )
        }

        var applied: [Migration] = []
        for migration in migrations where recorded[migration.version] == nil {
            var migrationLogger = logger
            migrationLogger[metadataKey: LogKeys.pgMigration] = "\(migration.version)_\(migration.name)"
            do {
                try await connection.transaction { connection in
                    try await connection.runScript(migration.sql)
                    _ = try await connection.query(
                        """
                        INSERT INTO schema_migrations (version, name, checksum, applied_at)
                        VALUES (\(migration.version), \(migration.name), \(migration.checksum), now())
                        """
                    )
                }
            } catch let error as PostgresError where !error.isConnectionProblem && error.code != .cancelled {
                migrationLogger.error("migration failed", metadata: [LogKeys.pgError: "\(error)"])
                throw MigrationError.failed(version: migration.version, name: migration.name, error: "\(error)")
            }
            migrationLogger.info("migration applied")
            applied.append(migration)
        }
        return applied
    }

    /// Releases the advisory lock; a session that cannot confirm it is closed instead of pooled,
    /// which releases the lock too.
    private func unlock(_ connection: PostgresConnection) async {
        do {
            let rows = try await connection.query("SELECT pg_advisory_unlock(\(Self.advisoryLockKey)) AS released", cancellable: false)
            if try rows.first?.decode(Bool.self, "released") != true { connection.retire() }
        } catch {
            connection.retire()
        }
    }
}
