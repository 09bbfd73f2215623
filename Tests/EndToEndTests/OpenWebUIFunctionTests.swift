import Foundation
import Shared
import TestSupport
import Testing

/// The Open WebUI function of `integrations/open-webui/function/`, imported and called by the
/// venv's Python against a running gateway, with a recording proxy in between: it must reach
/// the gateway with the user's access token and send nothing else about the user.
@Suite struct OpenWebUIFunctionTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let function = repository.appendingPathComponent("integrations/open-webui/function/mcp_gateway_bearer.py").path
    static let driver = repository.appendingPathComponent("Tests/Fixtures/open-webui/run_function.py").path

    /// Every header name the function may send: transport headers, the bearer token, the deadline.
    static let allowedHeaders: Set<String> = [
        "host", "authorization", "accept", "accept-encoding", "content-type", "content-length", "connection", "user-agent", "x-timeout-ms",
    ]

    @Test func theFunctionCallsTheGatewayWithTheBearerTokenAndNoIdentityHeaders() async throws {
        let options = GatewayHarness.Options(servers: [try Fixtures.stdioServer("echo")], groupGrants: [("Team", "echo")])
        try await GatewayHarness.run(options) { gateway in
            let token = gateway.token(subject: "alice", groups: ["Team"])
            let result = try await ScriptRunner.run(
                try Fixtures.python(),
                [Self.driver, "--function", Self.function, "--gateway", gateway.baseURL, "--token", token, "--server", "echo", "--tool", "echo",
                 "--arguments", #"{"text":"from open webui"}"#],
                timeout: .seconds(120)
            )
            try #require(result.succeeded, "\(result)")
            let output = try ContractJSON.decoder.decode(JSONValue.self, from: Data(result.stdout.utf8))

            #expect(output["servers"]?["servers"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == ["echo"])
            #expect(output["tools"]?["tools"]?.arrayValue?.contains { $0["name"] == "echo" } == true)
            #expect(output["call"]?.firstText == "from open webui")
            #expect(output["noToken"]?.stringValue?.contains("No Microsoft Entra access token") == true)
            #expect(output["refused"]?.stringValue?.contains("The gateway answered 404") == true)

            let requests = try #require(output["requests"]?.arrayValue)
            #expect(requests.count == 4)  // servers, tools, call, refused call; none without a token
            for request in requests {
                let headers = request["headers"]?.arrayValue?.compactMap { pair -> (String, String)? in
                    guard let name = pair[0]?.stringValue, let value = pair[1]?.stringValue else { return nil }
                    return (name.lowercased(), value)
                } ?? []
                let names = Set(headers.map(\.0))
                #expect(names.isSubset(of: Self.allowedHeaders), "unexpected headers \(names.subtracting(Self.allowedHeaders))")
                #expect(headers.filter { $0.0 == "authorization" }.map(\.1) == ["Bearer \(token)"])
                // Nothing from the ID token, the parsed claims or the refresh token leaves Open WebUI.
                for (_, value) in headers {
                    for leaked in ["MCP-Admin", "mallory", "forged-oid", "refresh", "eyJhbGciOiJSUzI1NiJ9.e30"] {
                        #expect(!value.contains(leaked), "header value leaks \(leaked)")
                    }
                }
            }
        }
    }
}
