import Foundation
import Logging
import ServiceLifecycle
import Shared
import Synchronization
import TestSupport
import Testing

/// The LISTEN session against the real server: notifications arrive, and a session the server
/// kills (as a restart does) comes back and says so with a fresh `connected`.
@Suite struct PostgresListenerTests {
    /// Collects a listener's events.
    final class Recorder: Sendable {
        let events = Mutex<[PostgresListener.Event]>([])
        func all() -> [PostgresListener.Event] { events.withLock { $0 } }
    }

    static func withListener(
        _ database: PostgresTestDatabase, channel: String, _ body: @Sendable (PostgresListener, Recorder) async throws -> Void
    ) async throws {
        let listener = PostgresListener(
            configuration: database.configuration(poolSize: 1), channels: [channel], logger: PostgresTestDatabase.logger,
            reconnectMinimum: .milliseconds(50), reconnectMaximum: .milliseconds(200)
        )
        let recorder = Recorder()
        let group = ServiceGroup(services: [listener], logger: PostgresTestDatabase.logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            tasks.addTask {
                for await event in listener.events { recorder.events.withLock { $0.append(event) } }
            }
            do {
                try await body(listener, recorder)
            } catch {
                await group.triggerGracefulShutdown()
                try? await tasks.waitForAll()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    @Test func notificationsArriveAndAKilledSessionReconnects() async throws {
        try await PostgresTestDatabase.withSchema { database in
            let channel = "t_listen_\(database.schema.suffix(8))"
            try await Self.withListener(database, channel: channel) { listener, recorder in
                _ = try await eventually(timeout: .seconds(10)) { recorder.all().contains(.connected(schema: database.schema)) ? true : nil }
                try await database.admin.execute("SELECT pg_notify(\(channel), 'first')")
                _ = try await eventually(timeout: .seconds(10)) {
                    recorder.all().contains(.notification(channel: channel, payload: "first")) ? true : nil
                }
                // The server ends the listening session, as a restart would.
                let killed = try await database.admin.query(
                    "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE application_name = \(database.applicationName)")
                #expect(try killed[0].decode(Int.self, "n") == 1)
                _ = try await eventually(timeout: .seconds(10)) {
                    recorder.all().filter { $0 == .connected(schema: database.schema) }.count >= 2 ? true : nil
                }
                #expect(recorder.all().contains(.disconnected))
                try await database.admin.execute("SELECT pg_notify(\(channel), 'second')")
                _ = try await eventually(timeout: .seconds(10)) {
                    recorder.all().contains(.notification(channel: channel, payload: "second")) ? true : nil
                }
            }
        }
    }
}
