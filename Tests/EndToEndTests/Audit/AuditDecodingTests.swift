import Foundation
import Shared
import Testing

@testable import Audit

/// The bulk decoding path reads exactly what the contract's decoders read, and declines (so the
/// contract decoder decides) whatever it does not recognise.
@Suite struct AuditDecodingTests {
    static let principal = Principal(
        subject: "s-1", objectID: "o-1", tenantID: "t-1", userName: "ann@example.com", groups: ["G"], authenticationMethod: .localDev
    )

    @Test(arguments: [
        JSONValue.object([:]),
        ["text": "plain"],
        ["text": "a, \"quoted\"\n\t\\ line / é 😀 \u{1}"],
        ["id": .integer(9_007_199_254_740_993), "neg": .integer(-5), "ratio": .double(0.25), "big": .double(1e300)],
        ["nested": ["list": [.null, .bool(true), .bool(false), ["deep": "x"]]], "empty": .array([])],
    ])
    func aRequestReadsAsTheContractReadsIt(arguments: JSONValue) throws {
        let envelope = RequestEnvelope(
            kind: .callTool, server: "echo", tool: "echo", arguments: arguments, principal: Self.principal, issuedAt: .now,
            deadline: .now.addingTimeInterval(30), idempotencyKey: "k-1"
        )
        let body = try ContractJSON.encodeMessage(envelope, what: "envelope")
        let fast = try #require(AuditFastDecoding.request(body, offset: 7))
        #expect(fast == AuditEntry(offset: 7, envelope: try ContractJSON.decodeMessage(RequestEnvelope.self, from: body)))
    }

    @Test func anOutcomeReadsAsTheContractReadsIt() throws {
        let reply = Reply(
            callID: UUID().uuidString.lowercased(), outcome: .error(GatewayError(.backendError, "down", mayHaveRun: true)), worker: "w-1",
            startedAt: .now, finishedAt: .now
        )
        let record = AuditRecord.outcome(callID: reply.callID, kind: .callTool, server: "echo", tool: nil, principal: .init(Self.principal), reply: reply)
        let body = try record.encoded()
        let fast = try #require(AuditFastDecoding.outcome(body, offset: 3))
        #expect(fast == AuditEntry(offset: 3, record: try AuditRecord(decoding: body)))
        #expect(fast.outcome == "backend_error" && fast.mayHaveRun == true)
    }

    @Test(arguments: [
        #"{"v":2,"callId":"c","kind":"tools/call","server":"s","principal":{"sub":"a","tid":"t"},"issuedAt":1,"deadline":2,"arguments":{}}"#,
        #"{"v":1,"callId":"c","kind":"tools/teleport","server":"s","principal":{"sub":"a","tid":"t"},"issuedAt":1,"deadline":2,"arguments":{}}"#,
        #"{"v":1,"callId":"c","kind":"tools/call","server":"s","principal":{"sub":"a"},"issuedAt":1,"deadline":2,"arguments":{}}"#,
        #"{"v":1,"callId":"c","kind":"tools/call","server":"s","principal":{"sub":"a","tid":"t"},"issuedAt":1,"deadline":2,"arguments":{}"#,
        #"{"v":1,"callId":"c\u0"}"#, #"{"v":01}"#, #"{"v":1,}"#, "[1 2]", "{\"v\":\"\u{1}\"}", "",
    ])
    func whatItDoesNotRecogniseIsLeftToTheContractDecoder(body: String) {
        #expect(AuditFastDecoding.request(Array(body.utf8), offset: 0) == nil)
    }

    @Test func invalidUTF8AndExcessiveNestingAreDeclined() {
        #expect(JSONBytes.parse([0x22, 0xFF, 0x22]) == nil)
        #expect(JSONBytes.parse(Array((String(repeating: "[", count: 200) + String(repeating: "]", count: 200)).utf8)) == nil)
        #expect(JSONBytes.parse(Array(#"{"a":[1,2.5,-3e2,"\ud83d\ude00"]}"#.utf8)) == ["a": [.integer(1), .double(2.5), .double(-300), "😀"]])
    }

    @Test(arguments: [Int64(0), 1_765_101_600_250, 1_765_101_600_005, -1, -86_400_001, 253_402_300_799_999])
    func timesPrintAsISO8601WithMilliseconds(milliseconds: Int64) {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let date = Date(millisecondsSince1970: milliseconds)
        #expect(AuditTime.format(date) == formatter.string(from: date))
        #expect(AuditTime.parseISO(AuditTime.format(date)) == date)
    }
}
