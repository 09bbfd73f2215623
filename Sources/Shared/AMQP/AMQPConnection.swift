import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// A recovering AMQP 0-9-1 connection over librabbitmq, for async Swift code.
///
/// The connection lives on its own OS thread (see `AMQPConnectionCore`); this type only
/// queues work for that thread. It is a `Service`: nothing connects until `run()` is called,
/// and `run()` returns after graceful shutdown or cancellation has closed the connection.
///
/// While running it keeps itself connected: on any failure it reconnects with exponential
/// backoff and jitter, declares its topology again, re-enables publisher confirms and
/// re-creates every consumer. Publishes that were not yet confirmed when the connection broke
/// fail with ``AMQPError/Code-swift.struct/connectionLost``; the caller decides whether to
/// retry (the broker may have routed them).
///
/// ```swift
/// let amqp = AMQPConnection(configuration: config, topology: topology, logger: logger)
/// // in a ServiceGroup, or: async let running: Void = amqp.run()
/// try await amqp.waitUntilConnected(timeout: .seconds(10))
/// try await amqp.publish(body, exchange: "mcp.requests", routingKey: "github", properties: props)
/// ```
public final class AMQPConnection: Service, Sendable {
    private let core: AMQPConnectionCore
    private let consumerSequence = Atomic<UInt64>(0)

    public var configuration: AMQPConfiguration { core.configuration }

    public init(configuration: AMQPConfiguration, topology: AMQPTopology = AMQPTopology(), logger: Logger) {
        self.core = AMQPConnectionCore(configuration: configuration, topology: topology, logger: logger)
    }

    /// Connects, keeps the connection up, and closes it on graceful shutdown or cancellation.
    public func run() async {
        core.start()
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                await core.waitForExit()
            } onCancel: {
                core.requestClose()
            }
        } onGracefulShutdown: {
            self.core.requestClose()
        }
    }

    /// Closes the connection (consumers end, unconfirmed publishes fail) and waits until it is.
    public func close() async {
        core.requestClose()
        await core.waitForExit()
    }

    /// Waits until a connection is established, or fails with `notConnected` (naming the last
    /// connection error) after `timeout`.
    public func waitUntilConnected(timeout: Duration) async throws {
        try await core.waitUntilConnected(timeout: timeout)
    }

    public var status: AMQPConnectionStatus {
        core.published.withLock { $0.status }
    }

    /// Calls `observer` on the connection's thread for every state change until removed.
    @discardableResult
    public func addObserver(_ observer: @escaping @Sendable (AMQPConnectionEvent) -> Void) -> UInt64 {
        core.addObserver(observer)
    }

    public func removeObserver(_ id: UInt64) {
        core.removeObserver(id)
    }

    // MARK: Publishing

    /// Publishes a message and waits for the broker's confirm.
    ///
    /// - Parameters:
    ///   - mandatory: when `true` (the default), a message no queue receives fails with
    ///     `noRoute` instead of vanishing.
    ///   - timeout: how long to wait for the confirm (default: the configuration's
    ///     `publishTimeout`); past it the publish fails with `publishTimeout`.
    /// - Throws: ``AMQPError`` with `noRoute`, `nacked`, `blocked` (fails fast while the broker
    ///   blocks publishers), `notConnected`, `connectionLost`, `publishTimeout`, `closed`.
    public func publish(
        _ body: [UInt8],
        exchange: String,
        routingKey: String,
        properties: AMQPProperties = AMQPProperties(),
        mandatory: Bool = true,
        timeout: Duration? = nil
    ) async throws {
        let timeout = timeout ?? core.configuration.publishTimeout
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let accepted = core.submit { core throws(AMQPError) in
                try core.publish(
                    body: body, exchange: exchange, routingKey: routingKey, properties: properties, mandatory: mandatory, timeout: timeout,
                    continuation: continuation
                )
            }
            if !accepted { continuation.resume(throwing: AMQPError(.closed, "the AMQP client is closed")) }
        }
    }

    // MARK: Consuming

    /// Starts consuming `queue` with manual acknowledgement and a per-consumer `prefetch`.
    ///
    /// The consumer survives reconnects and broker-initiated cancels (it is re-created). If the
    /// connection is up, a refusal (no such queue, 404) is thrown here; otherwise the consumer
    /// starts once connected. Ending iteration, or ``AMQPConsumer/cancel()``, cancels it.
    public func consume(queue: String, prefetch: UInt16, arguments: AMQPTable = [:], exclusive: Bool = false) async throws -> AMQPConsumer {
        try await startConsumer(queue: queue, prefetch: prefetch, arguments: arguments, noAck: false, exclusive: exclusive, onPublishChannel: false)
    }

    /// Consumes replies sent to `amq.rabbitmq.reply-to` (direct reply-to). Requests must carry
    /// `replyTo: "amq.rabbitmq.reply-to"` and be published through this same connection.
    /// Replies need no acknowledgement, and those addressed to an earlier connection are lost.
    public func consumeDirectReplies() async throws -> AMQPConsumer {
        try await startConsumer(queue: Self.directReplyTo, prefetch: 0, arguments: [:], noAck: true, exclusive: false, onPublishChannel: true)
    }

    /// The pseudo-queue of RabbitMQ's direct reply-to.
    public static let directReplyTo = "amq.rabbitmq.reply-to"

    private func startConsumer(
        queue: String, prefetch: UInt16, arguments: AMQPTable, noAck: Bool, exclusive: Bool, onPublishChannel: Bool
    ) async throws -> AMQPConsumer {
        let sequence = consumerSequence.wrappingAdd(1, ordering: .relaxed).newValue
        let tag = "\(core.configuration.connectionName).\(sequence).\(UUID().uuidString.prefix(8))"
        let (stream, continuation) = AsyncStream.makeStream(of: AMQPDelivery.self)
        let registration = ConsumerRegistration(
            tag: tag, queue: queue, prefetch: prefetch, arguments: arguments, noAck: noAck, exclusive: exclusive,
            onPublishChannel: onPublishChannel, sequence: sequence, continuation: continuation
        )
        try await core.perform { core throws(AMQPError) in try core.addConsumer(registration) }
        let core = self.core
        continuation.onTermination = { _ in
            core.submit { core throws(AMQPError) in try core.cancelConsumer(tag: tag) }
        }
        return AMQPConsumer(tag: tag, queue: queue, stream: stream, connection: self)
    }

    func cancelConsumer(tag: String) async throws {
        try await core.perform { core throws(AMQPError) in try core.cancelConsumer(tag: tag) }
    }

    func pauseConsumer(tag: String) async throws {
        try await core.perform { core throws(AMQPError) in try core.pauseConsumer(tag: tag) }
    }

    func resumeConsumer(tag: String) async throws {
        try await core.perform { core throws(AMQPError) in try core.resumeConsumer(tag: tag) }
    }

    /// Acknowledges a delivery on the channel it came from.
    public func ack(_ delivery: AMQPDelivery, multiple: Bool = false) async throws {
        try await core.perform { core throws(AMQPError) in try core.acknowledge(delivery, .ack(multiple: multiple)) }
    }

    /// Negatively acknowledges a delivery: requeued, or dead-lettered when `requeue` is false.
    public func nack(_ delivery: AMQPDelivery, requeue: Bool) async throws {
        try await core.perform { core throws(AMQPError) in try core.acknowledge(delivery, .nack(requeue: requeue)) }
    }

    public func reject(_ delivery: AMQPDelivery, requeue: Bool) async throws {
        try await core.perform { core throws(AMQPError) in try core.acknowledge(delivery, .reject(requeue: requeue)) }
    }

    // MARK: Topology

    /// Declares more topology now, and again after every reconnect.
    public func declare(_ topology: AMQPTopology) async throws {
        try await core.perform { core throws(AMQPError) in try core.declare(topology, remember: true) }
    }

    /// Message and consumer counts of an existing queue; `channelClosed` with 404 if it is missing.
    public func queueStatus(_ queue: String) async throws -> AMQPQueueStatus {
        try await core.perform { core throws(AMQPError) in try core.queueStatus(queue) }
    }

    /// Deletes a queue (and forgets it, so reconnects do not declare it again).
    public func deleteQueue(_ queue: String) async throws {
        try await core.perform { core throws(AMQPError) in try core.deleteQueue(queue) }
    }

    public func deleteExchange(_ exchange: String) async throws {
        try await core.perform { core throws(AMQPError) in try core.deleteExchange(exchange) }
    }

    /// Takes one message off `queue` (acknowledged at once), or `nil` when it is empty.
    /// For inspection (dead letters); workers use ``consume(queue:prefetch:arguments:exclusive:)``.
    public func get(queue: String) async throws -> AMQPDelivery? {
        try await core.perform { core throws(AMQPError) in try core.get(queue) }
    }
}

/// The deliveries of one consumer, in order. Iterate once.
public struct AMQPConsumer: AsyncSequence, Sendable {
    public typealias Element = AMQPDelivery

    public let tag: String
    public let queue: String
    private let stream: AsyncStream<AMQPDelivery>
    private let connection: AMQPConnection

    init(tag: String, queue: String, stream: AsyncStream<AMQPDelivery>, connection: AMQPConnection) {
        self.tag = tag
        self.queue = queue
        self.stream = stream
        self.connection = connection
    }

    public func makeAsyncIterator() -> AsyncStream<AMQPDelivery>.AsyncIterator {
        stream.makeAsyncIterator()
    }

    /// Stops new deliveries (`basic.cancel`) and ends the sequence. Deliveries already handed
    /// out can still be acknowledged on their channel, which closes once they all are; any left
    /// unacknowledged return to the queue when the connection closes.
    public func cancel() async throws {
        try await connection.cancelConsumer(tag: tag)
    }

    /// Stops new deliveries (`basic.cancel`) but keeps the sequence open, across reconnects,
    /// until ``resume()``. Deliveries already handed out can still be acknowledged.
    public func pause() async throws {
        try await connection.pauseConsumer(tag: tag)
    }

    /// Subscribes again after ``pause()``.
    public func resume() async throws {
        try await connection.resumeConsumer(tag: tag)
    }
}
