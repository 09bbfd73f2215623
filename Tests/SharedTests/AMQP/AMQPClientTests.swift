import Foundation
import Testing
import TestSupport

@testable import Shared

/// The AMQP client against the real broker that `scripts/test.sh` starts. Each test declares
/// its own exchange and queue names, so tests run in parallel and rerun cleanly.
@Suite struct AMQPClientTests {
    @Test func publishedMessageIsConfirmedConsumedAndAcked() async throws {
        let (topology, exchange, queue) = AMQPTest.scratchTopology()
        try await AMQPTest.withConnection(topology: topology) { amqp in
            defer { Task { try? await amqp.deleteQueue(queue) } }
            var iterator = try await amqp.consume(queue: queue, prefetch: 10).makeAsyncIterator()
            let properties = AMQPProperties(
                contentType: "application/json", headers: ["x-tenant": "acme", "x-attempt": 3, "x-flag": true], persistent: true,
                correlationID: "call-1", replyTo: "somewhere", expiration: "60000", messageID: "call-1", timestamp: 1_700_000_000,
                type: "tools/call"
            )
            try await amqp.publish(Array("{\"hello\":\"world\"}".utf8), exchange: exchange, routingKey: "key", properties: properties)

            let delivery = try await AMQPTest.next(&iterator)
            #expect(String(decoding: delivery.body, as: UTF8.self) == "{\"hello\":\"world\"}")
            #expect(delivery.properties == properties)
            #expect(delivery.exchange == exchange)
            #expect(delivery.routingKey == "key")
            #expect(!delivery.redelivered)
            try await amqp.ack(delivery)

            try await Task.sleep(for: .milliseconds(200))
            let status = try await amqp.queueStatus(queue)
            #expect(status.messages == 0)
            #expect(status.consumers == 1)
        }
    }

    @Test func unroutableMandatoryPublishFailsWithNoRoute() async throws {
        let exchange = TestEnvironment.uniqueName("x-unbound")
        let topology = AMQPTopology(exchanges: [.init(name: exchange, kind: .direct, durable: false, autoDelete: false)])
        try await AMQPTest.withConnection(topology: topology) { amqp in
            defer { Task { try? await amqp.deleteExchange(exchange) } }
            let error = await #expect(throws: AMQPError.self) {
                try await amqp.publish(Array("lost".utf8), exchange: exchange, routingKey: "nobody", properties: AMQPProperties(messageID: "m1"))
            }
            #expect(error?.code == .noRoute)
            #expect(error?.replyCode == 312)
            // The connection is unharmed: a routable publish on it still succeeds.
            try await amqp.publish(Array("ok".utf8), exchange: "", routingKey: AMQPConnection.directReplyTo, mandatory: false)
        }
    }

    @Test func manyConcurrentPublishesAreAllConfirmed() async throws {
        let (topology, exchange, queue) = AMQPTest.scratchTopology()
        let count = 500
        try await AMQPTest.withConnection(topology: topology) { amqp in
            defer { Task { try? await amqp.deleteQueue(queue) } }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<count {
                    group.addTask {
                        try await amqp.publish(Array("\(index)".utf8), exchange: exchange, routingKey: "key", properties: AMQPProperties(messageID: "\(index)"))
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await amqp.queueStatus(queue).messages == UInt32(count))
        }
    }

    @Test func idleConnectionSurvivesSeveralHeartbeatIntervals() async throws {
        let (topology, exchange, queue) = AMQPTest.scratchTopology()
        try await AMQPTest.withConnection(try AMQPTest.configuration(heartbeat: 1), topology: topology) { amqp in
            defer { Task { try? await amqp.deleteQueue(queue) } }
            let generation = amqp.status.generation
            // Five 1-second heartbeat intervals with no traffic of ours: the broker drops a
            // client after two missed heartbeats, so only the thread's heartbeats keep this up.
            try await Task.sleep(for: .seconds(5))
            #expect(amqp.status.connected)
            #expect(amqp.status.generation == generation, "the connection was re-established: heartbeats were missed")
            try await amqp.publish(Array("still here".utf8), exchange: exchange, routingKey: "key")
        }
    }

    @Test func channelErrorFailsOneCallAndLeavesTheConnectionUp() async throws {
        let queue = TestEnvironment.uniqueName("q-args")
        try await AMQPTest.withConnection { amqp in
            try await amqp.declare(AMQPTopology(queues: [.init(name: queue, durable: false, arguments: ["x-max-length": 10])]))
            defer { Task { try? await amqp.deleteQueue(queue) } }
            let generation = amqp.status.generation
            let mismatch = await #expect(throws: AMQPError.self) {
                try await amqp.declare(AMQPTopology(queues: [.init(name: queue, durable: false, arguments: ["x-max-length": 20])]))
            }
            #expect(mismatch?.code == .channelClosed)
            #expect(mismatch?.replyCode == 406)

            let missing = await #expect(throws: AMQPError.self) { try await amqp.queueStatus(TestEnvironment.uniqueName("absent")) }
            #expect(missing?.replyCode == 404)

            #expect(amqp.status.generation == generation)
            #expect(try await amqp.queueStatus(queue).messages == 0)
        }
    }

    @Test func consumingAMissingQueueIsRefusedWith404() async throws {
        try await AMQPTest.withConnection { amqp in
            let error = await #expect(throws: AMQPError.self) {
                _ = try await amqp.consume(queue: TestEnvironment.uniqueName("absent"), prefetch: 1)
            }
            #expect(error?.replyCode == 404)
        }
    }

    @Test func directReplyToCarriesTheReplyBackByCorrelationID() async throws {
        let queue = TestEnvironment.uniqueName("q-rpc")
        let topology = AMQPTopology(queues: [.init(name: queue, durable: false, autoDelete: true)])
        try await AMQPTest.withConnection(topology: topology) { responder in
            try await AMQPTest.withConnection(topology: topology) { requester in
                let requests = try await responder.consume(queue: queue, prefetch: 1)
                let serving = Task {
                    for await request in requests {
                        let reply = AMQPProperties(correlationID: request.properties.correlationID)
                        try await responder.publish(
                            Array("re: ".utf8) + request.body, exchange: "", routingKey: request.properties.replyTo ?? "", properties: reply,
                            mandatory: false
                        )
                        try await responder.ack(request)
                    }
                }
                defer { serving.cancel() }
                var replies = try await requester.consumeDirectReplies().makeAsyncIterator()
                for index in 0..<3 {
                    let id = "call-\(index)"
                    try await requester.publish(
                        Array("ping \(index)".utf8), exchange: "", routingKey: queue,
                        properties: AMQPProperties(correlationID: id, replyTo: AMQPConnection.directReplyTo)
                    )
                    let reply = try await AMQPTest.next(&replies)
                    #expect(reply.properties.correlationID == id)
                    #expect(String(decoding: reply.body, as: UTF8.self) == "re: ping \(index)")
                }
            }
        }
    }

    @Test func messageIsDeadLetteredAfterTheDeliveryLimit() async throws {
        let dlx = TestEnvironment.uniqueName("dlx")
        let dlq = TestEnvironment.uniqueName("dlq")
        let queue = TestEnvironment.uniqueName("q-quorum")
        let topology = AMQPTopology(
            exchanges: [.init(name: dlx, kind: .fanout, durable: false, autoDelete: false)],
            queues: [
                .init(name: dlq, durable: false),
                .init(name: queue, durable: true, arguments: ["x-queue-type": "quorum", "x-delivery-limit": 2, "x-dead-letter-exchange": .string(dlx)]),
            ],
            bindings: [.init(queue: dlq, exchange: dlx, routingKey: "")]
        )
        try await AMQPTest.withConnection(topology: topology) { amqp in
            defer {
                Task {
                    try? await amqp.deleteQueue(queue)
                    try? await amqp.deleteQueue(dlq)
                    try? await amqp.deleteExchange(dlx)
                }
            }
            var deliveries = try await amqp.consume(queue: queue, prefetch: 1).makeAsyncIterator()
            try await amqp.publish(Array("poison".utf8), exchange: "", routingKey: queue, properties: AMQPProperties(messageID: "poison-1"))
            var counts: [Int] = []
            for _ in 0..<3 {
                let delivery = try await AMQPTest.next(&deliveries)
                counts.append(delivery.deliveryCount)
                try await amqp.nack(delivery, requeue: true)
            }
            #expect(counts == [0, 1, 2])
            let dead = try await eventually { try await amqp.get(queue: dlq) }
            #expect(dead.properties.messageID == "poison-1")
            #expect(dead.properties.headers["x-first-death-reason"]?.stringValue == "delivery_limit")
        }
    }

    @Test func expiredRequestIsDeadLetteredUnprocessed() async throws {
        let dlx = TestEnvironment.uniqueName("dlx")
        let dlq = TestEnvironment.uniqueName("dlq")
        let queue = TestEnvironment.uniqueName("q-ttl")
        let topology = AMQPTopology(
            exchanges: [.init(name: dlx, kind: .fanout, durable: false, autoDelete: false)],
            queues: [
                .init(name: dlq, durable: false),
                .init(name: queue, durable: true, arguments: ["x-queue-type": "quorum", "x-dead-letter-exchange": .string(dlx)]),
            ],
            bindings: [.init(queue: dlq, exchange: dlx, routingKey: "")]
        )
        try await AMQPTest.withConnection(topology: topology) { amqp in
            defer {
                Task {
                    try? await amqp.deleteQueue(queue)
                    try? await amqp.deleteQueue(dlq)
                    try? await amqp.deleteExchange(dlx)
                }
            }
            try await amqp.publish(
                Array("late".utf8), exchange: "", routingKey: queue, properties: AMQPProperties(expiration: "100", messageID: "late-1")
            )
            let dead = try await eventually { try await amqp.get(queue: dlq) }
            #expect(dead.properties.messageID == "late-1")
            #expect(dead.properties.headers["x-first-death-reason"]?.stringValue == "expired")
            #expect(try await amqp.queueStatus(queue).messages == 0)
        }
    }

    @Test func cancelledConsumerEndsItsSequence() async throws {
        let (topology, _, queue) = AMQPTest.scratchTopology()
        try await AMQPTest.withConnection(topology: topology) { amqp in
            defer { Task { try? await amqp.deleteQueue(queue) } }
            let consumer = try await amqp.consume(queue: queue, prefetch: 1)
            try await amqp.publish(Array("one".utf8), exchange: "", routingKey: queue)
            var iterator = consumer.makeAsyncIterator()
            let first = try await AMQPTest.next(&iterator)
            try await amqp.ack(first)
            try await consumer.cancel()
            #expect(await iterator.next() == nil)
            #expect(try await amqp.queueStatus(queue).consumers == 0)
        }
    }

    @Test func aConsumerCancelledByTheBrokerResubscribesWhenItsQueueReturns() async throws {
        let queue = TestEnvironment.uniqueName("q-cancel")
        let declaration = AMQPTopology(queues: [.init(name: queue, durable: false)])
        try await AMQPTest.withConnection(topology: declaration) { amqp in
            var deliveries = try await amqp.consume(queue: queue, prefetch: 1).makeAsyncIterator()
            // Another client deletes the queue: the broker cancels our consumer (basic.cancel).
            try await AMQPTest.withConnection { other in
                try await other.deleteQueue(queue)
                try await Task.sleep(for: .milliseconds(300))
                try await other.declare(declaration)
                try await other.publish(Array("after".utf8), exchange: "", routingKey: queue)
            }
            let delivery = try await AMQPTest.next(&deliveries, timeout: .seconds(30))
            #expect(String(decoding: delivery.body, as: UTF8.self) == "after")
            try await amqp.ack(delivery)
            try await amqp.deleteQueue(queue)
        }
    }
}
