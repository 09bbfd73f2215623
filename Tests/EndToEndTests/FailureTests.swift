import Foundation
import Shared
import TestSupport
import Testing
import Worker

/// The broker or the database going away: calls fail promptly with 503 (fail closed), and the
/// gateway serves again once they are back. Each test runs its own broker or database node.
@Suite struct FailureTests {
    @Test func databaseDownMeansAuthorizationUnavailableThenRecovery() async throws {
        let name = "e2e-pg-\(UUID().uuidString.prefix(8).lowercased())"
        let port = try FreePort.find()
        try await TestEnvironment.runScript("postgres-node.sh", ["start", name, "\(port)"])
        do {
            var options = GatewayHarness.Options(servers: [try Fixtures.stdioServer("echo")], groupGrants: [("Team", "echo")])
            options.databaseURL = "postgresql://postgres@127.0.0.1:\(port)/mcpgw"
            try await GatewayHarness.run(options) { gateway in
                let token = gateway.token(groups: ["Team"])
                #expect(try await gateway.post("/servers/echo/tools/echo", token: token, json: #"{"text":"up"}"#).status == 200)

                try await TestEnvironment.runScript("postgres-node.sh", ["stop", name, "\(port)"])
                let down = try await gateway.post("/servers/echo/tools/echo", token: token, json: #"{"text":"down"}"#)
                #expect(down.status == 503, "\(down.body)")
                #expect(down.errorCode == "authorization_unavailable")
                #expect(down.headers["retry-after"] != nil)
                let listing = try await gateway.get("/servers", token: token)
                #expect(listing.status == 503)

                try await TestEnvironment.runScript("postgres-node.sh", ["start", name, "\(port)"])
                let back = try await eventually(timeout: .seconds(30)) { () -> GatewayHarness.Answer? in
                    let answer = try await gateway.post("/servers/echo/tools/echo", token: token, json: #"{"text":"back"}"#)
                    return answer.status == 200 ? answer : nil
                }
                #expect(back.body.firstText == "back")
            }
        } catch {
            _ = try? await TestEnvironment.runScript("postgres-node.sh", ["stop", name, "\(port)"])
            throw error
        }
        _ = try? await TestEnvironment.runScript("postgres-node.sh", ["stop", name, "\(port)"])
    }

    @Test func brokerDownMeans503ThenRecovery() async throws {
        let node = try await BrokerNode.start("e2e-broker")
        do {
            var options = GatewayHarness.Options(servers: [try Fixtures.stdioServer("echo")], groupGrants: [("Team", "echo")])
            options.amqpURL = node.url
            try await GatewayHarness.run(options) { gateway in
                let token = gateway.token(groups: ["Team"])
                #expect(try await gateway.post("/servers/echo/tools/echo", token: token, json: #"{"text":"up"}"#).status == 200)

                try await node.run("stop")
                let down = try await gateway.post("/servers/echo/tools/echo", token: token, json: #"{"text":"down"}"#)
                #expect(down.status == 503, "\(down.body)")
                #expect(down.errorCode == "unavailable")
                #expect(down.headers["retry-after"] != nil)
                let ready = try await gateway.get("/readyz", token: nil)
                #expect(ready.status == 503)

                try await node.run("start")
                let back = try await eventually(timeout: .seconds(60)) { () -> GatewayHarness.Answer? in
                    let answer = try await gateway.post("/servers/echo/tools/echo", token: token, json: #"{"text":"back"}"#)
                    return answer.status == 200 ? answer : nil
                }
                #expect(back.body.firstText == "back")
            }
        } catch {
            await node.destroy()
            throw error
        }
        await node.destroy()
    }
}
