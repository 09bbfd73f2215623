import Foundation
import Shared
import Synchronization

/// Reads the audit stream over AMQP 0-9-1: a consumer with `x-stream-offset`, a prefetch, and
/// manual acks (batched with `multiple`, which is what gives a stream consumer more credit).
///
/// **Where the stream ends.** AMQP 0-9-1 does not tell a consumer it has caught up, and the
/// message count of a passive `queue.declare` on a stream is a metrics sample (refreshed every
/// few seconds), not the committed offset. So the reader first finds the newest record itself:
/// a probe consumer at `x-stream-offset: last` receives the stream's last chunk, and the
/// highest offset it delivers is the end (``lastOffset()``). The probe stops once deliveries
/// pause for ``probeIdle`` after the first one, or after ``probeFirstWait`` with none (an empty
/// stream). A bounded read then stops exactly at that offset: records written after the probe
/// are not part of this read, and nothing before it is skipped, however slow the broker is.
public struct AuditStreamReader: Sendable {
    public let connection: AMQPConnection
    public let stream: String
    /// Deliveries in flight per consumer; acks go back every quarter of it.
    public var prefetch: UInt16 = 2000
    /// How long the end probe waits for a first delivery before calling the stream empty.
    public var probeFirstWait: Duration = .seconds(2)
    /// How long deliveries must pause before the probe has the whole last chunk.
    public var probeIdle: Duration = .milliseconds(300)

    public init(connection: AMQPConnection, stream: String) {
        self.connection = connection
        self.stream = stream
    }

    /// Fails with ``AuditFailure/Code/missingStream`` when the stream does not exist.
    public func checkExists() async throws {
        do {
            _ = try await connection.queueStatus(stream)
        } catch {
            throw BrokerSession.failure(error, queue: stream)
        }
    }

    /// The offset of the newest record, or `nil` for an empty stream.
    public func lastOffset() async throws -> Int64? {
        let consumer: AMQPConsumer
        do {
            consumer = try await connection.consume(queue: stream, prefetch: prefetch, arguments: ["x-stream-offset": "last"])
        } catch {
            throw BrokerSession.failure(error, queue: stream)
        }
        let seen = WatchedState<(last: Int64?, at: ContinuousClock.Instant?)>((nil, nil))
        let connection = self.connection
        let batch = Int(max(1, prefetch / 4))
        let reading = Task {
            var count = 0
            for await delivery in consumer {
                seen.mutex.withLock { state in
                    state.last = max(state.last ?? -1, delivery.streamOffset ?? -1)
                    state.at = .now
                }
                count += 1
                if count % batch == 0 { try? await connection.ack(delivery, multiple: true) }
            }
        }
        let started = ContinuousClock.now
        while true {
            try await Task.sleep(for: .milliseconds(20))
            let at = seen.mutex.withLock { $0.at }
            if let at {
                if ContinuousClock.now - at >= probeIdle { break }
            } else if ContinuousClock.now - started >= probeFirstWait {
                break
            }
        }
        try? await consumer.cancel()
        await reading.value
        return seen.mutex.withLock { $0.last }
    }

    /// Reads from `start` (an `x-stream-offset` value) through offset `last` (inclusive), or
    /// for ever when `last` is `nil`, handing each entry to `body` until it returns `false`.
    /// Returns the offset of the last entry handed over.
    ///
    /// After a reconnect the client subscribes again from `start`; entries already handed over
    /// are skipped, so each offset reaches `body` once.
    @discardableResult
    public func read(
        start: AMQPFieldValue, through last: Int64?, _ body: (AuditEntry) async throws -> Bool
    ) async throws -> Int64? {
        try await readDeliveries(start: start, through: last) { delivery in
            try await body(AuditEntry(delivery: delivery))
        }
    }

    /// ``read(start:through:_:)`` without decoding: the deliveries themselves (the benchmark's
    /// bare consumer, and readers that need the raw body).
    @discardableResult
    public func readDeliveries(
        start: AMQPFieldValue, through last: Int64?, _ body: (AMQPDelivery) async throws -> Bool
    ) async throws -> Int64? {
        if let last, last < 0 { return nil }
        let consumer: AMQPConsumer
        do {
            consumer = try await connection.consume(queue: stream, prefetch: prefetch, arguments: ["x-stream-offset": start])
        } catch {
            throw BrokerSession.failure(error, queue: stream)
        }
        let batch = Int(max(1, prefetch / 4))
        var handed: Int64?
        var unacked = 0
        var stopped = false
        do {
            for await delivery in consumer {
                unacked += 1
                if unacked >= batch {
                    unacked = 0
                    try await connection.ack(delivery, multiple: true)
                }
                let offset = delivery.streamOffset ?? -1
                if let handed, offset <= handed { continue }
                if let last, offset > last {
                    stopped = true
                    break
                }
                let more = try await body(delivery)
                handed = offset
                if !more || offset >= (last ?? .max) {
                    stopped = true
                    break
                }
            }
        } catch {
            try? await consumer.cancel()
            throw error
        }
        try? await consumer.cancel()
        if !stopped, last != nil {
            throw AuditFailure(.brokerDown, "the broker connection closed at offset \(handed.map(String.init) ?? "none") before the read reached \(last!)")
        }
        return handed
    }
}
