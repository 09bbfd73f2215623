import Crypto
import Foundation
import Logging
import Shared
import Testing

@testable import Ingress

/// The MCP endpoint's pure parts: session ids, tool names, cursors, message classification.
@Suite struct MCPSessionTokenTests {
    static let key = SymmetricKey(size: .bits256)
    static let signer = EnvelopeSigner(currentKeyID: "k1", currentKey: key)
    static let alice = Principal(subject: "alice", tenantID: "t1", authenticationMethod: .entraV2)
    static let bob = Principal(subject: "bob", tenantID: "t1", authenticationMethod: .entraV2)

    @Test func aSessionIDVerifiesForItsCallerOnAnyReplicaWithTheKey() throws {
        let token = MCPSessionToken(protocolVersion: "2025-06-18", principal: Self.alice, lifetime: .seconds(60), signer: Self.signer)
        #expect(token.id.allSatisfy { $0.isASCII && $0.asciiValue! >= 0x21 && $0.asciiValue! <= 0x7E })
        let verified = try MCPSessionToken(verifying: token.id, principal: Self.alice, signer: Self.signer)
        #expect(verified.protocolVersion == "2025-06-18")
        #expect(verified.nonce == token.nonce)
        // A rotated key still verifies it.
        let rotated = EnvelopeSigner(currentKeyID: "k2", currentKey: SymmetricKey(size: .bits256), previousKeys: ["k1": Self.key])
        _ = try MCPSessionToken(verifying: token.id, principal: Self.alice, signer: rotated)
    }

    @Test func aSessionIDIsRefusedForAnotherCallerTamperedOrExpired() throws {
        let token = MCPSessionToken(protocolVersion: "2025-06-18", principal: Self.alice, lifetime: .seconds(60), signer: Self.signer)
        #expect(throws: MCPSessionToken.Refusal.otherPrincipal) { try MCPSessionToken(verifying: token.id, principal: Self.bob, signer: Self.signer) }
        let other = EnvelopeSigner(currentKeyID: "k1", currentKey: SymmetricKey(size: .bits256))
        #expect(throws: MCPSessionToken.Refusal.badSignature) { try MCPSessionToken(verifying: token.id, principal: Self.alice, signer: other) }
        let expired = MCPSessionToken(protocolVersion: "2025-06-18", principal: Self.alice, lifetime: .seconds(1), signer: Self.signer, now: Date(timeIntervalSinceNow: -10))
        #expect(throws: MCPSessionToken.Refusal.expired) { try MCPSessionToken(verifying: expired.id, principal: Self.alice, signer: Self.signer) }
        for garbage in ["", "s1", "s1.x.k1", "s2.a.k1.b", String(repeating: "s1.", count: 500)] {
            #expect(throws: MCPSessionToken.Refusal.self) { try MCPSessionToken(verifying: garbage, principal: Self.alice, signer: Self.signer) }
        }
    }

    @Test func callIDsAreTheSameOnEveryReplicaAndDifferPerSessionAndID() throws {
        let token = MCPSessionToken(protocolVersion: "2025-06-18", principal: Self.alice, lifetime: .seconds(60), signer: Self.signer)
        let other = MCPSessionToken(protocolVersion: "2025-06-18", principal: Self.alice, lifetime: .seconds(60), signer: Self.signer)
        func context(_ session: MCPSessionToken?, version: String = "2025-06-18") -> MCPRequestContext {
            MCPRequestContext(principal: Self.alice, scope: .aggregate, session: session, protocolVersion: version, httpCallID: "x", trace: nil, timeout: .seconds(1), logger: .init(label: "t"))
        }
        let id = try #require(context(token).callID(forRequest: 7))
        #expect(UUID(uuidString: id) != nil)
        #expect(context(token).callID(forRequest: 7) == id)
        #expect(context(token).callID(forRequest: .double(7)) == id)
        #expect(context(token).callID(forRequest: "7") != id)
        #expect(context(other).callID(forRequest: 7) != id)
        #expect(context(nil).callID(forRequest: 7) == nil)
        #expect(context(token, version: "2026-07-28").callID(forRequest: 7) == nil)
    }
}

@Suite struct MCPNamingTests {
    @Test(arguments: [
        ("alpha__echo", ["alpha", "beta"], [("alpha", "echo")]),
        ("a__b__tool", ["a", "a__b"], [("a__b", "tool"), ("a", "b__tool")]),
        ("a__b__tool", ["a"], [("a", "b__tool")]),
        ("beta__odd.name/ü x", ["beta"], [("beta", "odd.name/ü x")]),
    ])
    func qualifiedNamesSplitAgainstTheCallersServersLongestFirst(name: String, servers: [String], expected: [(String, String)]) {
        let candidates = ToolNamespace(separator: "__").candidates(name, among: servers)
        #expect(candidates.map(\.server) == expected.map(\.0))
        #expect(candidates.map(\.tool) == expected.map(\.1))
    }

    @Test(arguments: ["gamma__echo", "alpha__", "echo", "alpha_echo"])
    func namesOfNoGrantedServerDoNotResolve(name: String) {
        #expect(ToolNamespace(separator: "__").candidates(name, among: ["alpha", "beta"]).isEmpty)
    }

    @Test func namesListedTwiceAreCollisions() {
        #expect(ToolNamespace.collisions(["a__b__c", "a__x", "a__b__c", "b__y"]) == ["a__b__c"])
        #expect(ToolNamespace.collisions(["a__x", "b__x"]).isEmpty)
    }

    @Test func cursorsRoundTripAndForeignOnesAreRefused() {
        #expect(ToolCursor.decode(ToolCursor.encode(offset: 300)) == 300)
        for foreign in ["", "!!", MCPSessionToken.base64URL(Data("x:1".utf8)), MCPSessionToken.base64URL(Data("o:-1".utf8))] {
            #expect(ToolCursor.decode(foreign) == nil)
        }
    }

    static let schemaCases: [(JSONValue, JSONValue)] = [
        (["name": "t"], ["type": "object"]),
        (["name": "t", "inputSchema": ["properties": [:]]], ["type": "object", "properties": [:]]),
        (["name": "t", "inputSchema": ["type": "string"]], ["type": "object", "x-original-input-schema": ["type": "string"]]),
        (["name": "t", "inputSchema": true], ["type": "object", "x-original-input-schema": true]),
    ]

    @Test(arguments: schemaCases)
    func everyInputSchemaBecomesAnObjectSchema(tool: JSONValue, schema: JSONValue) {
        #expect(ToolShape.normalized(tool)["inputSchema"] == schema)
    }

    @Test func openAPIAnswersAreTheStructuredContentElseTheText() {
        let text: JSONValue = ["content": [["type": "text", "text": "a"], ["type": "image", "data": "x"], ["type": "text", "text": "b"]], "isError": false]
        #expect(OpenAPIRoutes.payload(of: text) == .success("a\nb"))
        var structured = text
        if case .object(var object) = structured { object["structuredContent"] = ["n": 1]; structured = .object(object) }
        #expect(OpenAPIRoutes.payload(of: structured) == .success(["n": 1]))
        let failed: JSONValue = ["content": [["type": "text", "text": "boom"]], "isError": true]
        #expect(OpenAPIRoutes.payload(of: failed) == .failure(.init(message: "boom")))
    }

    @Test func openAPIIdentifiersAndPathsSurviveOddNames() {
        #expect(OpenAPIDocument.identifier("alpha_odd.name/ü x") == "alpha_odd_name___x")
        #expect(OpenAPIDocument.segment("odd.name/ü x") == "odd.name%2F%C3%BC%20x")
        let document = OpenAPIDocument(
            title: "t", serverURL: "http://h", singleServer: nil,
            operations: [.init(server: "a", tool: ["name": "x.y"]), .init(server: "a", tool: ["name": "x_y"])]
        ).json
        let ids = (document["paths"]?.objectValue ?? [:]).values.compactMap { $0["post"]?["operationId"]?.stringValue }
        #expect(Set(ids) == ["a_x_y", "a_x_y_2"])
    }
}

@Suite struct JSONRPCMessageTests {
    @Test func messagesAreClassifiedByShape() throws {
        #expect(try JSONRPCMessage(["jsonrpc": "2.0", "id": 1, "method": "ping"]) == .request(id: 1, method: "ping", params: nil))
        #expect(try JSONRPCMessage(["jsonrpc": "2.0", "method": "notifications/initialized"]) == .notification(method: "notifications/initialized", params: nil))
        #expect(try JSONRPCMessage(["jsonrpc": "2.0", "id": "a", "result": [:]]) == .response(id: "a"))
    }

    @Test(arguments: [
        "text" as JSONValue, ["id": 1, "method": "ping"], ["jsonrpc": "2.0", "id": 1, "method": 5], ["jsonrpc": "2.0", "id": nil, "method": "ping"],
        ["jsonrpc": "2.0", "id": [1], "method": "ping"], ["jsonrpc": "2.0", "id": 1, "method": "ping", "params": "x"], ["jsonrpc": "2.0", "id": 1],
    ])
    func malformedMessagesAreInvalidRequests(message: JSONValue) {
        #expect(throws: JSONRPCFailure.self) { try JSONRPCMessage(message) }
        do {
            _ = try JSONRPCMessage(message)
        } catch {
            #expect(error.error.code == -32600)
        }
    }
}

@Suite struct MCPErrorMappingTests {
    static let expected: [(GatewayErrorCode, Int)] = [
        (.badRequest, -32602), (.payloadTooLarge, -32602), (.invalidEnvelope, -32602), (.notFound, -32602),
        (.forbidden, -32001), (.unauthenticated, -32001), (.deadlineExceeded, -32003), (.unavailable, -32004),
        (.authorizationUnavailable, -32004), (.backendError, -32005), (.cancelled, -32006), (.outcomeUnknown, -32007), (.rateLimited, -32008), (.idempotencyKeyReused, -32602), (.internal, -32603),
    ]

    /// Every gateway error code has its JSON-RPC code; `data` keeps the gateway's code and the call id.
    @Test(arguments: expected)
    func gatewayErrorsMapToTheirJSONRPCCodes(code: GatewayErrorCode, expected: Int) {
        let error = MCPErrorMapping.jsonRPCError(GatewayError(code, "what happened"), callID: "c-1")
        #expect(error.code == expected)
        #expect(error.message == "what happened")
        #expect(error.data?["code"]?.stringValue == code.rawValue)
        #expect(error.data?["callId"]?.stringValue == "c-1")
    }

    @Test func theTableAboveCoversEveryGatewayErrorCode() {
        #expect(Set(Self.expected.map(\.0)) == Set(GatewayErrorCode.allCases))
    }
}
