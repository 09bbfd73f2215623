import Foundation
import Shared
import TestSupport
import Testing
import Worker

/// An authenticated call goes Ingress → RabbitMQ → Worker → a real MCP server → reply.
@Suite struct ToolCallTests {
    @Test func callThroughTheQueueMatchesCallingTheServerDirectly() async throws {
        let options = GatewayHarness.Options(servers: [try Fixtures.stdioServer("echo")], groupGrants: [("Team", "echo")])
        try await GatewayHarness.run(options) { gateway in
            let token = gateway.token(groups: ["Team"])

            let servers = try await gateway.get("/servers", token: token)
            #expect(servers.status == 200)
            #expect(servers.body["servers"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == ["echo"])

            let tools = try await gateway.get("/servers/echo/tools", token: token)
            #expect(tools.status == 200)
            let names = Set(tools.body["tools"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? [])
            #expect(names.isSuperset(of: ["echo", "add", "sleep", "fail", "crash"]))

            let echo = try await gateway.post("/servers/echo/tools/echo", token: token, json: #"{"text":"héllo through the queue"}"#)
            #expect(echo.status == 200)
            #expect(echo.body.firstText == "héllo through the queue")
            #expect(echo.body["isError"]?.boolValue == false)

            let sum = try await gateway.post("/servers/echo/tools/add", token: token, json: #"{"a": 2, "b": 40}"#)
            #expect(sum.status == 200)
            #expect(sum.body["structuredContent"]?["result"]?.doubleValue == 42)

            let metrics = try await gateway.get("/metrics", token: nil)
            let text = metrics.body.stringValue ?? ""
            #expect(text.contains(#"mcpgw_ingress_http_requests_total{route="/servers/{server}/tools/{tool}",method="POST",status="200"} 2"#))
            #expect(text.contains("mcpgw_ingress_call_duration_seconds_bucket"))
            #expect(try await gateway.get("/healthz", token: nil).status == 200)
            #expect(try await gateway.get("/readyz", token: nil).status == 200)
        }
    }

    @Test func aPyPIServerOverStdioAnswersThroughTheGateway() async throws {
        let options = GatewayHarness.Options(servers: [try Fixtures.timeServer()], groupGrants: [("Team", "time")])
        try await GatewayHarness.run(options) { gateway in
            let token = gateway.token(groups: ["Team"])
            let answer = try await gateway.post("/servers/time/tools/get_current_time", token: token, json: #"{"timezone":"Europe/Paris"}"#)
            #expect(answer.status == 200)
            #expect(answer.body["isError"]?.boolValue != true)
            #expect(answer.body.firstText?.contains("Europe/Paris") == true)
        }
    }

    @Test func aToolErrorStaysAResultWithIsError() async throws {
        let options = GatewayHarness.Options(servers: [try Fixtures.stdioServer("echo")], groupGrants: [("Team", "echo")])
        try await GatewayHarness.run(options) { gateway in
            let answer = try await gateway.post("/servers/echo/tools/fail", token: gateway.token(groups: ["Team"]), json: #"{"message":"nope"}"#)
            #expect(answer.status == 200)
            #expect(answer.body["isError"]?.boolValue == true)
            #expect(answer.body.firstText?.contains("nope") == true)
        }
    }

    @Test func aBackendThatCrashesIs502AndTheNextCallWorks() async throws {
        let options = GatewayHarness.Options(servers: [try Fixtures.stdioServer("echo")], groupGrants: [("Team", "echo")])
        try await GatewayHarness.run(options) { gateway in
            let token = gateway.token(groups: ["Team"])
            let crash = try await gateway.post("/servers/echo/tools/crash", token: token, json: "{}")
            #expect(crash.status == 502)
            #expect(crash.errorCode == "backend_error")
            #expect(crash.body["error"]?["callId"]?.stringValue?.isEmpty == false)

            let after = try await eventually(timeout: .seconds(30)) { () -> GatewayHarness.Answer? in
                let answer = try await gateway.post("/servers/echo/tools/echo", token: token, json: #"{"text":"back"}"#)
                return answer.status == 200 ? answer : nil
            }
            #expect(after.body.firstText == "back")
        }
    }

    @Test func aToolThatOutlivesTheDeadlineIs504() async throws {
        let options = GatewayHarness.Options(servers: [try Fixtures.stdioServer("echo")], groupGrants: [("Team", "echo")])
        try await GatewayHarness.run(options) { gateway in
            let answer = try await gateway.post(
                "/servers/echo/tools/sleep", token: gateway.token(groups: ["Team"]), json: #"{"seconds": 30}"#, headers: ["X-Timeout-Ms": "1500"]
            )
            #expect(answer.status == 504)
            #expect(answer.errorCode == "deadline_exceeded")
        }
    }

    @Test func twoWorkersShareTheLoadAndOneSurvivesTheOthersDeath() async throws {
        var options = GatewayHarness.Options(servers: [try Fixtures.stdioServer("echo")], groupGrants: [("Team", "echo")])
        options.workers = 2
        options.workerConcurrency = 2
        try await GatewayHarness.run(options) { gateway in
            let token = gateway.token(groups: ["Team"])
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<24 {
                    group.addTask {
                        let answer = try await gateway.post("/servers/echo/tools/sleep", token: token, json: #"{"seconds": 0.3}"#)
                        #expect(answer.status == 200, "call \(index): \(answer.body)")
                    }
                }
                try await group.waitForAll()
            }
            for worker in gateway.workers {
                #expect(worker.components.metrics.exposition().contains("disposition=\"ack\""), "a worker took no call")
            }

            gateway.workers[0].kill()
            for index in 0..<5 {
                let answer = try await gateway.post("/servers/echo/tools/echo", token: token, json: #"{"text":"survivor \#(index)"}"#)
                #expect(answer.status == 200)
                #expect(answer.body.firstText == "survivor \(index)")
            }
        }
    }
}

/// The same call through each kind of backend: stdio (started by the worker), streamable HTTP
/// answering with event streams and with JSON, and the legacy HTTP+SSE transport.
@Suite struct TransportTests {
    @Test(arguments: FixtureTransport.allCases)
    func aCallThroughTheGatewayReachesEveryTransport(transport: FixtureTransport) async throws {
        let fixture = try FixtureServer(transport)
        try await fixture.start()
        do {
            let record = try Self.record(for: fixture)
            try await GatewayHarness.run(GatewayHarness.Options(servers: [record], groupGrants: [("Team", record.id)])) { gateway in
                let token = gateway.token(groups: ["Team"])
                let tools = try await gateway.get("/servers/\(record.id)/tools", token: token)
                #expect(tools.status == 200)
                #expect(tools.body["tools"]?.arrayValue?.contains { $0["name"]?.stringValue == "echo" } == true)
                for index in 0..<3 {
                    let answer = try await gateway.post("/servers/\(record.id)/tools/echo", token: token, json: #"{"text":"via \#(transport.rawValue) \#(index)"}"#)
                    #expect(answer.status == 200, "\(answer.body)")
                    #expect(answer.body.firstText == "via \(transport.rawValue) \(index)")
                }
            }
        } catch {
            await fixture.stop()
            throw error
        }
        await fixture.stop()
    }

    /// The catalog entry of a fixture server, as an operator would register it.
    static func record(for fixture: FixtureServer) throws -> ServerRecord {
        let id = "fixture-\(fixture.transport.rawValue.lowercased())"
        switch fixture.definition().transport {
        case .stdio(let command, let arguments, _):
            return ServerRecord(id: id, displayName: id, transport: .stdio, command: command, arguments: arguments)
        case .sse(let url):
            return ServerRecord(id: id, displayName: id, transport: .sse, url: url.absoluteString)
        case .streamableHTTP(let url):
            return ServerRecord(id: id, displayName: id, transport: .streamableHTTP, url: url.absoluteString)
        }
    }
}

/// A tool with side effects never runs twice because a worker died and the broker redelivered,
/// and its caller is told the truth: the outcome is unknown (it may have run), not "not run".
@Suite struct RedeliveryTests {
    @Test func aCallInterruptedByAWorkersDeathIsNotRunAgainByAnotherAndItsOutcomeIsUnknown() async throws {
        var options = GatewayHarness.Options(servers: [try Fixtures.stdioServer("echo")], groupGrants: [("Team", "echo")])
        options.workers = 2
        options.workerConcurrency = 1
        try await GatewayHarness.run(options) { gateway in
            let token = gateway.token(groups: ["Team"])
            // Warm both workers' backends so the slow call starts at once.
            for _ in 0..<4 { _ = try await gateway.post("/servers/echo/tools/echo", token: token, json: #"{"text":"warm"}"#) }

            async let slow = gateway.post("/servers/echo/tools/sleep", token: token, json: #"{"seconds": 5}"#, headers: ["X-Timeout-Ms": "30000"])
            let running = try await eventually(timeout: .seconds(15)) { () -> (callID: String, worker: String)? in
                let rows = try await gateway.database.query(
                    "SELECT call_id::text AS id, worker FROM call_executions WHERE tool = 'sleep' AND finished_at IS NULL"
                )
                guard let row = rows.first else { return nil }
                return (try row.decode(String.self, "id"), try row.decode(String.self, "worker"))
            }
            let victim = try #require(gateway.workers.first { $0.components.configuration.workerID == running.worker })
            victim.kill()

            let answer = try await slow
            #expect(answer.status == 409, "\(answer.body)")
            #expect(answer.errorCode == "outcome_unknown")
            #expect(answer.body["error"]?["mayHaveRun"]?.boolValue == true)
            #expect(answer.headers["x-call-id"] == running.callID)
            let rows = try await gateway.database.query("SELECT count(*) AS n FROM call_executions WHERE call_id = \(running.callID)::uuid")
            #expect(try rows[0].decode(Int.self, "n") == 1)

            // The caller can learn the outcome later; another caller learns nothing.
            let status = try await gateway.get("/calls/\(running.callID)", token: token)
            #expect(status.status == 200, "\(status.body)")
            #expect(status.body["state"]?.stringValue == "outcome_unknown")
            #expect(status.body["tool"]?.stringValue == "sleep")
            let stranger = try await gateway.get("/calls/\(running.callID)", token: gateway.token(subject: "someone-else", groups: ["Team"]))
            #expect(stranger.status == 404)
        }
    }
}
