import ArgumentParser
import Logging
import Shared

/// `mcpgw migrate`: applies the bundled (or `MIGRATIONS_DIR`) migrations that are not applied yet.
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply database migrations (safe to run from many processes at once).")

    func run() async throws {
        var logger = Logger(label: "mcpgw")
        logger.logLevel = .warning
        let applied = try await DatabaseSession.with { [logger] client in
            try await Migrator(client: client, migrations: try Migration.load(environment: EnvironmentReader()), logger: logger).migrate()
        }
        if applied.isEmpty {
            print("Database is up to date.")
        } else {
            for migration in applied { print("Applied \(migration.version) \(migration.name)") }
        }
    }
}
