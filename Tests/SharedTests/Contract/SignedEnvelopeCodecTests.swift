import Crypto
import Foundation
import Testing

@testable import Shared

extension ContractTests {
    @Suite struct SignedEnvelopeCodecTests {
        let codec = ContractFixtures.codec

        @Test(arguments: [ContractFixtures.callEnvelope(), ContractFixtures.listEnvelope()])
        func envelopeRoundTripsThroughSignedEncoding(envelope: RequestEnvelope) throws {
            let (body, headers) = try codec.encode(envelope)
            #expect(try codec.decode(body: body, headers: headers) == envelope)
        }

        @Test func encodedHeadersCarrySignatureKeyIDAndRoutingHints() throws {
            let (body, headers) = try codec.encode(ContractFixtures.callEnvelope())
            #expect(headers[ContractHeaders.signatureKeyID] == "k2")
            let signature = try #require(headers[ContractHeaders.signature])
            let expected = Data(HMAC<SHA256>.authenticationCode(for: body, using: ContractFixtures.currentKey)).base64EncodedString()
            #expect(signature == expected)
            #expect(headers[ContractHeaders.server] == "github")
            #expect(headers[ContractHeaders.tool] == "search_issues")
            #expect(headers[ContractHeaders.deadline] == "1767225630123")
            #expect(headers[ContractHeaders.traceparent] != nil)
        }

        @Test func encodeRefusesAnInvalidEnvelope() {
            #expect(throws: EnvelopeError.invalid("tools/call needs a tool name")) {
                try codec.encode(ContractFixtures.callEnvelope(tool: nil))
            }
        }

        @Test func argumentsAsDeepAsAllowedSurviveTheRoundTrip() throws {
            let envelope = ContractFixtures.callEnvelope(arguments: ContractFixtures.nestedObject(depth: RequestEnvelope.maximumArgumentsDepth))
            let (body, headers) = try codec.encode(envelope)
            #expect(try codec.decode(body: body, headers: headers) == envelope)
        }

        @Test func encodeRefusesArgumentsTooDeepToBeRead() {
            let envelope = ContractFixtures.callEnvelope(arguments: ContractFixtures.nestedObject(depth: RequestEnvelope.maximumArgumentsDepth + 1))
            #expect(throws: EnvelopeError.invalid("arguments nest deeper than 127 levels")) { try codec.encode(envelope) }
        }

        @Test func encodeRefusesNonFiniteNumbers() {
            #expect(throws: EnvelopeError.self) {
                try codec.encode(ContractFixtures.callEnvelope(arguments: ["x": .double(.nan)]))
            }
        }

        @Test(arguments: [0, 1, 17, 100])
        func tamperedBodyIsRejected(flippedByte: Int) throws {
            var (body, headers) = try codec.encode(ContractFixtures.callEnvelope())
            body[flippedByte % body.count] ^= 0x01
            #expect(throws: EnvelopeError.badSignature) { try codec.decode(body: body, headers: headers) }
        }

        @Test func tamperedLastByteAndTruncationAreRejected() throws {
            var (body, headers) = try codec.encode(ContractFixtures.callEnvelope())
            body[body.count - 1] ^= 0x80
            #expect(throws: EnvelopeError.badSignature) { try codec.decode(body: body, headers: headers) }
            body[body.count - 1] ^= 0x80
            #expect(throws: EnvelopeError.badSignature) { try codec.decode(body: Array(body.dropLast()), headers: headers) }
            #expect(throws: EnvelopeError.badSignature) { try codec.decode(body: body + [0x20], headers: headers) }
        }

        @Test(arguments: [
            [:],
            [ContractHeaders.signatureKeyID: "k2"],
            [ContractHeaders.signature: "AAAA"],
            [ContractHeaders.signatureKeyID: "k2", ContractHeaders.signature: ""],
            [ContractHeaders.signatureKeyID: "", ContractHeaders.signature: "AAAA"],
        ])
        func unsignedMessageIsRejected(headers: [String: String]) throws {
            let (body, _) = try codec.encode(ContractFixtures.callEnvelope())
            #expect(throws: EnvelopeError.unsigned) { try codec.decode(body: body, headers: headers) }
        }

        @Test func unsignedGarbageIsRejectedBeforeParsing() {
            #expect(throws: EnvelopeError.unsigned) { try codec.decode(body: Array("not json".utf8), headers: [:]) }
        }

        @Test func signatureWithWrongKeyIsRejected() throws {
            let body = Array(try ContractJSON.encoder.encode(ContractFixtures.callEnvelope()))
            let forger = EnvelopeSigner(currentKeyID: "k2", currentKey: ContractFixtures.strangerKey)
            let headers = ContractFixtures.signedHeaders(for: body, signer: forger)
            #expect(throws: EnvelopeError.badSignature) { try codec.decode(body: body, headers: headers) }
        }

        @Test func signatureUnderAnotherAcceptedKeyIDIsRejected() throws {
            // Signed with the current key but labelled as the previous one.
            let (body, signed) = try codec.encode(ContractFixtures.callEnvelope())
            var headers = signed
            headers[ContractHeaders.signatureKeyID] = "k1"
            #expect(throws: EnvelopeError.badSignature) { try codec.decode(body: body, headers: headers) }
        }

        @Test(arguments: ["not base64!", "AAAA", "", String(repeating: "A", count: 44) + "AAAA"])
        func malformedSignatureIsABadSignature(signature: String) throws {
            let (body, _) = try codec.encode(ContractFixtures.callEnvelope())
            #expect(throws: EnvelopeError.badSignature) {
                try ContractFixtures.signer.verify(body: body, keyID: "k2", signature: signature)
            }
        }

        @Test func previousKeyIsAcceptedForVerification() throws {
            // An ingress not yet rotated still signs with k1, which this worker holds as previous.
            let oldIngress = SignedEnvelopeCodec(
                signer: EnvelopeSigner(currentKeyID: "k1", currentKey: ContractFixtures.previousKey)
            )
            let (body, headers) = try oldIngress.encode(ContractFixtures.callEnvelope())
            #expect(headers[ContractHeaders.signatureKeyID] == "k1")
            #expect(try codec.decode(body: body, headers: headers) == ContractFixtures.callEnvelope())
        }

        @Test func previousKeyIsNeverUsedForSigning() throws {
            let (keyID, _) = ContractFixtures.signer.sign(body: Array("x".utf8))
            #expect(keyID == "k2")
            #expect(ContractFixtures.signer.acceptedKeyIDs == ["k1", "k2"])
        }

        @Test func unknownKeyIDIsRejected() throws {
            let future = SignedEnvelopeCodec(signer: EnvelopeSigner(currentKeyID: "k3", currentKey: ContractFixtures.strangerKey))
            let (body, headers) = try future.encode(ContractFixtures.callEnvelope())
            #expect(throws: EnvelopeError.unknownKey("k3")) { try codec.decode(body: body, headers: headers) }
        }

        @Test(arguments: [2, 0, -1, 1000])
        func unknownVersionIsRejected(version: Int64) throws {
            let body = try ContractFixtures.editedBody(ContractFixtures.callEnvelope()) { $0["v"] = .integer(version) }
            #expect(throws: EnvelopeError.unsupportedVersion(Int(version))) {
                try codec.decode(body: body, headers: ContractFixtures.signedHeaders(for: body))
            }
        }

        @Test func unknownVersionIsReportedEvenWhenTheRestHasAnotherShape() throws {
            let body = Array(#"{"v":2,"request":{"anything":"new"}}"#.utf8)
            #expect(throws: EnvelopeError.unsupportedVersion(2)) {
                try codec.decode(body: body, headers: ContractFixtures.signedHeaders(for: body))
            }
        }

        @Test func invalidEnvelopeIsRejectedAfterDecoding() throws {
            let body = try ContractFixtures.editedBody(ContractFixtures.callEnvelope()) { $0["server"] = "Not Valid" }
            #expect(throws: EnvelopeError.invalid("server id 'Not Valid' must match ^[a-z0-9][a-z0-9_-]{0,62}$")) {
                try codec.decode(body: body, headers: ContractFixtures.signedHeaders(for: body))
            }
        }

        /// Each body is validly signed, so these reach the JSON decoder: the point is that it answers
        /// `.malformed` and never traps.
        static let hostileBodies: [(String, [UInt8])] = [
            ("empty", []),
            ("null", Array("null".utf8)),
            ("empty array", Array("[]".utf8)),
            ("empty object", Array("{}".utf8)),
            ("a string", Array("\"v\"".utf8)),
            ("a number", Array("1".utf8)),
            ("whitespace", Array("   \n".utf8)),
            ("10000 nested arrays", Array((String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)).utf8)),
            ("10000 nested arrays, unclosed", Array(String(repeating: "[", count: 10_000).utf8)),
            ("10000 nested objects", Array((String(repeating: "{\"a\":", count: 10_000) + "1" + String(repeating: "}", count: 10_000)).utf8)),
            ("deep arguments", Array((#"{"v":1,"arguments":"# + String(repeating: "[", count: 500) + String(repeating: "]", count: 500) + "}").utf8)),
            ("huge exponent version", Array(#"{"v":1e400}"#.utf8)),
            ("huge integer version", Array(#"{"v":123456789012345678901234567890}"#.utf8)),
            ("fractional version", Array(#"{"v":1.5}"#.utf8)),
            ("string version", Array(#"{"v":"1"}"#.utf8)),
            ("null version", Array(#"{"v":null}"#.utf8)),
            ("only version", Array(#"{"v":1}"#.utf8)),
            ("invalid UTF-8", [0x7B, 0x22, 0x76, 0x22, 0x3A, 0x31, 0x2C, 0x22, 0xFF, 0xFE, 0x22, 0x3A, 0x31, 0x7D]),
            ("lone surrogate escape", Array(#"{"v":1,"callId":"\ud800"}"#.utf8)),
            ("NUL bytes", [0x00, 0x00, 0x00]),
            ("truncated", Array(#"{"v":1,"callId":"6f1c2a7e-"#.utf8)),
            ("trailing garbage", Array(#"{"v":1} x"#.utf8)),
            ("byte order mark and junk", [0xEF, 0xBB, 0xBF, 0x7B]),
            ("unterminated string", Array(#"{"v":1,"callId":"abc"#.utf8)),
            ("comment", Array(#"{"v":1 /* hi */}"#.utf8)),
            ("NaN literal", Array(#"{"v":NaN}"#.utf8)),
        ]

        @Test(arguments: hostileBodies)
        func hostileBodyIsMalformedNotACrash(name: String, body: [UInt8]) throws {
            let error = #expect(throws: EnvelopeError.self, "\(name)") {
                try codec.decode(body: body, headers: ContractFixtures.signedHeaders(for: body))
            }
            guard case .malformed = error else {
                Issue.record("\(name): expected .malformed, got \(String(describing: error))")
                return
            }
        }

        static let hostileFields: [(String, @Sendable (inout [String: JSONValue]) -> Void)] = [
            ("unknown kind", { $0["kind"] = "tools/delete" }),
            ("kind missing", { $0["kind"] = nil }),
            ("principal missing", { $0["principal"] = nil }),
            ("principal an array", { $0["principal"] = [] }),
            ("deadline a string", { $0["deadline"] = "2026-01-01T00:00:00Z" }),
            ("deadline fractional", { $0["deadline"] = 1.5 }),
            ("groups not strings", { $0["principal"] = ["sub": "s", "tid": "t", "authenticationMethod": "entra-v2", "groups": [1]] }),
            ("tool a number", { $0["tool"] = 7 }),
        ]

        @Test(arguments: hostileFields)
        func wrongFieldShapeIsMalformed(name: String, edit: @Sendable (inout [String: JSONValue]) -> Void) throws {
            let body = try ContractFixtures.editedBody(ContractFixtures.callEnvelope(), edit)
            let error = #expect(throws: EnvelopeError.self, "\(name)") {
                try codec.decode(body: body, headers: ContractFixtures.signedHeaders(for: body))
            }
            guard case .malformed = error else {
                Issue.record("\(name): expected .malformed, got \(String(describing: error))")
                return
            }
        }

        @Test func malformedDetailNamesTheField() throws {
            let body = try ContractFixtures.editedBody(ContractFixtures.callEnvelope()) { $0["principal"] = nil }
            #expect(throws: EnvelopeError.malformed("principal: required but missing")) {
                try codec.decode(body: body, headers: ContractFixtures.signedHeaders(for: body))
            }
        }

        @Test func integerOutsideInt64InArgumentsIsReadAsDouble() throws {
            var envelope = ContractFixtures.callEnvelope()
            envelope.arguments = ["big": 1]
            let text = String(decoding: try ContractJSON.encoder.encode(envelope), as: UTF8.self)
                .replacingOccurrences(of: #""big":1"#, with: #""big":123456789012345678901234567890"#)
            let body = Array(text.utf8)
            let decoded = try codec.decode(body: body, headers: ContractFixtures.signedHeaders(for: body))
            #expect(decoded.arguments["big"] == .double(1.2345678901234568e29))
        }

        @Test func bracketsInsideStringsDoNotCountTowardsNesting() throws {
            let envelope = ContractFixtures.callEnvelope(arguments: ["pattern": .string(String(repeating: "[{\\\"", count: 5_000))])
            let (body, headers) = try codec.encode(envelope)
            #expect(try codec.decode(body: body, headers: headers) == envelope)
        }

        @Test(arguments: [
            (EnvelopeError.unsigned, "envelope_unsigned"),
            (.unknownKey("k9"), "envelope_unknown_key"),
            (.badSignature, "envelope_bad_signature"),
            (.malformed("x"), "envelope_malformed"),
            (.unsupportedVersion(2), "envelope_unsupported_version"),
            (.invalid("x"), "envelope_invalid"),
        ])
        func everyErrorHasADeadLetterReason(error: EnvelopeError, reason: String) {
            #expect(error.deadLetterReason == reason)
            #expect(error.gatewayError.code == .invalidEnvelope)
            #expect(!error.description.isEmpty)
        }

        @Test func unknownKeyIDIsEscapedInDescriptions() {
            #expect(EnvelopeError.unknownKey("k\n9").description == #"message is signed with unknown key id 'k\n9'"#)
        }
    }
}
