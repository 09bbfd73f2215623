import Foundation
import Testing

@testable import Shared

extension ContractTests {
    @Suite struct ReplyTests {
        static let started = Date(millisecondsSince1970: 1_767_225_600_200)
        static let finished = Date(millisecondsSince1970: 1_767_225_600_610)

        static let toolResult: JSONValue = [
            "content": [["type": "text", "text": "3 open issues"]],
            "structuredContent": ["count": 3, "ids": [9_007_199_254_740_993, 2, 3]],
            "isError": false,
        ]

        static let replies: [Reply] = [
            Reply(
                callID: "6f1c2a7e-3d0b-4f7a-9a59-2f4d8c1e0b11",
                outcome: .result(toolResult),
                worker: "worker-7f9c",
                startedAt: started,
                finishedAt: finished
            ),
            Reply(
                callID: "0b3a9c55-1e2f-4a6b-8c7d-9e0f1a2b3c4d",
                outcome: .result(["tools": [["name": "get_time", "inputSchema": ["type": "object"]]]]),
                worker: "worker-1",
                startedAt: started,
                finishedAt: finished
            ),
            Reply(
                callID: "6f1c2a7e-3d0b-4f7a-9a59-2f4d8c1e0b11",
                outcome: .error(GatewayError(.forbidden, "no grant for server github", detail: "tenant 9188040d has no access")),
                worker: "worker-7f9c",
                startedAt: started,
                finishedAt: finished
            ),
            Reply(
                callID: "6f1c2a7e-3d0b-4f7a-9a59-2f4d8c1e0b11",
                outcome: .error(GatewayError(.deadlineExceeded, "too late")),
                worker: "w",
                startedAt: started,
                finishedAt: started
            ),
        ]

        @Test(arguments: replies)
        func replyRoundTripsEveryField(reply: Reply) throws {
            let decoded = try Reply(decoding: reply.encoded())
            #expect(decoded == reply)
            #expect(decoded.callID == reply.callID)
            #expect(decoded.outcome == reply.outcome)
            #expect(decoded.worker == reply.worker)
            #expect(decoded.startedAt == reply.startedAt)
            #expect(decoded.finishedAt == reply.finishedAt)
        }

        @Test func resultTooDeepToBeReadIsRefusedOnWriting() throws {
            let fits = Reply(
                callID: "c",
                outcome: .result(ContractFixtures.nestedObject(depth: 127)),
                worker: "w",
                startedAt: Self.started,
                finishedAt: Self.finished
            )
            #expect(try Reply(decoding: fits.encoded()) == fits)
            let tooDeep = Reply(
                callID: "c",
                outcome: .result(ContractFixtures.nestedObject(depth: 128)),
                worker: "w",
                startedAt: Self.started,
                finishedAt: Self.finished
            )
            #expect(throws: EnvelopeError.malformed("reply nests deeper than 128 levels")) { try tooDeep.encoded() }
        }

        @Test func resultWithNonFiniteNumberIsRefusedOnWriting() {
            let reply = Reply(
                callID: "c",
                outcome: .result(["x": .double(.infinity)]),
                worker: "w",
                startedAt: Self.started,
                finishedAt: Self.finished
            )
            #expect(throws: EnvelopeError.self) { try reply.encoded() }
        }

        @Test func resultWireForm() throws {
            let object = try #require(try JSONValue(encoding: Self.replies[0]).objectValue)
            #expect(object["v"] == 1)
            #expect(object["outcome"] == "result")
            #expect(object["result"] == Self.toolResult)
            #expect(object["error"] == nil)
            #expect(object["startedAt"] == .integer(1_767_225_600_200))
            #expect(object["finishedAt"] == .integer(1_767_225_600_610))
            #expect(Self.replies[0].durationMilliseconds == 410)
        }

        @Test func errorWireForm() throws {
            let object = try #require(try JSONValue(encoding: Self.replies[2]).objectValue)
            #expect(object["outcome"] == "error")
            #expect(object["result"] == nil)
            #expect(object["error"] == ["code": "forbidden", "message": "no grant for server github", "detail": "tenant 9188040d has no access"])
        }

        @Test(
            arguments: [
                (#"{"v":2,"callId":"x"}"#, EnvelopeError.unsupportedVersion(2)),
                (#"{"v":1,"callId":"x","outcome":"maybe","worker":"w","startedAt":1,"finishedAt":2}"#, nil),
                (#"{"v":1,"callId":"x","outcome":"error","error":{"code":"teapot","message":"m"},"worker":"w","startedAt":1,"finishedAt":2}"#, nil),
                (#"{"v":1,"callId":"x","outcome":"result","worker":"w","startedAt":1,"finishedAt":2}"#, nil),
                ("", nil),
            ] as [(String, EnvelopeError?)]
        )
        func badReplyIsRefusedWithATypedError(json: String, expected: EnvelopeError?) {
            let error = #expect(throws: EnvelopeError.self) { try Reply(decoding: Array(json.utf8)) }
            if let expected {
                #expect(error == expected)
            } else if case .malformed = error {
            } else {
                Issue.record("expected .malformed, got \(String(describing: error))")
            }
        }
    }

    @Suite struct GatewayErrorCodeTests {
        @Test(arguments: [
            ("unauthenticated", 401), ("forbidden", 403), ("not_found", 404), ("bad_request", 400),
            ("payload_too_large", 413), ("unavailable", 503), ("deadline_exceeded", 504), ("backend_error", 502),
            ("authorization_unavailable", 503), ("invalid_envelope", 400), ("internal", 500), ("cancelled", 499),
            ("outcome_unknown", 409), ("idempotency_key_reused", 422), ("rate_limited", 429),
        ])
        func everyCodeHasAStableNameAndHTTPStatus(raw: String, status: Int) throws {
            let code = try #require(GatewayErrorCode(rawValue: raw))
            #expect(code.httpStatus == status)
            #expect(try JSONValue(encoding: code) == .string(raw))
        }

        @Test func theCodeSetIsExactlyTheDocumentedOne() {
            #expect(GatewayErrorCode.allCases.count == 15)
        }

        @Test func unknownCodeFailsDecoding() {
            #expect(throws: DecodingError.self) { try JSONValue.string("teapot").decode(as: GatewayErrorCode.self) }
        }
    }

    @Suite struct AuditRecordTests {
        @Test func requestRecordCarriesTheCallAndCaller() throws {
            let envelope = ContractFixtures.callEnvelope()
            let record = AuditRecord.request(envelope, at: ContractFixtures.issuedAt)
            #expect(record.type == .request)
            #expect(record.callID == envelope.callID)
            #expect(record.server == "github" && record.tool == "search_issues" && record.kind == .callTool)
            #expect(
                record.principal
                    == AuditRecord.Caller(
                        subject: ContractFixtures.principal.subject,
                        tenantID: ContractFixtures.principal.tenantID,
                        objectID: ContractFixtures.principal.objectID
                    )
            )
            #expect(record.outcome == nil && record.durationMilliseconds == nil && record.worker == nil)
            #expect(try AuditRecord(decoding: record.encoded()) == record)
        }

        @Test(arguments: ReplyTests.replies)
        func outcomeRecordRoundTripsEveryField(reply: Reply) throws {
            let envelope = ContractFixtures.callEnvelope()
            let record = AuditRecord.outcome(of: envelope, reply: reply, at: ReplyTests.finished)
            #expect(record.type == .outcome)
            #expect(record.worker == reply.worker)
            #expect(record.durationMilliseconds == reply.durationMilliseconds)
            switch reply.outcome {
            case .result: #expect(record.outcome == .ok)
            case .error(let error): #expect(record.outcome == .error(error.code))
            }
            #expect(try AuditRecord(decoding: record.encoded()) == record)
        }

        @Test func wireFormUsesTheDocumentedKeys() throws {
            let record = AuditRecord.outcome(of: ContractFixtures.callEnvelope(), reply: ReplyTests.replies[2], at: ReplyTests.finished)
            let object = try #require(try JSONValue(encoding: record).objectValue)
            #expect(Set(object.keys) == ["v", "type", "callId", "kind", "server", "tool", "principal", "outcome", "durationMs", "worker", "at"])
            #expect(object["type"] == "outcome")
            #expect(object["outcome"] == "forbidden")
            #expect(object["durationMs"] == 410)
            #expect(object["at"] == .integer(1_767_225_600_610))
            #expect(
                object["principal"] == [
                    "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ", "tid": "9188040d-6c67-4c5b-b112-36a304b66dad",
                    "oid": "00000000-0000-0000-66f3-3332eca7ea81",
                ]
            )
        }

        @Test func listRecordHasNoTool() throws {
            let object = try #require(try JSONValue(encoding: AuditRecord.request(ContractFixtures.listEnvelope(), at: .now)).objectValue)
            #expect(object["tool"] == nil)
            #expect(object["kind"] == "tools/list")
        }

        @Test func unknownVersionAndOutcomeAreRefused() {
            #expect(throws: EnvelopeError.unsupportedVersion(7)) { try AuditRecord(decoding: Array(#"{"v":7}"#.utf8)) }
            let json =
                #"{"v":1,"type":"outcome","callId":"c","kind":"tools/list","server":"s","principal":{"sub":"s","tid":"t"},"outcome":"meh","at":1}"#
            #expect(throws: EnvelopeError.self) { try AuditRecord(decoding: Array(json.utf8)) }
        }
    }
}
