import Foundation
import Logging
import Testing

import Shared

/// Gives each test a schema of its own on the real server named by `DATABASE_URL`, so tests run
/// in parallel and rerun cleanly: every client it makes sets `search_path` to that schema (as a
/// libpq `options` override), and the schema is dropped afterwards, also when the test fails.
public struct PostgresTestDatabase: Sendable {
    public let databaseURL: String
    public let schema: String
    public let applicationName: String
    /// A client outside the schema, for setup and for watching the test's sessions
    /// (`pg_stat_activity`); shut down by ``withSchema(sourceLocation:_:)``.
    public let admin: PostgresClient

    public static let logger: Logger = {
        var logger = Logger(label: "postgres-tests") { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .critical
            return handler
        }
        logger.logLevel = .critical
        return logger
    }()

    /// `DATABASE_URL`, or a recorded failure: these tests need a real server and must not pass
    /// vacuously without one.
    public static func requireDatabaseURL(sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        try #require(
            ProcessInfo.processInfo.environment["DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 },
            "DATABASE_URL must point at a real PostgreSQL for the Postgres tests, e.g. postgresql://postgres@127.0.0.1:35499/postgres",
            sourceLocation: sourceLocation
        )
    }

    /// A fresh schema `t_<random>` for `body`, dropped afterwards.
    public static func withSchema(
        sourceLocation: SourceLocation = #_sourceLocation,
        _ body: (PostgresTestDatabase) async throws -> Void
    ) async throws {
        let url = try requireDatabaseURL(sourceLocation: sourceLocation)
        let suffix = UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12)
        let admin = PostgresClient(
            configuration: PostgresConfiguration(connectionString: url, poolSize: 1, applicationName: "pgtest-admin"),
            logger: logger
        )
        let database = PostgresTestDatabase(databaseURL: url, schema: "t_\(suffix)", applicationName: "pgtest-\(suffix)", admin: admin)
        do {
            try await admin.execute("CREATE SCHEMA \(identifier: database.schema)")
            do {
                try await body(database)
            } catch {
                _ = try? await admin.execute("DROP SCHEMA IF EXISTS \(identifier: database.schema) CASCADE")
                await admin.shutdown()
                throw error
            }
            try await admin.execute("DROP SCHEMA IF EXISTS \(identifier: database.schema) CASCADE")
        } catch {
            await admin.shutdown()
            throw error
        }
        await admin.shutdown()
    }

    /// Runs `body` with a client whose sessions live in this schema, and shuts it down after.
    public func withClient(
        poolSize: Int = 4,
        acquireTimeout: Duration = .seconds(10),
        _ body: (PostgresClient) async throws -> Void
    ) async throws {
        let client = makeClient(poolSize: poolSize, acquireTimeout: acquireTimeout)
        do {
            try await body(client)
        } catch {
            await client.shutdown()
            throw error
        }
        await client.shutdown()
    }

    public func configuration(poolSize: Int = 4, acquireTimeout: Duration = .seconds(10)) -> PostgresConfiguration {
        PostgresConfiguration(
            connectionString: databaseURL,
            poolSize: poolSize,
            acquireTimeout: acquireTimeout,
            applicationName: applicationName,
            parameterOverrides: ["options": "-c search_path=\(schema)"]
        )
    }

    public func makeClient(poolSize: Int = 4, acquireTimeout: Duration = .seconds(10)) -> PostgresClient {
        PostgresClient(configuration: configuration(poolSize: poolSize, acquireTimeout: acquireTimeout), logger: Self.logger)
    }

    /// How many sessions of this test's clients the server has.
    public func sessionCount() async throws -> Int {
        let rows = try await admin.query(
            "SELECT count(*) AS sessions FROM pg_stat_activity WHERE application_name = \(applicationName)"
        )
        return try rows[0].decode(Int.self, "sessions")
    }

    /// Polls until `condition` holds or `timeout` passes; returns whether it held.
    public static func eventually(
        timeout: Duration = .seconds(15),
        _ condition: () async throws -> Bool
    ) async throws -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while clock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return try await condition()
    }
}
