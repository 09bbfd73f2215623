import Foundation
import Testing
import TestSupport

@testable import Shared

/// Recovery from a server restart, on a disposable server of the test's own, started with the
/// project's `postgres-node.sh` (from `MCPGW_SCRIPTS`).
@Suite struct PostgresRestartTests {
    @Test func theClientRecoversAfterTheServerRestarts() async throws {
        let script = try ScriptRunner.requireScript("postgres-node.sh")
        let name = "pgrestart-\(UUID().uuidString.lowercased().prefix(8))"
        let port = String(try FreePort.find())

        let start = try await ScriptRunner.run(script, ["start", name, port])
        try #require(start.succeeded, "the disposable server did not start: \(start)")
        do {
            let ready = try await ScriptRunner.run(script, ["wait", name, port])
            try #require(ready.succeeded, "the disposable server never became ready: \(ready)")
            // The script may print the URL to use; otherwise the node's superuser on loopback.
            let url =
                start.stdout.split(separator: "\n").map(String.init).first { $0.hasPrefix("postgres://") || $0.hasPrefix("postgresql://") }
                ?? "postgresql://postgres@127.0.0.1:\(port)/postgres"
            try await restartScenario(url: url, script: script, name: name, port: port)
        } catch {
            _ = try? await ScriptRunner.run(script, ["stop", name, port])
            throw error
        }
        let stop = try await ScriptRunner.run(script, ["stop", name, port])
        #expect(stop.succeeded, "\(stop)")
    }

    private func restartScenario(url: String, script: String, name: String, port: String) async throws {
        let client = PostgresClient(
            configuration: PostgresConfiguration(connectionString: url, poolSize: 2, applicationName: "pgtest-restart"),
            logger: PostgresTestDatabase.logger
        )
        do {
            let before = try await client.query("SELECT pg_backend_pid() AS pid")[0].decode(Int32.self, "pid")

            // A statement in flight when the server goes down.
            let sleeper = Task { try await client.query("SELECT pg_sleep(60)") }
            let running = try await PostgresTestDatabase.eventually {
                try await client.query(
                    "SELECT count(*) AS n FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'SELECT pg_sleep%'"
                )[0].decode(Int.self, "n") == 1
            }
            try #require(running, "the long statement never started")

            let restart = try await ScriptRunner.run(script, ["restart", name, port])
            try #require(restart.succeeded, "restart failed: \(restart)")
            let ready = try await ScriptRunner.run(script, ["wait", name, port])
            try #require(ready.succeeded, "the server did not come back: \(ready)")

            switch await sleeper.result {
            case .success:
                Issue.record("a statement survived a server restart")
            case .failure(let error):
                let error = try #require(error as? PostgresError, "\(error)")
                #expect(error.code == .connectionLost, "\(error)")
            }

            // The pool's sessions all died with the server; the next statements open new ones
            // without an error reaching the caller.
            let after = try await client.query("SELECT pg_backend_pid() AS pid")[0].decode(Int32.self, "pid")
            #expect(after != before)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<4 {
                    group.addTask { _ = try await client.query("SELECT pg_sleep(0.1)") }
                }
                try await group.waitForAll()
            }
        } catch {
            await client.shutdown()
            throw error
        }
        await client.shutdown()
    }
}
