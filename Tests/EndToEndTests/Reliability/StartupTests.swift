import Foundation
import Shared
import TestSupport
import Testing

/// The executables start and stay up whatever is down: a worker started before PostgreSQL (or
/// before its schema is migrated) and an ingress started before the broker wait, not ready,
/// and become ready by themselves; a value the code refuses ends the process with one log line
/// naming the variable and a non-zero exit, never a backtrace.
@Suite struct StartupTests {
    static func logFile(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("startup-\(name)-\(UUID().uuidString.prefix(8)).log")
    }

    static func text(_ log: URL) -> String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    static func stop(_ child: Process) async {
        if child.isRunning { _ = kill(child.processIdentifier, SIGKILL) }
        _ = await MCPTestEnvironment.eventually(within: .seconds(10)) { !child.isRunning }
    }

    @Test func aWorkerStartedBeforeItsDatabaseWaitsNotReadyAndStartsWhenTheDatabaseComes() async throws {
        let name = "startup-pg-\(UUID().uuidString.prefix(8).lowercased())"
        let pgPort = try FreePort.find()
        let healthPort = try TestEnvironment.freePort()
        var environment = GatewayProcesses.commonEnvironment(topology: .scratch(), amqpURL: try TestEnvironment.require("AMQP_URL"))
        environment.merge(GatewayProcesses.workerEnvironment(databaseURL: "postgresql://postgres@127.0.0.1:\(pgPort)/mcpgw", schema: nil)) { _, new in new }
        environment["WORKER_HEALTH_PORT"] = "\(healthPort)"
        environment["PG_CONNECT_TIMEOUT_MS"] = "1000"
        let log = Self.logFile("worker")
        let worker = try GatewayProcesses.spawn(try GatewayProcesses.executable("mcp-worker"), environment: environment, log: log)
        do {
            let notReady = try await eventually(timeout: .seconds(30)) { () -> Int? in
                await GatewayProcesses.status(of: "http://127.0.0.1:\(healthPort)/readyz").flatMap { $0 == 503 ? $0 : nil }
            }
            #expect(notReady == 503)
            try await Task.sleep(for: .seconds(2))
            #expect(worker.isRunning, "the worker must wait, not exit: \(Self.text(log).suffix(2000))")
            #expect(Self.text(log).contains("Worker not ready; retrying"))

            try await TestEnvironment.runScript("postgres-node.sh", ["start", name, "\(pgPort)"])
            let ready = try await eventually(timeout: .seconds(60)) { () -> Bool? in
                await GatewayProcesses.status(of: "http://127.0.0.1:\(healthPort)/readyz") == 200 ? true : nil
            }
            #expect(ready, "\(Self.text(log).suffix(2000))")
            #expect(!Self.text(log).contains("Fatal error"))
        } catch {
            await Self.stop(worker)
            _ = try? await TestEnvironment.runScript("postgres-node.sh", ["stop", name, "\(pgPort)"])
            throw error
        }
        await Self.stop(worker)
        _ = try? await TestEnvironment.runScript("postgres-node.sh", ["stop", name, "\(pgPort)"])
        try? FileManager.default.removeItem(at: log)
    }

    @Test func aWorkerThatDoesNotMigrateWaitsForTheSchemaItNeeds() async throws {
        try await PostgresTestDatabase.withSchema { database in
            let healthPort = try TestEnvironment.freePort()
            var environment = GatewayProcesses.commonEnvironment(topology: .scratch(), amqpURL: try TestEnvironment.require("AMQP_URL"))
            environment.merge(GatewayProcesses.workerEnvironment(databaseURL: database.databaseURL, schema: database.schema)) { _, new in new }
            environment["WORKER_HEALTH_PORT"] = "\(healthPort)"
            environment["WORKER_MIGRATE"] = "false"
            let log = Self.logFile("worker-schema")
            let worker = try GatewayProcesses.spawn(try GatewayProcesses.executable("mcp-worker"), environment: environment, log: log)
            do {
                let waiting = try await eventually(timeout: .seconds(30)) { () -> Bool? in
                    Self.text(log).contains("the database schema is behind this worker") ? true : nil
                }
                #expect(waiting)
                #expect(await GatewayProcesses.status(of: "http://127.0.0.1:\(healthPort)/readyz") == 503)

                try await database.withClient { client in
                    _ = try await Migrator(client: client, migrations: try Migration.bundled(), logger: TestEnvironment.logger).migrate()
                }
                let ready = try await eventually(timeout: .seconds(30)) { () -> Bool? in
                    await GatewayProcesses.status(of: "http://127.0.0.1:\(healthPort)/readyz") == 200 ? true : nil
                }
                #expect(ready, "\(Self.text(log).suffix(2000))")
            } catch {
                await Self.stop(worker)
                throw error
            }
            await Self.stop(worker)
            try? FileManager.default.removeItem(at: log)
        }
    }

    @Test func anIngressStartedBeforeTheBrokerWaitsNotReadyAndServesWhenTheBrokerComes() async throws {
        let node = BrokerNode(name: "startup-\(UUID().uuidString.prefix(8).lowercased())", port: try TestEnvironment.freePort(alsoFreeAt: 10_000))
        let port = try TestEnvironment.freePort()
        let jwks = FileManager.default.temporaryDirectory.appendingPathComponent("startup-jwks-\(UUID().uuidString.prefix(8)).json")
        try Data(TestSigningKey.jwks([.primary]).utf8).write(to: jwks)
        var environment = GatewayProcesses.commonEnvironment(topology: .scratch(), amqpURL: node.url)
        environment.merge(GatewayProcesses.ingressEnvironment(port: port, jwks: jwks)) { _, new in new }
        let log = Self.logFile("ingress")
        let ingress = try GatewayProcesses.spawn(try GatewayProcesses.executable("mcp-ingress"), environment: environment, log: log)
        do {
            let notReady = try await eventually(timeout: .seconds(30)) { () -> Int? in
                await GatewayProcesses.status(of: "http://127.0.0.1:\(port)/readyz").flatMap { $0 == 503 ? $0 : nil }
            }
            #expect(notReady == 503)
            #expect(ingress.isRunning)
            try await node.run("start")
            let ready = try await eventually(timeout: .seconds(60)) { () -> Bool? in
                await GatewayProcesses.status(of: "http://127.0.0.1:\(port)/readyz") == 200 ? true : nil
            }
            #expect(ready, "\(Self.text(log).suffix(2000))")
        } catch {
            await Self.stop(ingress)
            await node.destroy()
            throw error
        }
        await Self.stop(ingress)
        await node.destroy()
        try? FileManager.default.removeItem(at: log)
        try? FileManager.default.removeItem(at: jwks)
    }

    @Test(arguments: [
        ("mcp-worker", "WORKER_CONCURRENCY", "lots"), ("mcp-worker", "CALL_MIN_START_BUDGET_MS", "-1"),
        ("mcp-ingress", "INGRESS_PORT", "99999"), ("mcp-ingress", "INGRESS_HEADER_READ_TIMEOUT_MS", "soon"),
    ])
    func aValueTheCodeRefusesIsOneLogLineAndANonZeroExit(executable: String, variable: String, value: String) async throws {
        var environment = GatewayProcesses.commonEnvironment(topology: .scratch(), amqpURL: try TestEnvironment.require("AMQP_URL"))
        environment.merge(GatewayProcesses.workerEnvironment(databaseURL: try TestEnvironment.require("DATABASE_URL"), schema: nil)) { _, new in new }
        environment["AUTH_JWKS_URL"] = "file:///nonexistent/jwks.json"
        environment["AUTH_ISSUER"] = GatewayHarness.issuer
        environment["AUTH_AUDIENCE"] = GatewayHarness.audience
        environment[variable] = value
        let log = Self.logFile(variable)
        let child = try GatewayProcesses.spawn(try GatewayProcesses.executable(executable), environment: environment, log: log)
        let exited = await MCPTestEnvironment.eventually(within: .seconds(20)) { !child.isRunning }
        if !exited { await Self.stop(child) }
        #expect(exited, "\(executable) must exit on \(variable)=\(value)")
        #expect(child.terminationStatus != 0)
        let text = Self.text(log)
        let lines = text.split(separator: "\n").filter { $0.contains(variable) }
        #expect(lines.count == 1, "one line names \(variable): \(text)")
        #expect(!text.contains("Fatal error") && !text.contains("Backtrace") && !text.contains("Stack dump"), "\(text)")
        try? FileManager.default.removeItem(at: log)
    }
}
