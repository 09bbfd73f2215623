import Crypto
import Foundation
import Shared
import TestSupport
import Testing

/// `mcpgw dead-letters` against a real gateway: a forged request the worker refused and a genuine
/// one the broker dead-lettered are listed with their reasons and whether they started; reading
/// takes nothing off the queue; only the genuine one is requeued (deliberately, with --yes), and
/// then runs once; purge removes for good.
@Suite struct DeadLetterCommandTests {
    @Test func deadLettersAreListedWithTheirReasonRequeuedOnPurposeAndPurged() async throws {
        let options = GatewayHarness.Options(servers: [try Fixtures.stdioServer("echo")], groupGrants: [("Team", "echo")])
        try await GatewayHarness.run(options) { gateway in
            let cli = try AuditCLI(gateway)
            let topology = gateway.topology
            let principal = Principal(subject: "carol", tenantID: "default", groups: ["Team"], authenticationMethod: .localDev)
            let replies = TestEnvironment.uniqueName("dl-replies")

            try await AMQPTest.withConnection(
                topology: AMQPTopology(queues: [.init(name: replies, durable: false, exclusive: true, arguments: ["x-queue-type": "classic"])])
            ) { amqp in
                // A forged request: no signature. The worker refuses it and the broker dead-letters it.
                let forgedID = UUID().uuidString.lowercased()
                let forged = RequestEnvelope(
                    callID: forgedID, kind: .callTool, server: "echo", tool: "echo", arguments: ["text": "forged"], principal: principal,
                    issuedAt: .now, deadline: .now.addingTimeInterval(300)
                )
                try await amqp.publish(
                    try ContractJSON.encodeMessage(forged, what: "envelope"), exchange: topology.requestsExchange, routingKey: "echo",
                    properties: AMQPProperties(correlationID: forgedID, replyTo: replies, messageID: forgedID)
                )
                // A genuine request, dead-lettered as the broker does one past its delivery limit.
                let genuineID = UUID().uuidString.lowercased()
                let genuine = RequestEnvelope(
                    callID: genuineID, kind: .callTool, server: "echo", tool: "echo", arguments: ["text": "requeued"], principal: principal,
                    issuedAt: .now, deadline: .now.addingTimeInterval(300)
                )
                let codec = SignedEnvelopeCodec(signer: EnvelopeSigner(currentKeyID: "e2e", currentKey: gateway.signingKey))
                let (body, signature) = try codec.encode(genuine)
                var properties = RequestMessage.properties(for: genuine, signatureHeaders: signature)
                properties.replyTo = replies
                properties.headers["x-first-death-reason"] = "delivery_limit"
                properties.headers["x-first-death-queue"] = .string(topology.queue(forServer: "echo"))
                try await amqp.publish(body, exchange: topology.deadLetterExchange, routingKey: "", properties: properties)
                _ = try await eventually(timeout: .seconds(20)) { () -> Bool? in
                    try await amqp.queueStatus(topology.deadLetterQueue).messages == 2 ? true : nil
                }

                // Listed with the broker's reason, the worker's verdict, and the ledger's.
                func listed() throws -> [String: JSONValue] {
                    let run = try cli("dead-letters", "list", "-o", "json")
                    #expect(run.status == 0, "\(run.error)")
                    return Dictionary(uniqueKeysWithValues: run.objects.compactMap { object in object["callId"]?.stringValue.map { ($0, object) } })
                }
                let letters = try listed()
                #expect(letters.count == 2)
                #expect(letters[forgedID]?["reason"]?.stringValue == "rejected")
                #expect(letters[forgedID]?["envelope"]?.stringValue == "envelope_unsigned")
                #expect(letters[forgedID]?["mayRun"]?.boolValue == false)
                #expect(letters[genuineID]?["reason"]?.stringValue == "delivery_limit")
                #expect(letters[genuineID]?["envelope"]?.stringValue == "valid")
                #expect(letters[genuineID]?["started"]?.boolValue == false)
                #expect(letters[genuineID]?["mayRun"]?.boolValue == true)
                let table = try cli("dead-letters", "list")
                #expect(table.output.contains("envelope_unsigned") && table.output.contains("delivery_limit"), "\(table.output)")

                // Without a terminal or --yes nothing is requeued; an unknown id is named.
                let unconfirmed = try cli("dead-letters", "requeue", "--all")
                #expect(unconfirmed.status == 10 && unconfirmed.error.contains("--yes"), "\(unconfirmed.error)")
                let unknown = try cli("dead-letters", "show", UUID().uuidString)
                #expect(unknown.status == 4 && unknown.error.contains("no dead letter"), "\(unknown.error)")
                #expect(try listed().count == 2, "reading took nothing off the queue")

                // Requeue: only the genuine one may run; it runs and answers on its reply queue.
                let requeued = try cli("dead-letters", "requeue", "--all", "--yes")
                #expect(requeued.status == 0, "\(requeued.error)")
                #expect(requeued.output.contains("skipped \(forgedID)") && requeued.output.contains("requeued \(genuineID)"), "\(requeued.output)")
                var answers = try await amqp.consume(queue: replies, prefetch: 10).makeAsyncIterator()
                var answer = try await AMQPTest.next(&answers)
                // The worker may also have answered the forged request (invalid_envelope) here.
                while answer.properties.correlationID != genuineID {
                    try await amqp.ack(answer)
                    answer = try await AMQPTest.next(&answers)
                }
                try await amqp.ack(answer)
                let reply = try Reply(decoding: answer.body)
                guard case .result = reply.outcome else {
                    Issue.record("the requeued call failed: \(reply.outcome)")
                    return
                }
                let ledger = try await gateway.database.query("SELECT count(*) AS n FROM call_executions WHERE call_id = \(genuineID)::uuid")
                #expect(try ledger[0].decode(Int.self, "n") == 1)
                #expect(Set(try listed().keys) == [forgedID])

                // Purge removes it for good.
                let purged = try cli("dead-letters", "purge", forgedID, "--yes")
                #expect(purged.status == 0 && purged.output.contains("purged \(forgedID)"), "\(purged.error)")
                let empty = try cli("dead-letters", "list")
                #expect(empty.status == 3 && empty.error.contains("empty"), "\(empty.error)")
            }
        }
    }
}
