import Foundation
import Testing
import TestSupport

@testable import Shared

/// Migrations against the real server, each test in its own schema.
@Suite struct PostgresMigratorTests {
    @Test func bundledMigrationsCreateTheServerCatalog() async throws {
        try await PostgresTestDatabase.withSchema { database in
            try await database.withClient { client in
                let migrations = try Migration.bundled()
                #expect(migrations.first?.version == 1)
                #expect(migrations.first?.name == "server_catalog")
                let applied = try await Migrator(client: client, migrations: migrations, logger: PostgresTestDatabase.logger).migrate()
                #expect(applied.map(\.version) == migrations.map(\.version))

                try await client.execute(
                    """
                    INSERT INTO mcp_servers (id, display_name, transport, url) VALUES (\("github"), \("GitHub"), \("streamable_http"), \("http://127.0.0.1:9000/mcp"))
                    """
                )
                try await client.execute(
                    """
                    INSERT INTO mcp_servers (id, display_name, transport, command, arguments, environment)
                    VALUES (\("time"), \("Time"), \("stdio"), \("uvx"), \(PostgresJSON(["mcp-server-time"])), \(PostgresJSON(["TZ": "UTC"])))
                    """
                )
                let row = try #require(try await client.query("SELECT * FROM mcp_servers WHERE id = \("github")").first)
                #expect(try row.decodeJSON([String].self, "arguments") == [])
                #expect(try row.decode(Int.self, "timeout_ms") == 60_000)
                #expect(try row.decode(Bool.self, "enabled"))
                #expect(try row.decodeJSON([String: String].self, "environment") == [:])
                _ = try row.decode(Date.self, "created_at")
            }
        }
    }

    /// Rows the catalog must refuse, with the constraint that refuses each.
    static let invalidServers: [(id: String, transport: String, url: String?, command: String?, timeout: Int)] = [
        ("Upper", "stdio", nil, "x", 1000),
        ("-leading-dash", "stdio", nil, "x", 1000),
        (String(repeating: "a", count: 64), "stdio", nil, "x", 1000),
        ("web", "streamable_http", nil, nil, 1000),
        ("events", "sse", nil, "cmd", 1000),
        ("local", "stdio", "http://x", nil, 1000),
        ("carrier", "pigeon", "http://x", nil, 1000),
        ("slow", "stdio", nil, "x", 99),
        ("slower", "stdio", nil, "x", 3_600_001),
    ]

    @Test func theCatalogRefusesInvalidServers() async throws {
        try await PostgresTestDatabase.withSchema { database in
            try await database.withClient { client in
                try await Migrator(client: client, migrations: try Migration.bundled(), logger: PostgresTestDatabase.logger).migrate()
                for server in Self.invalidServers {
                    do {
                        try await client.execute(
                            """
                            INSERT INTO mcp_servers (id, display_name, transport, url, command, timeout_ms)
                            VALUES (\(server.id), \("x"), \(server.transport), \(server.url), \(server.command), \(server.timeout))
                            """
                        )
                        Issue.record("accepted invalid server \(server)")
                    } catch let error as PostgresError {
                        #expect(error.isCheckViolation, "\(server): \(error)")
                    }
                }
                let count = try await client.query("SELECT count(*) AS n FROM mcp_servers")[0].decode(Int.self, "n")
                #expect(count == 0)
            }
        }
    }

    @Test func fiveMigratorsStartingAtOnceApplyEachVersionExactlyOnce() async throws {
        try await PostgresTestDatabase.withSchema { database in
            let migrations = try Migration.bundled() + [
                Migration(version: 1000, name: "second", sql: "CREATE TABLE second (id int PRIMARY KEY); INSERT INTO second VALUES (1);"),
                Migration(version: 1001, name: "third", sql: "ALTER TABLE second ADD COLUMN note text NOT NULL DEFAULT 'x';"),
            ]
            let versions = migrations.map(\.version)
            let clients = (0..<5).map { _ in database.makeClient(poolSize: 1) }
            let applied = try await withThrowingTaskGroup(of: [Int].self) { group in
                for client in clients {
                    group.addTask {
                        try await Migrator(client: client, migrations: migrations, logger: PostgresTestDatabase.logger).migrate().map(\.version)
                    }
                }
                var all: [Int] = []
                for try await versions in group { all += versions }
                return all
            }
            #expect(applied.sorted() == versions)

            let recorded = try await clients[0].query(
                "SELECT version, count(*) OVER (PARTITION BY version) AS copies, checksum FROM schema_migrations ORDER BY version"
            )
            #expect(try recorded.map { try $0.decode(Int.self, "version") } == versions)
            #expect(try recorded.allSatisfy { try $0.decode(Int.self, "copies") == 1 })
            #expect(try recorded.map { try $0.decode(String.self, "checksum") } == migrations.map(\.checksum))

            let rerun = try await Migrator(client: clients[0], migrations: migrations, logger: PostgresTestDatabase.logger).migrate()
            #expect(rerun.isEmpty)
            for client in clients { await client.shutdown() }
        }
    }

    @Test func anEditedAppliedMigrationIsRefusedByChecksum() async throws {
        try await PostgresTestDatabase.withSchema { database in
            try await database.withClient { client in
                let directory = FileManager.default.temporaryDirectory.appendingPathComponent("migrations-\(UUID().uuidString)")
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
                defer { try? FileManager.default.removeItem(at: directory) }
                try "CREATE TABLE alpha (id int);\n".write(to: directory.appendingPathComponent("0001_alpha.sql"), atomically: true, encoding: .utf8)
                try "CREATE TABLE beta (id int);\n".write(to: directory.appendingPathComponent("0002_beta.sql"), atomically: true, encoding: .utf8)
                try "not a migration".write(to: directory.appendingPathComponent("README.md"), atomically: true, encoding: .utf8)
                let environment = EnvironmentReader(["MIGRATIONS_DIR": directory.path])

                let first = try Migration.load(environment: environment)
                #expect(first.map(\.name) == ["alpha", "beta"])
                try await Migrator(client: client, migrations: first, logger: PostgresTestDatabase.logger).migrate()

                try "CREATE TABLE beta (id bigint);\n".write(to: directory.appendingPathComponent("0002_beta.sql"), atomically: true, encoding: .utf8)
                try "CREATE TABLE gamma (id int);\n".write(to: directory.appendingPathComponent("0003_gamma.sql"), atomically: true, encoding: .utf8)
                let edited = try Migration.load(environment: environment)
                await #expect {
                    try await Migrator(client: client, migrations: edited, logger: PostgresTestDatabase.logger).migrate()
                } throws: { error in
                    guard case .checksumMismatch(let version, let name, let recorded, let current) = error as? MigrationError else { return false }
                    return version == 2 && name == "beta" && recorded == first[1].checksum && current == edited[1].checksum
                }
                // Nothing after the mismatch was applied.
                let gamma = try await client.query("SELECT to_regclass('gamma') IS NULL AS absent")[0].decode(Bool.self, "absent")
                #expect(gamma)
            }
        }
    }

    @Test func aFailingMigrationIsRolledBackWhole() async throws {
        try await PostgresTestDatabase.withSchema { database in
            try await database.withClient(poolSize: 1) { client in
                let migrations = [
                    Migration(version: 1, name: "good", sql: "CREATE TABLE good (id int);"),
                    Migration(version: 2, name: "bad", sql: "CREATE TABLE half (id int); SELECT * FROM missing_table;"),
                    Migration(version: 3, name: "later", sql: "CREATE TABLE later (id int);"),
                ]
                await #expect {
                    try await Migrator(client: client, migrations: migrations, logger: PostgresTestDatabase.logger).migrate()
                } throws: { error in
                    guard case .failed(let version, _, let message) = error as? MigrationError else { return false }
                    return version == 2 && message.contains("42P01")
                }
                let state = try await client.query(
                    """
                    SELECT to_regclass('good') IS NOT NULL AS good, to_regclass('half') IS NULL AS half_absent,
                           to_regclass('later') IS NULL AS later_absent,
                           (SELECT array_agg(version ORDER BY version) FROM schema_migrations)::int8[] AS versions
                    """
                )[0]
                #expect(try state.decode(Bool.self, "good"))
                #expect(try state.decode(Bool.self, "half_absent"))
                #expect(try state.decode(Bool.self, "later_absent"))
                #expect(try state.decode([Int].self, "versions") == [1])
                // The advisory lock was released (the pool's one session holds none).
                let locks = try await client.query(
                    "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
                )[0]
                #expect(try locks.decode(Int.self, "n") == 0)
            }
        }
    }

    @Test(arguments: ["01a_x.sql", "0001.sql", "0001_.sql", "abc_def.sql"])
    func misnamedMigrationFilesAreRefused(fileName: String) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("migrations-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try "SELECT 1;".write(to: directory.appendingPathComponent(fileName), atomically: true, encoding: .utf8)
        #expect(throws: MigrationError.invalidFileName(fileName)) { try Migration.load(directory: directory) }
    }

    @Test func twoFilesWithOneVersionAreRefused() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("migrations-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try "SELECT 1;".write(to: directory.appendingPathComponent("0001_a.sql"), atomically: true, encoding: .utf8)
        try "SELECT 1;".write(to: directory.appendingPathComponent("0001_b.sql"), atomically: true, encoding: .utf8)
        #expect(throws: MigrationError.duplicateVersion(1)) { try Migration.load(directory: directory) }
    }
}
