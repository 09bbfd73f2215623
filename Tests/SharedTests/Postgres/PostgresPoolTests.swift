#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import ServiceLifecycle
import Testing
import TestSupport

@testable import Shared

/// The pool against the real server: bounds, timeouts, cancellation, broken sessions, shutdown.
@Suite struct PostgresPoolTests {
    @Test func anExhaustedPoolTimesOutWithPoolTimeout() async throws {
        try await PostgresTestDatabase.withSchema { database in
            try await database.withClient(poolSize: 1, acquireTimeout: .milliseconds(300)) { client in
                let (holding, holdingContinuation) = AsyncStream<Void>.makeStream()
                let holder = Task {
                    try await client.withConnection { connection in
                        holdingContinuation.yield()
                        _ = try await connection.query("SELECT pg_sleep(3)")
                    }
                }
                for await _ in holding { break }

                let started = ContinuousClock.now
                await #expect {
                    try await client.query("SELECT 1")
                } throws: { error in
                    (error as? PostgresError)?.code == .poolTimeout
                }
                // It gave up on its own timeout, not when the holder let go.
                #expect(ContinuousClock.now - started < .seconds(2.5))
                try await holder.value
                _ = try await client.query("SELECT 1")
            }
        }
    }

    @Test func cancellingTheTaskCancelsARunningStatement() async throws {
        try await PostgresTestDatabase.withSchema { database in
            let admin = database.admin
            try await database.withClient(poolSize: 1) { client in
                let started = ContinuousClock.now
                let sleeper = Task { try await client.query("SELECT pg_sleep(30)") }
                let running = try await PostgresTestDatabase.eventually {
                    let rows = try await admin.query(
                        """
                        SELECT count(*) AS n FROM pg_stat_activity
                        WHERE application_name = \(database.applicationName) AND state = 'active' AND query LIKE 'SELECT pg_sleep%'
                        """
                    )
                    return try rows[0].decode(Int.self, "n") == 1
                }
                try #require(running, "the statement never started")
                sleeper.cancel()
                let outcome = await sleeper.result
                #expect(ContinuousClock.now - started < .seconds(15), "cancellation must end the statement long before its 30 s")
                switch outcome {
                case .success: Issue.record("the cancelled statement completed")
                case .failure(let error):
                    let error = try #require(error as? PostgresError)
                    #expect(error.code == .cancelled)
                    #expect(error.sqlState == "57014")
                }
                // The pool still works; the cancelled session was not lent again.
                _ = try await client.query("SELECT 1")
            }
        }
    }

    @Test func cancellingATaskThatWaitsForAConnectionEndsItsWait() async throws {
        try await PostgresTestDatabase.withSchema { database in
            try await database.withClient(poolSize: 1, acquireTimeout: .seconds(20)) { client in
                let (holding, holdingContinuation) = AsyncStream<Void>.makeStream()
                let (release, releaseContinuation) = AsyncStream<Void>.makeStream()
                let holder = Task {
                    try await client.withConnection { _ in
                        holdingContinuation.yield()
                        for await _ in release { break }
                    }
                }
                for await _ in holding { break }
                let started = ContinuousClock.now
                let waiter = Task { try await client.query("SELECT 1") }
                try await Task.sleep(for: .milliseconds(100))
                waiter.cancel()
                let outcome = await waiter.result
                #expect(ContinuousClock.now - started < .seconds(10))
                if case .failure(let error) = outcome {
                    #expect((error as? PostgresError)?.code == .cancelled)
                } else {
                    Issue.record("the cancelled waiter got a connection")
                }
                releaseContinuation.yield()
                try await holder.value
                _ = try await client.query("SELECT 1")
            }
        }
    }

    @Test func aTerminatedIdleSessionIsReplacedTransparently() async throws {
        try await PostgresTestDatabase.withSchema { database in
            let admin = database.admin
            try await database.withClient(poolSize: 1) { client in
                let first = try await client.query("SELECT pg_backend_pid() AS pid")[0].decode(Int32.self, "pid")
                _ = try await admin.query("SELECT pg_terminate_backend(\(first))")
                // Gone from pg_stat_activity, and (when the server runs on this machine, as in these
                // tests) the process gone too: only then has its socket surely been closed.
                let gone = try await PostgresTestDatabase.eventually {
                    let listed = try await admin.query("SELECT count(*) AS n FROM pg_stat_activity WHERE pid = \(first)")[0]
                        .decode(Int.self, "n")
                    return listed == 0 && kill(first, 0) != 0
                }
                try #require(gone)
                let second = try await client.query("SELECT pg_backend_pid() AS pid")[0].decode(Int32.self, "pid")
                #expect(second != first)
            }
        }
    }

    @Test func aSessionKilledMidStatementFailsWithConnectionLostAndIsReplaced() async throws {
        try await PostgresTestDatabase.withSchema { database in
            let admin = database.admin
            try await database.withClient(poolSize: 1) { client in
                let (pids, pidContinuation) = AsyncStream<Int32>.makeStream()
                let victim = Task {
                    try await client.withConnection { connection in
                        pidContinuation.yield(connection.backendPID)
                        _ = try await connection.query("SELECT pg_sleep(30)")
                    }
                }
                var pid: Int32 = 0
                for await value in pids {
                    pid = value
                    break
                }
                let running = try await PostgresTestDatabase.eventually {
                    try await admin.query("SELECT count(*) AS n FROM pg_stat_activity WHERE pid = \(pid) AND state = 'active'")[0]
                        .decode(Int.self, "n") == 1
                }
                try #require(running)
                _ = try await admin.query("SELECT pg_terminate_backend(\(pid))")
                let outcome = await victim.result
                if case .failure(let error) = outcome {
                    let error = try #require(error as? PostgresError)
                    #expect(error.code == .connectionLost)
                    #expect(error.isConnectionProblem)
                } else {
                    Issue.record("a terminated statement succeeded")
                }
                let next = try await client.query("SELECT pg_backend_pid() AS pid")[0].decode(Int32.self, "pid")
                #expect(next != pid)
            }
        }
    }

    @Test func sessionsOpenLazilyUpToThePoolSize() async throws {
        try await PostgresTestDatabase.withSchema { database in
            let client = database.makeClient(poolSize: 3)
            #expect(try await database.sessionCount() == 0)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<8 {
                    group.addTask { _ = try await client.query("SELECT pg_sleep(0.2)") }
                }
                try await group.waitForAll()
            }
            #expect(try await database.sessionCount() == 3)
            await client.shutdown()
            let closed = try await PostgresTestDatabase.eventually { try await database.sessionCount() == 0 }
            #expect(closed, "shutdown must close every session")
            await #expect {
                try await client.query("SELECT 1")
            } throws: { error in
                (error as? PostgresError)?.code == .poolClosed
            }
        }
    }

    @Test func shutdownWaitsForLentSessionsAndFailsWaiters() async throws {
        try await PostgresTestDatabase.withSchema { database in
            let client = database.makeClient(poolSize: 1, acquireTimeout: .seconds(30))
            let (holding, holdingContinuation) = AsyncStream<Void>.makeStream()
            let holder = Task {
                try await client.withConnection { connection in
                    holdingContinuation.yield()
                    _ = try await connection.query("SELECT pg_sleep(0.5)")
                    return connection.backendPID
                }
            }
            for await _ in holding { break }
            let waiter = Task { try await client.query("SELECT 1") }
            try await Task.sleep(for: .milliseconds(100))
            await client.shutdown()
            // The lent session finished its work before shutdown returned.
            _ = try await holder.value
            if case .failure(let error) = await waiter.result {
                #expect((error as? PostgresError)?.code == .poolClosed)
            } else {
                Issue.record("a waiter got a connection from a closed pool")
            }
        }
    }

    @Test func asAServiceItClosesOnGracefulShutdown() async throws {
        try await PostgresTestDatabase.withSchema { database in
            let client = database.makeClient(poolSize: 2)
            let group = ServiceGroup(services: [client], logger: PostgresTestDatabase.logger)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                _ = try await client.query("SELECT 1")
                #expect(try await database.sessionCount() == 1)
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
            let closed = try await PostgresTestDatabase.eventually { try await database.sessionCount() == 0 }
            #expect(closed)
            await #expect {
                try await client.query("SELECT 1")
            } throws: { error in
                (error as? PostgresError)?.code == .poolClosed
            }
        }
    }

    @Test func anUnreachableServerFailsWithConnectionFailedWithoutThePassword() async throws {
        let port = try FreePort.find()
        let client = PostgresClient(
            configuration: PostgresConfiguration(
                connectionString: "postgresql://gateway:hunter2-secret@127.0.0.1:\(port)/gateway",
                poolSize: 1,
                connectTimeout: .seconds(2),
                applicationName: "pgtest-unreachable"
            ),
            logger: PostgresTestDatabase.logger
        )
        do {
            _ = try await client.query("SELECT 1")
            Issue.record("connected to a port nothing listens on")
        } catch let error as PostgresError {
            #expect(error.code == .connectionFailed)
            #expect(!error.description.contains("hunter2"))
        }
        // The failed attempt gave its slot back.
        await #expect(throws: PostgresError.self) { try await client.query("SELECT 1") }
        await client.shutdown()
    }
}
