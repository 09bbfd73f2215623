import Foundation
import Testing
import TestSupport

@testable import Shared

/// What a worker's graceful shutdown and its publisher outages rely on: a cancelled consumer's
/// deliveries can still be acknowledged on their channel, and a paused consumer takes nothing
/// until resumed, without losing its sequence.
@Suite struct AMQPConsumerLifecycleTests {
    @Test func deliveriesOfACancelledConsumerCanStillBeAcknowledged() async throws {
        let (topology, exchange, queue) = AMQPTest.scratchTopology()
        try await AMQPTest.withConnection(topology: topology) { amqp in
            defer { Task { try? await amqp.deleteQueue(queue) } }
            let consumer = try await amqp.consume(queue: queue, prefetch: 5)
            var iterator = consumer.makeAsyncIterator()
            for index in 0..<5 {
                try await amqp.publish(Array("\(index)".utf8), exchange: exchange, routingKey: "key", properties: AMQPProperties(messageID: "\(index)"))
            }
            var held: [AMQPDelivery] = []
            for _ in 0..<5 { held.append(try await AMQPTest.next(&iterator)) }

            // basic.cancel only: no new deliveries, and the held ones stay ackable.
            try await consumer.cancel()
            try await amqp.publish(Array("after".utf8), exchange: exchange, routingKey: "key", properties: AMQPProperties(messageID: "after"))
            for delivery in held { try await amqp.ack(delivery) }

            try await Task.sleep(for: .milliseconds(300))
            let status = try await amqp.queueStatus(queue)
            #expect(status.consumers == 0)
            #expect(status.messages == 1, "the five acked ones are gone; the one published after the cancel waits")
        }
    }

    @Test func aPausedConsumerTakesNothingUntilResumed() async throws {
        let (topology, exchange, queue) = AMQPTest.scratchTopology()
        try await AMQPTest.withConnection(topology: topology) { amqp in
            defer { Task { try? await amqp.deleteQueue(queue) } }
            let consumer = try await amqp.consume(queue: queue, prefetch: 5)
            var iterator = consumer.makeAsyncIterator()
            try await amqp.publish(Array("first".utf8), exchange: exchange, routingKey: "key", properties: AMQPProperties(messageID: "first"))
            let first = try await AMQPTest.next(&iterator)

            try await consumer.pause()
            // Held while paused: still ackable.
            try await amqp.ack(first)
            try await amqp.publish(Array("second".utf8), exchange: exchange, routingKey: "key", properties: AMQPProperties(messageID: "second"))
            try await Task.sleep(for: .milliseconds(500))
            let paused = try await amqp.queueStatus(queue)
            #expect(paused.consumers == 0)
            #expect(paused.messages == 1)

            try await consumer.resume()
            let second = try await AMQPTest.next(&iterator)
            #expect(second.properties.messageID == "second")
            try await amqp.ack(second)
            #expect(try await amqp.queueStatus(queue).consumers == 1)
        }
    }
}
