import Testing
import TestSupport

@testable import Shared

@Suite struct GatewayTopologyTests {
    private func scratch() -> GatewayTopology { .scratch() }

    private func cleanUp(_ topology: GatewayTopology, servers: [String], on amqp: AMQPConnection) async {
        for server in servers { try? await amqp.deleteQueue(topology.queue(forServer: server)) }
        try? await amqp.deleteQueue(topology.catalogQueue)
        try? await amqp.deleteQueue(topology.auditStream)
        try? await amqp.deleteQueue(topology.deadLetterQueue)
        try? await amqp.deleteExchange(topology.requestsExchange)
        try? await amqp.deleteExchange(topology.deadLetterExchange)
    }

    @Test func onePublishLandsInTheServerQueueAndTheAuditStream() async throws {
        let topology = scratch()
        let declaration = topology.declaration(servers: ["github", "time"])
        try await AMQPTest.withConnection(topology: declaration) { amqp in
            // A second process declaring the same topology is fine (idempotent).
            try await AMQPTest.withConnection(topology: declaration) { _ in }
            do {
                try await amqp.publish(
                    Array("{\"call\":1}".utf8), exchange: topology.requestsExchange, routingKey: "github",
                    properties: AMQPProperties(persistent: true, messageID: "call-1")
                )
                #expect(try await amqp.queueStatus(topology.queue(forServer: "github")).messages == 1)
                #expect(try await amqp.queueStatus(topology.queue(forServer: "time")).messages == 0)

                var audit = try await amqp.consume(queue: topology.auditStream, prefetch: 10, arguments: ["x-stream-offset": "first"])
                    .makeAsyncIterator()
                let record = try await AMQPTest.next(&audit)
                #expect(record.properties.messageID == "call-1")
                #expect(record.routingKey == "github")
                #expect(record.streamOffset == 0)
                try await amqp.ack(record)
            } catch {
                await cleanUp(topology, servers: ["github", "time"], on: amqp)
                throw error
            }
            await cleanUp(topology, servers: ["github", "time"], on: amqp)
        }
    }

    @Test func serverQueuesAreQuorumWithDeliveryLimitAndDeadLetters() throws {
        var topology = GatewayTopology()
        topology.deliveryLimit = 5
        let queue = try #require(topology.servers(["notion"]).queues.last)
        #expect(queue.name == "mcp.server.notion")
        #expect(queue.durable)
        #expect(queue.arguments["x-queue-type"] == "quorum")
        #expect(queue.arguments["x-delivery-limit"] == 5)
        #expect(queue.arguments["x-dead-letter-exchange"] == "mcp.dlx")
    }

    @Test func classicQueuesCarryNoDeliveryLimit() throws {
        let topology = try GatewayTopology(environment: EnvironmentReader(["AMQP_QUEUE_TYPE": "classic"]))
        let queue = try #require(topology.servers(["notion"]).queues.last)
        #expect(queue.arguments["x-queue-type"] == "classic")
        #expect(queue.arguments["x-delivery-limit"] == nil)
    }

    @Test(arguments: [("AMQP_QUEUE_TYPE", "lazy"), ("AMQP_AUDIT_MAX_AGE", "forever"), ("AMQP_DELIVERY_LIMIT", "0")])
    func badSettingsNameTheirVariable(variable: String, value: String) {
        let error = #expect(throws: ConfigurationError.self) { try GatewayTopology(environment: EnvironmentReader([variable: value])) }
        #expect(error?.variable == variable)
    }

    @Test func changingTheQueueTypeOfAnExistingQueueIsAConfigurationError() async throws {
        let quorum = scratch()
        var classic = quorum
        classic.queueType = .classic
        try await AMQPTest.withConnection(topology: quorum.declaration(servers: ["git"])) { amqp in
            let error = await #expect(throws: AMQPError.self) { try await amqp.declare(classic.servers(["git"])) }
            #expect(error?.replyCode == 406)
            await cleanUp(quorum, servers: ["git"], on: amqp)
        }
    }
}
