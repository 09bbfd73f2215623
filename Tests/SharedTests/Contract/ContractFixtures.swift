import Crypto
import Foundation
import Testing

@testable import Shared

/// Values the contract tests share: keys, a principal, envelopes of both kinds.
enum ContractFixtures {
    static let currentKey = SymmetricKey(data: Array(repeating: UInt8(0x11), count: 32))
    static let previousKey = SymmetricKey(data: Array(repeating: UInt8(0x22), count: 32))
    static let strangerKey = SymmetricKey(data: Array(repeating: UInt8(0x33), count: 32))

    /// Signs with `k2`, also accepts `k1`.
    static let signer = EnvelopeSigner(currentKeyID: "k2", currentKey: currentKey, previousKeys: ["k1": previousKey])
    static let codec = SignedEnvelopeCodec(signer: signer)

    static let issuedAt = Date(millisecondsSince1970: 1_767_225_600_123)
    static let deadline = Date(millisecondsSince1970: 1_767_225_630_123)

    static let principal = Principal(
        subject: "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
        objectID: "00000000-0000-0000-66f3-3332eca7ea81",
        tenantID: "9188040d-6c67-4c5b-b112-36a304b66dad",
        userName: "Ada Lovelace",
        groups: ["a1b2c3d4-0000-0000-0000-000000000001", "MCP-GitHub"],
        roles: ["Gateway.User"],
        scopes: ["mcp.call", "mcp.list"],
        authenticationMethod: .entraV2,
        groupsOverage: false
    )

    static let trace = TraceContext(
        traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        tracestate: "congo=t61rcWkgMzE"
    )!

    static func callEnvelope(
        tool: String? = "search_issues",
        arguments: JSONValue = ["query": "is:open label:bug", "limit": 25, "exact": 9_007_199_254_740_993]
    ) -> RequestEnvelope {
        RequestEnvelope(
            callID: "6f1c2a7e-3d0b-4f7a-9a59-2f4d8c1e0b11",
            kind: .callTool,
            server: "github",
            tool: tool,
            arguments: arguments,
            principal: principal,
            issuedAt: issuedAt,
            deadline: deadline,
            trace: trace,
            idempotencyKey: "retry-7"
        )
    }

    static func listEnvelope() -> RequestEnvelope {
        RequestEnvelope(
            callID: "0b3a9c55-1e2f-4a6b-8c7d-9e0f1a2b3c4d",
            kind: .listTools,
            server: "filesystem",
            principal: principal,
            issuedAt: issuedAt,
            deadline: deadline
        )
    }

    /// An object nested `depth` levels deep (`{"a":[[…[]…]]}`), `nestingDepth == depth`.
    static func nestedObject(depth: Int) -> JSONValue {
        var value: JSONValue = .array([])
        for _ in 0..<(depth - 2) { value = .array([value]) }
        return ["a": value]
    }

    /// `body` with valid signature headers from `signer`, so a test reaches the JSON decoder.
    static func signedHeaders(for body: [UInt8], signer: EnvelopeSigner = signer) -> [String: String] {
        let (keyID, signature) = signer.sign(body: body)
        return [ContractHeaders.signatureKeyID: keyID, ContractHeaders.signature: signature]
    }

    /// The JSON object of `envelope` with `change` applied, as body bytes.
    static func editedBody(_ envelope: RequestEnvelope, _ change: (inout [String: JSONValue]) -> Void) throws -> [UInt8] {
        var object = try #require(try JSONValue(encoding: envelope).objectValue)
        change(&object)
        return Array(try ContractJSON.encoder.encode(JSONValue.object(object)))
    }
}

/// Groups every contract suite, so that `swift test --filter Contract` runs them all.
@Suite enum ContractTests {}
