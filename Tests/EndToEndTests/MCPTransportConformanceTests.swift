import Foundation
@testable import Ingress
import Shared
import TestSupport
import Testing
import Worker

/// The 2026-07-28 revision's Streamable HTTP rules, one case per normative sentence (quoted from
/// `docs/specification/2026-07-28/basic/transports/streamable-http.mdx` and `basic/versioning.mdx`),
/// against the whole gateway. Older revisions' behaviour is covered by `MCPProtocolTests`.
@Suite struct MCPTransportConformanceTests {
    static let version = "2026-07-28"

    static func options() throws -> GatewayHarness.Options {
        GatewayHarness.Options(servers: [try Fixtures.surfaceServer("alpha")], groupGrants: [("Team", "alpha")])
    }

    /// A 2026-07-28 POST with its body's `_meta` and the given extra headers.
    static func post(
        _ gateway: GatewayHarness, token: String, _ method: String, params: [String: JSONValue] = [:], headers extra: [String: String] = [:],
        bodyVersion: String? = version
    ) async throws -> GatewayHarness.Answer {
        var params = params
        if let bodyVersion {
            params["_meta"] = [
                "io.modelcontextprotocol/protocolVersion": .string(bodyVersion), "io.modelcontextprotocol/clientCapabilities": [:],
            ]
        }
        var headers = ["Accept": "application/json, text/event-stream", "Content-Type": "application/json", "MCP-Protocol-Version": version]
        headers["Mcp-Method"] = method
        if method == "tools/call", let name = params["name"]?.stringValue { headers["Mcp-Name"] = name }
        headers.merge(extra) { _, new in new }
        let body = GatewayHarness.request(7, method, .object(params))
        return GatewayHarness.unstreamed(try await gateway.send("POST", "/mcp", token: token, headers: headers, body: Array(try JSONEncoder().encode(body))))
    }

    @Test func headersThatAgreeWithTheBodyAreServed() async throws {
        try await GatewayHarness.run(try Self.options()) { gateway in
            let token = gateway.token(groups: ["Team"])
            let list = try await Self.post(gateway, token: token, "tools/list")
            #expect(list.status == 200, "\(list.body)")
            let call = try await Self.post(gateway, token: token, "tools/call", params: ["name": "alpha__echo", "arguments": ["text": "agreed"]])
            #expect(call.body["result"]?.firstText == "agreed", "\(call.body)")
            // "Servers MUST decode … before comparing": a name outside visible ASCII travels in base64.
            let odd = "alpha__odd.name/ü x"
            let encoded = "=?base64?" + Data(odd.utf8).base64EncodedString() + "?="
            let decoded = try await Self.post(
                gateway, token: token, "tools/call", params: ["name": .string(odd), "arguments": ["text": "odd"]], headers: ["Mcp-Name": encoded])
            #expect(decoded.body["result"]?.firstText == "odd", "\(decoded.body)")
        }
    }

    /// "Every POST request to the MCP endpoint MUST include an MCP-Protocol-Version header … MUST
    /// match the io.modelcontextprotocol/protocolVersion field … If the values do not match, the
    /// server MUST reject the request with 400 Bad Request and a HeaderMismatch JSON-RPC error."
    @Test func aProtocolVersionHeaderThatDisagreesWithTheBodyIsAHeaderMismatch() async throws {
        try await GatewayHarness.run(try Self.options()) { gateway in
            let answer = try await Self.post(gateway, token: gateway.token(groups: ["Team"]), "tools/list", bodyVersion: "2025-11-25")
            #expect(answer.status == 400)
            #expect(answer.body["error"]?["code"]?.int64Value == -32020, "\(answer.body)")
            #expect(answer.body["id"]?.int64Value == 7)
        }
    }

    /// "Servers that process the request body MUST reject requests where the values specified in
    /// the headers do not match the corresponding values in the request body." (Mcp-Method)
    @Test func anMcpMethodHeaderThatDisagreesWithTheBodyIsRefusedAndNothingRuns() async throws {
        try await GatewayHarness.run(try Self.options()) { gateway in
            let token = gateway.token(groups: ["Team"])
            // A proxy that allows only tools/list by header must not be bypassed by the body.
            let answer = try await Self.post(
                gateway, token: token, "tools/call", params: ["name": "alpha__echo", "arguments": ["text": "sneaked"]], headers: ["Mcp-Method": "tools/list"])
            #expect(answer.status == 400)
            #expect(answer.body["error"]?["code"]?.int64Value == -32020, "\(answer.body)")
            #expect(answer.body["result"] == nil)
            let executed = try await gateway.database.query("SELECT count(*) AS n FROM call_executions")
            #expect(try executed[0].decode(Int.self, "n") == 0)
        }
    }

    /// The same sentence, for `Mcp-Name` (which mirrors `params.name` of `tools/call`).
    @Test(arguments: ["alpha__fail", "=?base64?bm90IGJhc2U2NA?=", "=?base64?!!!?="])
    func anMcpNameHeaderThatDisagreesWithTheBodyIsRefused(header: String) async throws {
        try await GatewayHarness.run(try Self.options()) { gateway in
            let answer = try await Self.post(
                gateway, token: gateway.token(groups: ["Team"]), "tools/call", params: ["name": "alpha__echo", "arguments": ["text": "x"]],
                headers: ["Mcp-Name": header])
            #expect(answer.status == 400)
            #expect(answer.body["error"]?["code"]?.int64Value == -32020, "\(answer.body)")
        }
    }

    /// "If the server does not implement the requested RPC method, it MUST respond with 404 Not
    /// Found and a JSON-RPC error with code -32601."
    @Test func anUnknownMethodIsA404WithMethodNotFound() async throws {
        try await GatewayHarness.run(try Self.options()) { gateway in
            let answer = try await Self.post(gateway, token: gateway.token(groups: ["Team"]), "prompts/list")
            #expect(answer.status == 404)
            #expect(answer.body["error"]?["code"]?.int64Value == -32601, "\(answer.body)")
            // Older revisions keep answering 200 with the error, as they say.
            let old = try await gateway.mcp(token: gateway.token(groups: ["Team"]), GatewayHarness.request(1, "prompts/list"), version: "2025-03-26")
            #expect(old.status == 200)
            #expect(old.body["error"]?["code"]?.int64Value == -32601)
        }
    }

    /// "If the server does not implement the requested version … it MUST respond with an
    /// UnsupportedProtocolVersionError" (-32022, with `data.supported` and `data.requested`).
    @Test func anUnsupportedVersionNamesTheSupportedOnes() async throws {
        try await GatewayHarness.run(try Self.options()) { gateway in
            let token = gateway.token(groups: ["Team"])
            let byHeader = try await Self.post(gateway, token: token, "server/discover", headers: ["MCP-Protocol-Version": "2099-01-01"], bodyVersion: nil)
            let byBody = try await gateway.send(
                "POST", "/mcp", token: token, headers: ["Accept": "application/json", "Content-Type": "application/json"],
                body: Array(#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2099-01-01"}}}"#.utf8))
            for answer in [byHeader, byBody] {
                #expect(answer.status == 400)
                #expect(answer.body["error"]?["code"]?.int64Value == -32022, "\(answer.body)")
                #expect(answer.body["error"]?["data"]?["requested"]?.stringValue == "2099-01-01")
                #expect(answer.body["error"]?["data"]?["supported"]?.arrayValue?.contains(.string(Self.version)) == true)
            }
        }
    }

    /// Legacy traffic to the endpoint: "GET/DELETE → 405"; only POST is offered (no session a
    /// DELETE could really end: sessions are signed tokens any replica accepts until they expire).
    @Test(arguments: ["GET", "DELETE", "PUT", "PATCH"])
    func methodsOtherThanPostAre405(method: String) async throws {
        try await GatewayHarness.run(try Self.options()) { gateway in
            for path in ["/mcp", "/servers/alpha/mcp"] {
                let answer = try await gateway.send(method, path, token: gateway.token(groups: ["Team"]), headers: [:], body: nil)
                #expect(answer.status == 405, "\(method) \(path)")
                #expect(answer.headers["allow"] == "POST")
            }
        }
    }

    /// "Closing the SSE response stream MUST be treated by the server as cancellation of that
    /// request." Noticed when the connection closes, not at the next keep-alive write (set here
    /// far longer than the test waits).
    @Test func closingTheStreamCancelsTheCallWithoutWaitingForAKeepAlive() async throws {
        let events = FileManager.default.temporaryDirectory.appendingPathComponent("close-events-\(UUID().uuidString).jsonl")
        defer { try? FileManager.default.removeItem(at: events) }
        var alpha = try Fixtures.surfaceServer("alpha")
        alpha.arguments += ["--events", events.path]
        var options = GatewayHarness.Options(servers: [alpha], groupGrants: [("Team", "alpha")])
        options.surface.streamAfter = .milliseconds(200)
        options.surface.keepAliveInterval = .seconds(120)
        try await GatewayHarness.run(options) { gateway in
            let go = events.path + ".go"
            defer { try? FileManager.default.removeItem(atPath: go) }
            async let dropped = PythonScripts.sdkClient(
                "dropstream", url: gateway.baseURL + "/mcp", token: gateway.token(groups: ["Team"]),
                calls: [("alpha__wait_for_cancel", #"{"seconds":110}"#)], extra: ["--go-file", go]
            )
            _ = try await eventually(timeout: .seconds(60)) { () -> Bool? in
                ((try? String(contentsOf: events, encoding: .utf8)) ?? "").contains(#""event": "wait_started""#) ? true : nil
            }
            #expect(FileManager.default.createFile(atPath: go, contents: Data()))
            let report = try await dropped
            #expect(report["closed"]?.boolValue == true, "\(report)")
            let seen = try? await eventually(timeout: .seconds(30)) { () -> Bool? in
                let text = (try? String(contentsOf: events, encoding: .utf8)) ?? ""
                return text.contains(#""event": "cancelled""#) ? true : nil
            }
            #expect(seen == true, "\((try? String(contentsOf: events, encoding: .utf8)) ?? "no events file")")
        }
    }
}
