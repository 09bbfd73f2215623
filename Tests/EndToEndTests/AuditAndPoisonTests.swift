import Foundation
import Shared
import TestSupport
import Testing
import Worker

/// Everything executed is on the audit stream; messages that are not genuine envelopes are
/// dead-lettered and never run.
@Suite struct AuditAndPoisonTests {
    static func options() throws -> GatewayHarness.Options {
        GatewayHarness.Options(servers: [try Fixtures.stdioServer("echo")], groupGrants: [("Team", "echo")])
    }

    @Test func aCallLeavesItsRequestAndItsOutcomeOnTheAuditStream() async throws {
        try await GatewayHarness.run(try Self.options()) { gateway in
            let answer = try await gateway.post("/servers/echo/tools/echo", token: gateway.token(subject: "auditee", groups: ["Team"]), json: #"{"text":"audit me"}"#)
            #expect(answer.status == 200)
            let callID = try #require(answer.headers["x-call-id"])

            try await AMQPTest.withConnection { amqp in
                var records = try await amqp.consume(queue: gateway.topology.auditStream, prefetch: 50, arguments: ["x-stream-offset": "first"])
                    .makeAsyncIterator()
                var request: AMQPDelivery?
                var outcome: AuditRecord?
                while request == nil || outcome == nil {
                    let record = try await AMQPTest.next(&records)
                    try await amqp.ack(record)
                    if record.properties.messageID == callID { request = record }
                    if record.properties.type == "outcome", record.properties.correlationID == callID { outcome = try AuditRecord(decoding: record.body) }
                }
                let envelope = try RequestEnvelope(from: request!)
                #expect(envelope.principal.subject == "auditee")
                #expect(envelope.tool == "echo")
                #expect(outcome?.principal.subject == "auditee")
                #expect(outcome?.outcome?.rawValue == "ok")
                #expect(outcome?.worker == "e2e-worker-0")
            }
        }
    }

    @Test(arguments: ["unsigned", "tampered", "garbage"])
    func aForgedRequestIsDeadLetteredAndNeverRun(kind: String) async throws {
        try await GatewayHarness.run(try Self.options()) { gateway in
            let callID = UUID().uuidString.lowercased()
            let principal = Principal(subject: "mallory", tenantID: "default", groups: ["Team"], authenticationMethod: .localDev)
            let envelope = RequestEnvelope(
                callID: callID, kind: .callTool, server: "echo", tool: "echo", arguments: ["text": "forged"], principal: principal,
                issuedAt: .now, deadline: .now.addingTimeInterval(30)
            )
            var body = try ContractJSON.encodeMessage(envelope, what: "envelope")
            var headers: AMQPTable = [:]
            switch kind {
            case "unsigned": break
            case "tampered":
                headers = ["x-signature-key-id": "e2e", "x-signature": .string(Data(repeating: 7, count: 32).base64EncodedString())]
            default: body = Array("{not json".utf8)
            }
            try await AMQPTest.withConnection { amqp in
                try await amqp.publish(
                    body, exchange: gateway.topology.requestsExchange, routingKey: "echo",
                    properties: AMQPProperties(headers: headers, correlationID: callID, replyTo: "forged-reply-queue", messageID: callID)
                )
                let dead = try await eventually(timeout: .seconds(20)) { try await amqp.get(queue: gateway.topology.deadLetterQueue) }
                #expect(dead.properties.messageID == callID)
                #expect(dead.properties.headers["x-first-death-reason"]?.stringValue == "rejected")
            }
            // It never ran: no worker wrote an outcome for it.
            let ledger = try await gateway.database.query("SELECT count(*) AS n FROM call_executions WHERE call_id = \(callID)::uuid")
            #expect(try ledger[0].decode(Int.self, "n") == 0)
        }
    }
}

extension RequestEnvelope {
    /// Reads an envelope as the audit stream holds it (signature not checked: inspection only).
    init(from delivery: AMQPDelivery) throws {
        self = try ContractJSON.decodeMessage(RequestEnvelope.self, from: delivery.body)
    }
}
