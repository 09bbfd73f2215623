import Foundation
import Shared
import Synchronization

/// The dead-letter queue, read without taking anything off it: ``peek()`` holds every message
/// unacknowledged, and what is neither requeued nor purged returns to the queue when the
/// connection closes (in its order; quorum queues count the return in `x-delivery-count`).
public struct DeadLetterQueue: Sendable {
    public let connection: AMQPConnection
    public let queue: String
    public let codec: SignedEnvelopeCodec?
    /// How long to wait for the next message before taking the queue as read.
    public var idle: Duration = .seconds(2)

    public init(connection: AMQPConnection, queue: String, codec: SignedEnvelopeCodec?) {
        self.connection = connection
        self.queue = queue
        self.codec = codec
    }

    /// The messages on the queue now (up to 65535), held until the connection closes.
    public func peek() async throws -> [DeadLetter] {
        let count: UInt32
        do {
            count = try await connection.queueStatus(queue).messages
        } catch {
            throw BrokerSession.failure(error, queue: queue)
        }
        guard count > 0 else { return [] }
        let wanted = Int(min(count, UInt32(UInt16.max)))
        let consumer = try await connection.consume(queue: queue, prefetch: UInt16(wanted))
        let held = WatchedState<(deliveries: [AMQPDelivery], at: ContinuousClock.Instant)>(([], .now))
        let reading = Task {
            for await delivery in consumer {
                let done = held.mutex.withLock { state in
                    state.deliveries.append(delivery)
                    state.at = .now
                    return state.deliveries.count >= wanted
                }
                if done { break }
            }
        }
        while true {
            try await Task.sleep(for: .milliseconds(20))
            let (have, at) = held.mutex.withLock { ($0.deliveries.count, $0.at) }
            if have >= wanted || ContinuousClock.now - at >= idle { break }
        }
        try? await consumer.cancel()
        await reading.value
        return held.mutex.withLock { $0.deliveries }.map { DeadLetter($0, codec: codec) }
    }

    /// Publishes the original request again to `exchange` (routing key: its server), confirmed,
    /// then takes it off the dead-letter queue. The envelope is sent byte for byte with its
    /// signature; the broker's death headers are dropped and `x-requeued-at` added.
    public func requeue(_ letter: DeadLetter, exchange: String) async throws {
        guard let server = letter.server else {
            throw AuditFailure(.refused, "dead letter \(letter.callID) names no server; it cannot be requeued")
        }
        var properties = letter.delivery.properties
        for name in ["x-death", "x-first-death-reason", "x-first-death-queue", "x-first-death-exchange", "x-last-death-reason", "x-last-death-queue", "x-last-death-exchange", "x-delivery-count"] {
            properties.headers[name] = nil
        }
        properties.headers["x-requeued-at"] = .int(Date.now.millisecondsSince1970)
        if let request = letter.request { properties.expiration = ContractHeaders.expiration(deadline: request.deadline, now: .now) }
        try await connection.publish(letter.delivery.body, exchange: exchange, routingKey: server, properties: properties)
        try await connection.ack(letter.delivery)
    }

    /// Takes the message off the queue for good.
    public func purge(_ letter: DeadLetter) async throws {
        try await connection.ack(letter.delivery)
    }
}
