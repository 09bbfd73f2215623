import Foundation
import Ingress
import Shared
import TestSupport
import Testing
import Worker

/// The OpenAPI tool server: documents that validate (openapi-spec-validator) and follow the
/// caller's grants, and tool calls with the REST error shape.
@Suite struct OpenAPITests {
    static func options() throws -> GatewayHarness.Options {
        GatewayHarness.Options(
            servers: [try Fixtures.surfaceServer("alpha"), try Fixtures.surfaceServer("beta")],
            groupGrants: [("Alpha-Only", "alpha"), ("Everything", "alpha"), ("Everything", "beta")]
        )
    }

    static func servers(of document: JSONValue) -> Set<String> {
        Set((document["paths"]?.objectValue ?? [:]).keys.compactMap { $0.split(separator: "/").first.map(String.init) })
    }

    @Test func theDocumentValidatesAndChangesWithTheCallersGrants() async throws {
        try await GatewayHarness.run(try Self.options()) { gateway in
            let alphaOnly = try await gateway.get("/openapi.json", token: gateway.token(groups: ["Alpha-Only"]))
            let everything = try await gateway.get("/openapi.json", token: gateway.token(groups: ["Everything"]))
            let nothing = try await gateway.get("/openapi.json", token: gateway.token(groups: ["Nobody"]))
            let anonymous = try await gateway.get("/openapi.json", token: nil)
            #expect(Self.servers(of: alphaOnly.body) == ["alpha"])
            #expect(Self.servers(of: everything.body) == ["alpha", "beta"])
            #expect(Self.servers(of: nothing.body).isEmpty)
            // Without credentials: everything the deployment serves (metadata only).
            #expect(Self.servers(of: anonymous.body) == ["alpha", "beta"])
            for document in [alphaOnly.body, everything.body, nothing.body, anonymous.body] {
                let verdict = try await PythonScripts.validateOpenAPI(document)
                #expect(verdict["valid"]?.boolValue == true, "\(verdict)")
            }
            // Tool names collide across servers and have odd characters: operationIds stay unique
            // identifiers, paths stay one segment per name.
            let operations = (everything.body["paths"]?.objectValue ?? [:]).values.compactMap { $0["post"]?["operationId"]?.stringValue }
            #expect(Set(operations).count == operations.count)
            #expect(operations.allSatisfy { $0.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") } })
            #expect(everything.body["paths"]?["/alpha/odd.name%2F%C3%BC%20x"] != nil)
            // A non-object schema becomes an object schema in the document as on /mcp.
            let scalar = everything.body["paths"]?["/beta/scalar_schema"]?["post"]?["requestBody"]?["content"]?["application/json"]?["schema"]
            #expect(scalar?["type"]?.stringValue == "object")

            let perServer = try await gateway.get("/beta/openapi.json", token: gateway.token(groups: ["Everything"]))
            #expect(try await PythonScripts.validateOpenAPI(perServer.body)["valid"]?.boolValue == true)
            let deniedServer = try await gateway.get("/beta/openapi.json", token: gateway.token(groups: ["Alpha-Only"]))
            #expect(deniedServer.status == 403)
            let badToken = try await gateway.get("/openapi.json", token: "garbage")
            #expect(badToken.status == 401)
            #expect(badToken.headers["www-authenticate"]?.contains("/.well-known/oauth-protected-resource/openapi.json") == true)
        }
    }

    @Test func theDocumentCanBeRefusedToAnonymousCallers() async throws {
        var options = try Self.options()
        options.surface.publicOpenAPIDocument = false
        try await GatewayHarness.run(options) { gateway in
            let anonymous = try await gateway.get("/openapi.json", token: nil)
            #expect(anonymous.status == 401)
            #expect(anonymous.errorCode == "unauthenticated")
            #expect(anonymous.headers["www-authenticate"]?.contains("resource_metadata=") == true)
            #expect(try await gateway.get("/openapi.json", token: gateway.token(groups: ["Everything"])).status == 200)
        }
    }

    @Test func operationsAnswerWithTheToolsContentOrTheErrorShape() async throws {
        try await GatewayHarness.run(try Self.options()) { gateway in
            let token = gateway.token(groups: ["Alpha-Only"])
            let text = try await gateway.post("/alpha/echo", token: token, json: #"{"text":"plain"}"#)
            #expect(text.status == 200)
            #expect(text.body["result"]?.stringValue == "plain")
            let structured = try await gateway.post("/alpha/add", token: token, json: #"{"a":1,"b":1}"#)
            #expect(structured.body == ["result": 2])
            let odd = try await gateway.post("/alpha/odd.name%2F%C3%BC%20x", token: token, json: #"{"text":"odd"}"#)
            #expect(odd.status == 200, "\(odd.body)")
            let toolError = try await gateway.post("/alpha/fail", token: token, json: #"{"message":"broken"}"#)
            #expect(toolError.status == 422)
            #expect(toolError.errorCode == "tool_error")
            #expect(toolError.body["error"]?["message"]?.stringValue?.contains("broken") == true)
            let denied = try await gateway.post("/beta/echo", token: token, json: #"{"text":"x"}"#)
            #expect(denied.status == 403)
            #expect(denied.errorCode == "forbidden")
            let unknown = try await gateway.post("/alpha/nosuch", token: token, json: "{}")
            #expect(unknown.status == 404)
            let anonymous = try await gateway.post("/alpha/echo", token: nil, json: #"{"text":"x"}"#)
            #expect(anonymous.status == 401)
            #expect(anonymous.headers["www-authenticate"]?.contains("resource_metadata=") == true)
        }
    }
}
