import Foundation
import Ingress
import Shared
import TestSupport
import Testing
import Worker

/// The MCP Streamable HTTP endpoints (`/mcp`, `/servers/{server}/mcp`) against a whole gateway,
/// with the official `mcp` Python SDK as the client and with raw requests for the protocol rules.
@Suite struct MCPEndpointTests {
    /// Two granted servers offering the same tools (names collide), one that exists but is not
    /// granted; small pages so that listing takes several.
    static func options(pageSize: Int = 7) throws -> GatewayHarness.Options {
        var options = GatewayHarness.Options(
            servers: [try Fixtures.surfaceServer("alpha"), try Fixtures.surfaceServer("beta"), try Fixtures.surfaceServer("gamma")],
            groupGrants: [("Team", "alpha"), ("Team", "beta"), ("Others", "gamma")]
        )
        options.surface.pageSize = pageSize
        return options
    }

    @Test func theSDKListsAndCallsEveryGrantedServerThroughTheAggregateEndpoint() async throws {
        try await GatewayHarness.run(try Self.options()) { gateway in
            let report = try await PythonScripts.sdkClient(
                "session", url: gateway.baseURL + "/mcp", token: gateway.token(groups: ["Team"]),
                calls: [
                    ("alpha__echo", #"{"text":"through the queue"}"#), ("beta__add", #"{"a":2,"b":40}"#), ("alpha__fail", #"{"message":"nope"}"#),
                    ("gamma__echo", #"{"text":"denied"}"#), ("alpha__odd.name/ü x", #"{"text":"odd"}"#),
                ]
            )
            #expect(report["protocolVersion"]?.stringValue == "2025-11-25")
            #expect(report["sessionId"]?.stringValue?.hasPrefix("s1.") == true)
            let tools = Set(report["tools"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            // The same tool of two servers stays two tools; nothing of the ungranted server shows.
            #expect(tools.isSuperset(of: ["alpha__echo", "beta__echo", "alpha__sleep", "beta__sleep", "alpha__odd.name/ü x"]))
            #expect(!tools.contains { $0.hasPrefix("gamma__") })
            #expect((report["pages"]?.int64Value ?? 0) > 2)
            // A tool whose schema is not an object is offered with an object schema, the original kept.
            let scalar = report["schemas"]?["alpha__scalar_schema"]
            #expect(scalar?["type"]?.stringValue == "object")
            #expect(scalar?["x-original-input-schema"]?["type"]?.stringValue == "string")

            let calls = report["calls"]?.arrayValue ?? []
            #expect(calls.count == 5)
            #expect(calls[0]["result"]?.firstText == "through the queue")
            #expect(calls[1]["result"]?["structuredContent"]?["result"]?.doubleValue == 42)
            // A tool's own failure stays a result.
            #expect(calls[2]["result"]?["isError"]?.boolValue == true)
            #expect(calls[2]["result"]?.firstText?.contains("nope") == true)
            // A server the caller may not use is no tool of theirs on /mcp.
            #expect(calls[3]["error"]?["code"]?.int64Value == -32602)
            #expect(calls[4]["result"]?.firstText == "odd")
        }
    }

    @Test func aServerEndpointUsesTheToolsOwnNamesAndRefusesAServerNotGranted() async throws {
        try await GatewayHarness.run(try Self.options()) { gateway in
            let token = gateway.token(groups: ["Team"])
            let report = try await PythonScripts.sdkClient(
                "session", url: gateway.baseURL + "/servers/alpha/mcp", token: token, calls: [("echo", #"{"text":"own name"}"#), ("nosuch", "{}")]
            )
            let tools = report["tools"]?.arrayValue?.compactMap(\.stringValue) ?? []
            #expect(tools.contains("echo"))
            #expect(!tools.contains { $0.contains("__") && $0 != "odd.name/ü x" })
            #expect(report["calls"]?[0]?["result"]?.firstText == "own name")
            #expect(report["calls"]?[1]?["error"]?["code"]?.int64Value == -32602)

            let denied = try await PythonScripts.sdkClient("session", url: gateway.baseURL + "/servers/gamma/mcp", token: token, calls: [("echo", #"{"text":"x"}"#)])
            // Listing and calling a server not granted are both refused, as JSON-RPC errors.
            #expect(denied["listError"]?["code"]?.int64Value == -32001, "\(denied)")
            let error = denied["calls"]?[0]?["error"]
            #expect(error?["code"]?.int64Value == -32001, "\(denied)")
            #expect(error?["data"]?["code"]?.stringValue == "forbidden")
            #expect(error?["message"]?.stringValue?.contains("gamma") == true)
        }
    }

    @Test func aBadTokenIs401WithTheResourceMetadataToFollow() async throws {
        var options = try Self.options()
        let issuer = "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000001/v2.0"
        options.surface.authorizationServers = [issuer]
        options.surface.scopesSupported = ["api://mcp-gateway/mcp.invoke"]
        try await GatewayHarness.run(options) { gateway in
            let report = try await PythonScripts.sdkClient("badtoken", url: gateway.baseURL + "/mcp", token: "not-a-token")
            #expect(report["status"]?.int64Value == 401)
            let challenge = report["wwwAuthenticate"]?.stringValue ?? ""
            #expect(challenge.contains(#"resource_metadata="\#(gateway.baseURL)/.well-known/oauth-protected-resource/mcp""#), "\(challenge)")
            #expect(challenge.contains(#"error="invalid_token""#))
            #expect(challenge.contains(#"scope="api://mcp-gateway/mcp.invoke""#))
            #expect(report["sdk"]?.stringValue == "failed")

            let metadata = try await gateway.get("/.well-known/oauth-protected-resource/mcp", token: nil)
            #expect(metadata.status == 200)
            #expect(metadata.body["resource"]?.stringValue == gateway.baseURL + "/mcp")
            #expect(metadata.body["authorization_servers"]?[0]?.stringValue == issuer)
            #expect(metadata.body["scopes_supported"]?[0]?.stringValue == "api://mcp-gateway/mcp.invoke")

            let none = try await gateway.mcp(token: nil, GatewayHarness.request(1, "tools/list"))
            #expect(none.status == 401)
            #expect(none.headers["www-authenticate"]?.contains("resource_metadata=") == true)
        }
    }

    @Test func aLongCallIsStreamedWithKeepAlivesAndAShortOneIsJSON() async throws {
        var options = try Self.options()
        options.surface.streamAfter = .milliseconds(300)
        options.surface.keepAliveInterval = .milliseconds(200)
        try await GatewayHarness.run(options) { gateway in
            let token = gateway.token(groups: ["Team"])
            let session = try await gateway.mcpSession(token: token)
            let long = try await gateway.mcp(
                token: token, GatewayHarness.request(5, "tools/call", ["name": "alpha__sleep", "arguments": ["seconds": 2]]), session: session,
                version: "2025-06-18", keepStream: true
            )
            #expect(long.status == 200)
            #expect(long.headers["content-type"] == "text/event-stream")
            let text = long.body.stringValue ?? ""
            #expect(text.contains(": keep-alive\n\n"), "\(text)")
            let data = try #require(text.split(separator: "\n").first { $0.hasPrefix("data: ") }?.dropFirst(6))
            let message = try JSONDecoder().decode(JSONValue.self, from: Data(data.utf8))
            #expect(message["id"]?.int64Value == 5)
            #expect(message["result"]?.firstText == "slept 2s")

            let short = try await gateway.mcp(
                token: token, GatewayHarness.request(6, "tools/call", ["name": "alpha__echo", "arguments": ["text": "quick"]]), session: session,
                version: "2025-06-18"
            )
            #expect(short.headers["content-type"] == "application/json")
            #expect(short.body["result"]?.firstText == "quick")

            // The SDK reads a streamed answer like any other.
            let report = try await PythonScripts.sdkClient("session", url: gateway.baseURL + "/mcp", token: token, calls: [("beta__sleep", #"{"seconds":1.5}"#)])
            #expect(report["calls"]?[0]?["result"]?.firstText == "slept 1.5s")
        }
    }

    @Test func theMCP2SDKConnectsStatelesslyThroughServerDiscover() async throws {
        try await GatewayHarness.run(try Self.options()) { gateway in
            let report = try await PythonScripts.sdk2Client(
                url: gateway.baseURL + "/mcp", token: gateway.token(groups: ["Team"]),
                calls: [("alpha__echo", #"{"text":"stateless"}"#), ("gamma__echo", #"{"text":"denied"}"#)]
            )
            // The 2026-07-28 revision was negotiated (no initialize, no session), and listing and calling work.
            #expect(report["protocolVersion"]?.stringValue == "2026-07-28", "\(report)")
            let tools = Set(report["tools"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            #expect(tools.isSuperset(of: ["alpha__echo", "beta__echo"]), "\(report)")
            #expect(!tools.contains { $0.hasPrefix("gamma__") })
            #expect(report["calls"]?[0]?["result"]?.firstText == "stateless", "\(report)")
            #expect(report["calls"]?[1]?["error"] != nil, "\(report)")
        }
    }

    @Test func theBackendsProgressReachesAClientThatAskedForIt() async throws {
        try await GatewayHarness.run(try Self.options()) { gateway in
            let token = gateway.token(groups: ["Team"])
            // The SDK's progress callback sees the backend's notifications (one a second), in order.
            let report = try await PythonScripts.sdkClient("progress", url: gateway.baseURL + "/mcp", token: token, calls: [("alpha__sleep", #"{"seconds":3}"#)])
            #expect(report["result"]?.firstText == "slept 3s")
            let progress = report["progress"]?.arrayValue ?? []
            #expect(progress.compactMap { $0["message"]?.stringValue } == ["slept 1s", "slept 2s", "slept 3s"], "\(report)")
            #expect(progress.allSatisfy { $0["total"]?.doubleValue == 3 })

            // Raw: the notifications carry the client's own token and precede the answer; a call
            // without a token gets none.
            let session = try await gateway.mcpSession(token: token)
            let asked = try await gateway.mcp(
                token: token,
                GatewayHarness.request(
                    7, "tools/call", ["name": "beta__sleep", "arguments": ["seconds": 2], "_meta": ["progressToken": "bar-7"]]
                ),
                session: session, version: "2025-06-18", keepStream: true
            )
            #expect(asked.headers["content-type"] == "text/event-stream")
            let events = (asked.body.stringValue ?? "").split(separator: "\n").filter { $0.hasPrefix("data: ") }.map {
                (try? JSONDecoder().decode(JSONValue.self, from: Data($0.dropFirst(6).utf8))) ?? .null
            }
            #expect(events.count == 3, "\(events)")
            #expect(events.dropLast().allSatisfy { $0["method"]?.stringValue == "notifications/progress" && $0["params"]?["progressToken"]?.stringValue == "bar-7" })
            #expect(events.last?["id"]?.int64Value == 7)
            #expect(events.last?["result"]?.firstText == "slept 2s")

            let unasked = try await gateway.mcp(
                token: token, GatewayHarness.request(8, "tools/call", ["name": "beta__sleep", "arguments": ["seconds": 2]]), session: session,
                version: "2025-06-18", keepStream: true
            )
            // JSON or an event stream, depending on how long it took: either way, only the answer.
            let encoded = String(decoding: try JSONEncoder().encode(unasked.body), as: UTF8.self)
            let text = unasked.body.stringValue ?? encoded
            #expect(!text.contains("notifications/progress"), "\(text)")
            #expect(text.contains("slept 2s"), "\(text)")
        }
    }

    @Test func cancellingARunningCallStopsItOnTheBackend() async throws {
        let events = FileManager.default.temporaryDirectory.appendingPathComponent("cancel-events-\(UUID().uuidString).jsonl")
        defer { try? FileManager.default.removeItem(at: events) }
        var alpha = try Fixtures.surfaceServer("alpha")
        alpha.arguments += ["--events", events.path]
        var options = GatewayHarness.Options(servers: [alpha], groupGrants: [("Team", "alpha")])
        options.workers = 2
        try await GatewayHarness.run(options) { gateway in
            let go = events.path + ".go"
            defer { try? FileManager.default.removeItem(atPath: go) }
            async let running = PythonScripts.sdkClient(
                "cancel", url: gateway.baseURL + "/mcp", token: gateway.token(groups: ["Team"]), calls: [("alpha__wait_for_cancel", #"{"seconds":60}"#)],
                extra: ["--go-file", go]
            )
            // Cancel only once the backend runs the call, so this is about stopping a running call.
            _ = try await eventually(timeout: .seconds(60)) { () -> Bool? in
                ((try? String(contentsOf: events, encoding: .utf8)) ?? "").contains(#""event": "wait_started""#) ? true : nil
            }
            #expect(FileManager.default.createFile(atPath: go, contents: Data()))
            let report = try await running
            #expect(report["cancelledRequestId"] != nil)
            // The gateway answers the cancelled request with its cancelled error (the client may ignore it).
            #expect(report["outcome"]?["error"]?["code"]?.int64Value == -32006, "\(report)")
            // The worker running it cancelled the backend call: the MCP server saw the cancellation.
            let seen = try? await eventually(timeout: .seconds(20)) { () -> Bool? in
                let text = (try? String(contentsOf: events, encoding: .utf8)) ?? ""
                return text.contains(#""event": "cancelled", "request_id""#) && text.contains("wait_for_cancel") ? true : nil
            }
            #expect(seen == true, "\((try? String(contentsOf: events, encoding: .utf8)) ?? "no events file")")
            // ... and answered it as cancelled, recorded once.
            let recorded = try await eventually(timeout: .seconds(20)) { () -> Int? in
                let rows = try await gateway.database.query("SELECT count(*) AS n FROM call_executions WHERE tool = 'wait_for_cancel' AND finished_at IS NOT NULL")
                let count = try rows[0].decode(Int.self, "n")
                return count > 0 ? count : nil
            }
            #expect(recorded == 1)
        }
    }

    @Test func droppingTheStreamOfAStatelessCallCancelsItOnTheBackend() async throws {
        let events = FileManager.default.temporaryDirectory.appendingPathComponent("drop-events-\(UUID().uuidString).jsonl")
        defer { try? FileManager.default.removeItem(at: events) }
        var alpha = try Fixtures.surfaceServer("alpha")
        alpha.arguments += ["--events", events.path]
        var options = GatewayHarness.Options(servers: [alpha], groupGrants: [("Team", "alpha")])
        options.surface.streamAfter = .milliseconds(200)
        options.surface.keepAliveInterval = .milliseconds(200)
        try await GatewayHarness.run(options) { gateway in
            let go = events.path + ".go"
            defer { try? FileManager.default.removeItem(atPath: go) }
            async let dropped = PythonScripts.sdkClient(
                "dropstream", url: gateway.baseURL + "/mcp", token: gateway.token(groups: ["Team"]),
                calls: [("alpha__wait_for_cancel", #"{"seconds":60}"#)], extra: ["--go-file", go]
            )
            _ = try await eventually(timeout: .seconds(60)) { () -> Bool? in
                ((try? String(contentsOf: events, encoding: .utf8)) ?? "").contains(#""event": "wait_started""#) ? true : nil
            }
            #expect(FileManager.default.createFile(atPath: go, contents: Data()))
            let report = try await dropped
            #expect(report["contentType"]?.stringValue == "text/event-stream", "\(report)")
            #expect(report["closed"]?.boolValue == true)
            let seen = try? await eventually(timeout: .seconds(30)) { () -> Bool? in
                let text = (try? String(contentsOf: events, encoding: .utf8)) ?? ""
                return text.contains("wait_for_cancel") ? true : nil
            }
            #expect(seen == true, "\((try? String(contentsOf: events, encoding: .utf8)) ?? "no events file")")
        }
    }

    @Test func aQueuedCallCancelledBeforeItStartsIsSkipped() async throws {
        var options = GatewayHarness.Options(servers: [try Fixtures.surfaceServer("alpha")], groupGrants: [("Team", "alpha")])
        options.workerConcurrency = 1
        options.surface.streamAfter = .seconds(60)
        try await GatewayHarness.run(options) { gateway in
            let token = gateway.token(groups: ["Team"])
            let session = try await gateway.mcpSession(token: token)
            // The worker takes one call at a time: the first sleep holds it, the second waits in the queue.
            async let first = gateway.mcp(
                token: token, GatewayHarness.request(1, "tools/call", ["name": "alpha__sleep", "arguments": ["seconds": 3]]), session: session,
                version: "2025-06-18"
            )
            try await Task.sleep(for: .milliseconds(500))
            async let second = gateway.mcp(
                token: token, GatewayHarness.request(2, "tools/call", ["name": "alpha__sleep", "arguments": ["seconds": 3]]), session: session,
                version: "2025-06-18"
            )
            try await Task.sleep(for: .milliseconds(500))
            let cancel = try await gateway.mcp(
                token: token, ["jsonrpc": "2.0", "method": "notifications/cancelled", "params": ["requestId": 2, "reason": "changed my mind"]],
                session: session, version: "2025-06-18"
            )
            #expect(cancel.status == 202)
            let (done, skipped) = try await (first, second)
            #expect(done.body["result"]?.firstText == "slept 3s")
            #expect(skipped.body["error"]?["data"]?["code"]?.stringValue == "cancelled", "\(skipped.body)")
            #expect(skipped.body["error"]?["code"]?.int64Value == -32006)
        }
    }
}
