import Foundation
import Ingress
import Shared
import TestSupport
import Testing
import Worker

/// The JSON-RPC and Streamable HTTP rules of the MCP endpoint, request by request: version
/// negotiation in both eras, sessions any replica can verify, batches, notifications, errors.
@Suite struct MCPProtocolTests {
    static func options() throws -> GatewayHarness.Options {
        GatewayHarness.Options(servers: [try Fixtures.surfaceServer("alpha")], groupGrants: [("Team", "alpha")])
    }

    @Test func initializeNegotiatesEveryHandshakeRevisionAndFallsBackToTheLatest() async throws {
        try await GatewayHarness.run(try Self.options()) { gateway in
            let token = gateway.token(groups: ["Team"])
            for (asked, answered) in [
                ("2024-11-05", "2024-11-05"), ("2025-03-26", "2025-03-26"), ("2025-06-18", "2025-06-18"), ("2025-11-25", "2025-11-25"),
                ("1999-01-01", "2025-11-25"),
            ] {
                let answer = try await gateway.mcp(
                    token: token, GatewayHarness.request(0, "initialize", ["protocolVersion": .string(asked), "capabilities": [:], "clientInfo": ["name": "t", "version": "1"]])
                )
                #expect(answer.status == 200)
                #expect(answer.body["result"]?["protocolVersion"]?.stringValue == answered)
                #expect(answer.body["result"]?["capabilities"]?["tools"] != nil)
                #expect(answer.headers["mcp-session-id"]?.hasPrefix("s1.") == true)
            }
            let missing = try await gateway.mcp(token: token, GatewayHarness.request(1, "initialize", [:]))
            #expect(missing.body["error"]?["code"]?.int64Value == -32602)
        }
    }

    @Test func theStatelessRevisionDiscoversAndCallsWithoutASession() async throws {
        try await GatewayHarness.run(try Self.options()) { gateway in
            let token = gateway.token(groups: ["Team"])
            let discover = try await gateway.mcp(token: token, GatewayHarness.request(1, "server/discover", [:]), version: "2026-07-28")
            #expect(discover.status == 200)
            #expect(discover.headers["mcp-session-id"] == nil)
            let versions = discover.body["result"]?["supportedVersions"]?.arrayValue?.compactMap(\.stringValue) ?? []
            #expect(versions.contains("2026-07-28") && versions.contains("2024-11-05"))
            #expect(discover.body["result"]?["serverInfo"]?["name"]?.stringValue == "mcp-queue-gateway")

            let list = try await gateway.mcp(token: token, GatewayHarness.request(2, "tools/list"), version: "2026-07-28")
            #expect(list.body["result"]?["tools"]?.arrayValue?.contains { $0["name"]?.stringValue == "alpha__echo" } == true)
            let call = try await gateway.mcp(
                token: token, GatewayHarness.request(3, "tools/call", ["name": "alpha__echo", "arguments": ["text": "stateless"]]), version: "2026-07-28"
            )
            #expect(call.body["result"]?.firstText == "stateless")
            // The same JSON-RPC id again is another call, not an answer from the ledger.
            let again = try await gateway.mcp(
                token: token, GatewayHarness.request(3, "tools/call", ["name": "alpha__echo", "arguments": ["text": "again"]]), version: "2026-07-28"
            )
            #expect(again.body["result"]?.firstText == "again")
        }
    }

    @Test func sessionsAreSignedAndBoundToTheirCaller() async throws {
        try await GatewayHarness.run(try Self.options()) { gateway in
            let alice = gateway.token(subject: "alice", groups: ["Team"])
            let bob = gateway.token(subject: "bob", groups: ["Team"])
            let session = try await gateway.mcpSession(token: alice)
            let ok = try await gateway.mcp(token: alice, GatewayHarness.request(1, "ping"), session: session, version: "2025-06-18")
            #expect(ok.status == 200)
            #expect(ok.body["result"] == [:])
            // Another caller presenting it, a tampered copy, garbage: 404, so a client starts over.
            let stolen = try await gateway.mcp(token: bob, GatewayHarness.request(1, "ping"), session: session, version: "2025-06-18")
            #expect(stolen.status == 404)
            var tampered = Array(session)
            tampered[5] = tampered[5] == "A" ? "B" : "A"
            for forged in [String(tampered), "s1.e30.e2e.AAAA", "nonsense"] {
                let answer = try await gateway.mcp(token: alice, GatewayHarness.request(1, "ping"), session: forged, version: "2025-06-18")
                #expect(answer.status == 404, "\(forged)")
            }
        }
    }

    @Test func aBrowserOriginThatIsNotAllowedIsRefusedWith403() async throws {
        var options = try Self.options()
        options.surface.allowedOrigins = ["https://chat.example.com"]
        try await GatewayHarness.run(options) { gateway in
            let token = gateway.token(groups: ["Team"])
            let ping = Array(try JSONEncoder().encode(GatewayHarness.request(1, "ping")))
            let headers = ["Content-Type": "application/json", "Accept": "application/json, text/event-stream"]
            for origin in ["https://evil.example", "null", "https://chat.example.com.evil.example"] {
                var refused = headers
                refused["Origin"] = origin
                let answer = try await gateway.send("POST", "/mcp", token: token, headers: refused, body: ping)
                #expect(answer.status == 403, "\(origin)")
                #expect(answer.body["error"]?["code"]?.int64Value == -32600)
            }
            var allowed = headers
            allowed["Origin"] = "https://Chat.Example.com"
            #expect(try await gateway.send("POST", "/mcp", token: token, headers: allowed, body: ping).status == 200)
            // Server-side clients send no Origin, and are not affected.
            #expect(try await gateway.send("POST", "/mcp", token: token, headers: headers, body: ping).status == 200)
        }
    }

    @Test func jsonRPCErrorsAndHTTPRulesAreThoseOfTheSpec() async throws {
        try await GatewayHarness.run(try Self.options()) { gateway in
            let token = gateway.token(groups: ["Team"])
            let parse = try await gateway.send("POST", "/mcp", token: token, headers: ["Content-Type": "application/json"], body: Array("{not json".utf8))
            #expect(parse.status == 400)
            #expect(parse.body["error"]?["code"]?.int64Value == -32700)
            let deep = try await gateway.send("POST", "/mcp", token: token, headers: [:], body: Array((String(repeating: "[", count: 5000)).utf8))
            #expect(deep.body["error"]?["code"]?.int64Value == -32700)
            let invalid = try await gateway.mcp(token: token, ["jsonrpc": "1.0", "id": 1, "method": "ping"])
            #expect(invalid.body["error"]?["code"]?.int64Value == -32600)
            #expect(invalid.body["id"]?.int64Value == 1)
            let nullID = try await gateway.mcp(token: token, ["jsonrpc": "2.0", "id": nil, "method": "ping"])
            #expect(nullID.body["error"]?["code"]?.int64Value == -32600)
            let unknown = try await gateway.mcp(token: token, GatewayHarness.request(2, "resources/list"))
            #expect(unknown.status == 200)
            #expect(unknown.body["error"]?["code"]?.int64Value == -32601)
            let noName = try await gateway.mcp(token: token, GatewayHarness.request(3, "tools/call", ["arguments": [:]]))
            #expect(noName.body["error"]?["code"]?.int64Value == -32602)
            let badArguments = try await gateway.mcp(token: token, GatewayHarness.request(4, "tools/call", ["name": "alpha__echo", "arguments": [1, 2]]))
            #expect(badArguments.body["error"]?["code"]?.int64Value == -32602)
            let badCursor = try await gateway.mcp(token: token, GatewayHarness.request(5, "tools/list", ["cursor": "!!"]))
            #expect(badCursor.body["error"]?["code"]?.int64Value == -32602)
            let badVersion = try await gateway.mcp(token: token, GatewayHarness.request(6, "ping"), version: "2030-01-01")
            #expect(badVersion.status == 400)

            // Notifications and responses alone: 202, no body.
            let notification = try await gateway.mcp(token: token, ["jsonrpc": "2.0", "method": "notifications/initialized"])
            #expect(notification.status == 202)
            let response = try await gateway.mcp(token: token, ["jsonrpc": "2.0", "id": 9, "result": [:]])
            #expect(response.status == 202)

            // Batches exist in 2025-03-26 (answers in order, notifications unanswered), not from 2025-06-18 on.
            let batch: JSONValue = [
                GatewayHarness.request(1, "ping"), ["jsonrpc": "2.0", "method": "notifications/initialized"],
                GatewayHarness.request(2, "tools/call", ["name": "alpha__echo", "arguments": ["text": "in a batch"]]), GatewayHarness.request(3, "nope"),
            ]
            let old = try await gateway.mcp(token: token, batch, version: "2025-03-26")
            #expect(old.status == 200)
            let answers = old.body.arrayValue ?? []
            #expect(answers.map { $0["id"]?.int64Value } == [1, 2, 3])
            #expect(answers[safe: 1]?["result"]?.firstText == "in a batch")
            #expect(answers[safe: 2]?["error"]?["code"]?.int64Value == -32601)
            let onlyNotifications = try await gateway.mcp(token: token, [["jsonrpc": "2.0", "method": "notifications/initialized"]], version: "2025-03-26")
            #expect(onlyNotifications.status == 202)
            let new = try await gateway.mcp(token: token, batch, version: "2025-06-18")
            #expect(new.status == 400)
            #expect(new.body["error"]?["code"]?.int64Value == -32600)

            #expect(try await gateway.get("/mcp", token: token).status == 405)
            #expect(try await gateway.send("DELETE", "/mcp", token: token, headers: [:], body: nil).status == 405)
        }
    }

    /// Server `alpha` offers `x__echo` and `x__only`; server `alpha__x` offers `echo` (and the
    /// fixture's other tools). `alpha__x__echo` names two tools: it is not listed, and a call
    /// by it is refused as ambiguous. `alpha__x__add` can be split two ways, but only `alpha__x`
    /// offers its part, so it is called there; `alpha__x__only` likewise reaches `alpha`.
    @Test func namesThatCollideAcrossServersAreNotListedAndAreRefusedAsAmbiguous() async throws {
        var alpha = try Fixtures.surfaceServer("alpha")
        alpha.environment["FIXTURE_EXTRA_TOOLS"] = "x__echo,x__only"
        let options = GatewayHarness.Options(servers: [alpha, try Fixtures.surfaceServer("alpha__x")], groupGrants: [("Team", "alpha"), ("Team", "alpha__x")])
        try await GatewayHarness.run(options) { gateway in
            let token = gateway.token(groups: ["Team"])
            var names: [String] = []
            var cursor: String?
            repeat {
                let page = try await gateway.mcp(
                    token: token, GatewayHarness.request(1, "tools/list", cursor.map { ["cursor": .string($0)] } ?? [:]), version: "2026-07-28"
                )
                names += page.body["result"]?["tools"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
                cursor = page.body["result"]?["nextCursor"]?.stringValue
            } while cursor != nil
            #expect(!names.contains("alpha__x__echo"))
            #expect(names.contains("alpha__x__add") && names.contains("alpha__x__only") && names.contains("alpha__echo"))
            #expect(Set(names).count == names.count)

            func call(_ name: String, _ arguments: JSONValue) async throws -> GatewayHarness.Answer {
                try await gateway.mcp(token: token, GatewayHarness.request(2, "tools/call", ["name": .string(name), "arguments": arguments]), version: "2026-07-28")
            }
            let ambiguous = try await call("alpha__x__echo", ["text": "which?"])
            #expect(ambiguous.body["error"]?["code"]?.int64Value == -32602, "\(ambiguous.body)")
            #expect(ambiguous.body["error"]?["message"]?.stringValue?.contains("ambiguous") == true, "\(ambiguous.body)")
            #expect(try await call("alpha__x__add", ["a": 1, "b": 2]).body["result"]?["structuredContent"]?["result"]?.doubleValue == 3)
            #expect(try await call("alpha__x__only", ["text": "from alpha"]).body["result"]?.firstText == "from alpha")
        }
    }

    /// `MCP_TOOL_NAME_SEPARATOR` changes the names on `/mcp`, for listing and calling alike.
    @Test func anotherSeparatorNamesAndCallsTheTools() async throws {
        var options = try Self.options()
        options.surface.toolNameSeparator = "."
        try await GatewayHarness.run(options) { gateway in
            let token = gateway.token(groups: ["Team"])
            let list = try await gateway.mcp(token: token, GatewayHarness.request(1, "tools/list"), version: "2026-07-28")
            let names = list.body["result"]?["tools"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
            #expect(names.contains("alpha.echo"), "\(names)")
            #expect(!names.contains("alpha__echo"))
            let call = try await gateway.mcp(
                token: token, GatewayHarness.request(2, "tools/call", ["name": "alpha.echo", "arguments": ["text": "dotted"]]), version: "2026-07-28"
            )
            #expect(call.body["result"]?.firstText == "dotted", "\(call.body)")
        }
    }

    /// A gateway failure is a JSON-RPC error with the gateway's code in `data`, not a tool result:
    /// the deadline passing (-32003) and a backend that died mid-call (-32005).
    @Test func gatewayFailuresAreJSONRPCErrorsWithTheGatewaysCode() async throws {
        try await GatewayHarness.run(try Self.options()) { gateway in
            let token = gateway.token(groups: ["Team"])
            var headers = ["Accept": "application/json, text/event-stream", "Content-Type": "application/json", "MCP-Protocol-Version": "2026-07-28"]
            headers["X-Timeout-Ms"] = "800"
            let message = GatewayHarness.request(1, "tools/call", ["name": "alpha__sleep", "arguments": ["seconds": 5]])
            let late = try await gateway.send("POST", "/mcp", token: token, headers: headers, body: Array(try JSONEncoder().encode(message)))
            #expect(late.body["error"]?["code"]?.int64Value == -32003, "\(late.body)")
            #expect(late.body["error"]?["data"]?["code"]?.stringValue == "deadline_exceeded")
            #expect(late.body["error"]?["data"]?["callId"]?.stringValue?.isEmpty == false)

            let crashed = try await gateway.mcp(token: token, GatewayHarness.request(2, "tools/call", ["name": "alpha__crash", "arguments": [:]]), version: "2026-07-28")
            #expect(crashed.body["error"]?["code"]?.int64Value == -32005, "\(crashed.body)")
            #expect(crashed.body["error"]?["data"]?["code"]?.stringValue == "backend_error")
        }
    }

    @Test func aVeryLargeToolListIsPaginatedWithCursors() async throws {
        var bulk = try Fixtures.surfaceServer("bulk")
        bulk.environment["FIXTURE_BULK_TOOLS"] = "600"
        var options = GatewayHarness.Options(servers: [bulk], groupGrants: [("Team", "bulk")])
        options.surface.pageSize = 100
        // Each page of this listing costs seconds in a debug build on a loaded machine (600 tools
        // through the reply, the ingress and the client); the listing deadline must not decide it.
        options.ingress = { $0.listTimeout = .seconds(60) }
        try await GatewayHarness.run(options) { gateway in
            let token = gateway.token(groups: ["Team"])
            // The first listing starts the backend with its 600 tools: let it come up.
            _ = try await eventually(timeout: .seconds(60)) { () -> Bool? in
                try await gateway.mcp("/servers/bulk/mcp", token: token, GatewayHarness.request(99, "tools/list")).body["result"] != nil ? true : nil
            }
            var names: [String] = []
            var cursor = JSONValue.null
            var pages = 0
            repeat {
                let answer = try await gateway.mcp("/servers/bulk/mcp", token: token, GatewayHarness.request(Int64(pages), "tools/list", cursor == .null ? nil : ["cursor": cursor]))
                #expect(answer.body["result"] != nil, "\(answer.body)")
                let page = answer.body["result"]?["tools"]?.arrayValue ?? []
                #expect(page.count <= 100)
                names += page.compactMap { $0["name"]?.stringValue }
                cursor = answer.body["result"]?["nextCursor"] ?? .null
                pages += 1
            } while cursor != .null && pages < 50
            #expect(pages == 7)
            #expect(Set(names).count == names.count)
            #expect(names.filter { $0.hasPrefix("bulk_") }.count == 600)
        }
    }
}

extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
