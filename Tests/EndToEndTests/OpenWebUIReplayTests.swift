import Foundation
import Ingress
import Shared
import TestSupport
import Testing
import Worker

/// Open WebUI's own request shapes, replayed against the gateway (from its 0.12.x source, see
/// ../shared/research/open-webui-and-entra.md §1.4-1.5): a `server:mcp:` connection with
/// `auth_type: "system_oauth"` puts the user's Entra access token in `Authorization` on every
/// request; 0.12.4 probes `server/discover` first, older versions open a session per chat.
@Suite struct OpenWebUIReplayTests {
    static let headers = ["Accept": "application/json, text/event-stream", "Content-Type": "application/json"]

    static func options() throws -> GatewayHarness.Options {
        GatewayHarness.Options(
            servers: [try Fixtures.stdioServer("github"), try Fixtures.stdioServer("notion")], groupGrants: [("Tenant-Google", "github"), ("Tenant-Google", "notion")]
        )
    }

    @Test func openWebUI012ProbesDiscoverThenListsAllPagesAndCalls() async throws {
        try await GatewayHarness.run(try Self.options()) { gateway in
            let userToken = gateway.token(subject: "entra-user", groups: ["Tenant-Google"])
            let discover = try await gateway.mcp(
                token: userToken,
                ["jsonrpc": "2.0", "id": 0, "method": "server/discover", "params": ["_meta": ["io.modelcontextprotocol/clientInfo": ["name": "open-webui", "version": "0.12.4"]]]],
                version: "2026-07-28"
            )
            #expect(discover.status == 200)
            #expect(discover.body["result"]?["supportedVersions"]?.arrayValue?.contains("2026-07-28") == true)
            var names: [String] = []
            var cursor = JSONValue.null
            var id: Int64 = 1
            repeat {
                let page = try await gateway.mcp(token: userToken, GatewayHarness.request(id, "tools/list", cursor == .null ? [:] : ["cursor": cursor]), version: "2026-07-28")
                names += page.body["result"]?["tools"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
                cursor = page.body["result"]?["nextCursor"] ?? .null
                id += 1
            } while cursor != .null
            #expect(names.contains("github__echo") && names.contains("notion__echo"))
            // Open WebUI names the tool {connection id}_{tool} for the model and sends the tool's own name back.
            let call = try await gateway.mcp(
                token: userToken, GatewayHarness.request(id, "tools/call", ["name": "github__add", "arguments": ["a": 1, "b": 2]]), version: "2026-07-28"
            )
            #expect(call.body["result"]?["structuredContent"]?["result"]?.doubleValue == 3)
            #expect(call.body["result"]?["isError"]?.boolValue == false)
        }
    }

    @Test func olderOpenWebUIOpensASessionPerChatRequest() async throws {
        try await GatewayHarness.run(try Self.options()) { gateway in
            let userToken = gateway.token(subject: "entra-user", groups: ["Tenant-Google"])
            for chat in 0..<2 {
                let initialize = try await gateway.mcp(
                    token: userToken,
                    GatewayHarness.request(0, "initialize", [
                        "protocolVersion": "2025-11-25", "capabilities": [:], "clientInfo": ["name": "open-webui", "version": "0.7.2"],
                    ])
                )
                let session = try #require(initialize.headers["mcp-session-id"])
                let version = try #require(initialize.body["result"]?["protocolVersion"]?.stringValue)
                #expect(try await gateway.mcp(token: userToken, ["jsonrpc": "2.0", "method": "notifications/initialized"], session: session, version: version).status == 202)
                let list = try await gateway.mcp(token: userToken, GatewayHarness.request(1, "tools/list", [:]), session: session, version: version)
                #expect(list.body["result"]?["tools"]?.arrayValue?.isEmpty == false)
                let call = try await gateway.mcp(
                    token: userToken, GatewayHarness.request(2, "tools/call", ["name": "notion__echo", "arguments": ["text": .string("chat \(chat)")]]), session: session,
                    version: version
                )
                #expect(call.body["result"]?.firstText == "chat \(chat)")
                let close = try await gateway.send("DELETE", "/mcp", token: userToken, headers: ["Mcp-Session-Id": session, "MCP-Protocol-Version": version], body: nil)
                // Sessions are not ended by DELETE (405; the SDK Open WebUI uses takes that as "the
                // server does not allow session termination"); they expire on their own.
                #expect(close.status == 405)
            }
        }
    }

    @Test func openWebUIFetchesTheOpenAPISpecWithoutCredentialsAndCallsWithTheUsersToken() async throws {
        try await GatewayHarness.run(try Self.options()) { gateway in
            // Spec discovery: GET {url}/openapi.json, JSON headers, no Authorization for system_oauth/session connections.
            let spec = try await gateway.get("/openapi.json", token: nil, headers: ["Accept": "application/json", "Content-Type": "application/json"])
            #expect(spec.status == 200)
            let paths = spec.body["paths"]?.objectValue ?? [:]
            let echo = try #require(paths["/github/echo"]?["post"])
            #expect(echo["operationId"]?.stringValue == "github_echo")
            #expect(echo["requestBody"]?["content"]?["application/json"]?["schema"]?["properties"]?["text"] != nil)
            // Execution: POST url + path with the arguments as JSON and the user's bearer token.
            let userToken = gateway.token(subject: "entra-user", groups: ["Tenant-Google"])
            let answer = try await gateway.post("/github/echo", token: userToken, json: #"{"text":"from open webui"}"#)
            #expect(answer.status == 200)
            // The fixture's tools return structured content ({"result": …}), which is the answer.
            #expect(answer.body["result"]?.stringValue == "from open webui")
            let sum = try await gateway.post("/notion/add", token: userToken, json: #"{"a":20,"b":22}"#)
            #expect(sum.body["result"]?.doubleValue == 42)
            // mcpo's per-server layout: {url}/{server}/openapi.json with paths /{tool}.
            let perServer = try await gateway.get("/github/openapi.json", token: nil)
            #expect(perServer.body["paths"]?["/echo"]?["post"]?["operationId"]?.stringValue == "echo")
            #expect(perServer.body["servers"]?[0]?["url"]?.stringValue == gateway.baseURL + "/github")
        }
    }
}
