import Foundation
import Logging
import ServiceLifecycle
import Shared
import Synchronization

/// The floor the queue imposes: an RPC over the same broker with the same client and the same
/// message shape as the gateway's, and no gateway logic at all.
///
/// A client connection publishes a persistent message with confirms to a scratch queue (of the
/// given type) and awaits the reply by direct reply-to on the same connection; a responder
/// consumes the queue on a connection of its own (prefetch as the worker's), publishes the body
/// back to `reply_to` with a confirm on a third connection and then acks, as the worker does.
/// No signing, no authentication, no database, no MCP backend.
///
/// With `gatewayLayout`, the messages take the broker path the gateway's take, still without
/// any gateway logic: requests go to a topic exchange that routes each one both to the server's
/// queue (with the gateway's queue arguments) and to an audit stream, and the responder, after
/// the reply, publishes an outcome record to that stream (confirmed) before it acks.
final class BareRPC: Sendable {
    let queueType: GatewayTopology.QueueType
    let gatewayLayout: Bool
    /// The broker objects of the gateway layout (only used with `gatewayLayout`).
    let topology: GatewayTopology
    let queue: String
    /// Where requests are published: the default exchange, or the layout's requests exchange.
    let exchange: String
    let routingKey: String
    let client: AMQPConnection
    let responderConsumer: AMQPConnection
    let responderPublisher: AMQPConnection
    let prefetch: UInt16
    private let waiters = Mutex<[String: Waiter]>([:])
    fileprivate let logger: Logger

    init(queueType: GatewayTopology.QueueType, gatewayLayout: Bool, amqpConfiguration: AMQPConfiguration, prefetch: Int, logger: Logger) {
        self.queueType = queueType
        self.gatewayLayout = gatewayLayout
        self.prefetch = UInt16(clamping: prefetch)
        self.logger = logger
        let name = "\(BenchmarkNames.runID).floor\(gatewayLayout ? "-layout" : "").\(queueType.rawValue)"
        var layout = GatewayTopology()
        layout.requestsExchange = "\(name).requests"
        layout.queuePrefix = "\(name).server."
        layout.queueType = queueType
        layout.catalogQueue = "\(name).catalog"
        layout.deadLetterExchange = "\(name).dlx"
        layout.deadLetterQueue = "\(name).dead"
        layout.auditStream = "\(name).audit"
        self.topology = layout
        let topology: AMQPTopology
        if gatewayLayout {
            queue = layout.queue(forServer: BenchmarkNames.server)
            exchange = layout.requestsExchange
            routingKey = BenchmarkNames.server
            topology = layout.declaration(servers: [BenchmarkNames.server])
        } else {
            queue = name
            exchange = ""
            routingKey = name
            topology = AMQPTopology(queues: [.init(name: queue, durable: true, arguments: ["x-queue-type": .string(queueType.rawValue)])])
        }
        func named(_ suffix: String) -> AMQPConfiguration {
            var configuration = amqpConfiguration
            configuration.connectionName = "\(name).\(suffix)"
            return configuration
        }
        client = AMQPConnection(configuration: named("client"), topology: topology, logger: logger)
        responderConsumer = AMQPConnection(configuration: named("consume"), topology: topology, logger: logger)
        responderPublisher = AMQPConnection(configuration: named("publish"), logger: logger)
    }

    /// In start order; a service group stops them in reverse.
    var services: [any Service] {
        [responderPublisher, responderConsumer, client, Responder(rpc: self), ReplyConsumer(rpc: self)]
    }

    func waitUntilReady(timeout: Duration) async throws {
        for connection in [client, responderConsumer, responderPublisher] { try await connection.waitUntilConnected(timeout: timeout) }
    }

    /// One round trip: publish `body` (confirmed), wait for the responder's reply.
    func call(_ body: [UInt8], timeout: Duration = .seconds(10)) async throws {
        let id = UUID().uuidString
        let waiter = Waiter()
        waiters.withLock { $0[id] = waiter }
        defer { _ = waiters.withLock { $0.removeValue(forKey: id) } }
        try await client.publish(
            body, exchange: exchange, routingKey: routingKey,
            properties: AMQPProperties(
                contentType: "application/json", persistent: true, correlationID: id, replyTo: AMQPConnection.directReplyTo, messageID: id
            ),
            mandatory: true
        )
        let reply = try await waiter.wait(timeout: timeout)
        guard reply.count == body.count else { throw BenchmarkError("the bare RPC reply has \(reply.count) bytes, not \(body.count)") }
    }

    /// Stands in for the worker's audit outcome record (about as long).
    private static let outcomeRecord = Array(#"{"type":"outcome","callId":"00000000-0000-0000-0000-000000000000","server":"bench","tool":"echo","outcome":"result","worker":"bench","durationMs":1}"#.utf8)

    /// Every queue and stream this floor declared.
    var queues: [String] {
        gatewayLayout ? [queue, topology.catalogQueue, topology.deadLetterQueue, topology.auditStream] : [queue]
    }

    var exchanges: [String] {
        gatewayLayout ? [topology.requestsExchange, topology.deadLetterExchange] : []
    }

    fileprivate func resolve(_ delivery: AMQPDelivery) {
        guard let id = delivery.properties.correlationID, let waiter = waiters.withLock({ $0[id] }) else { return }
        waiter.resolve(delivery.body)
    }

    fileprivate func respond(_ delivery: AMQPDelivery) async {
        do {
            guard let replyTo = delivery.properties.replyTo else { throw BenchmarkError("a floor request without reply_to") }
            try await responderPublisher.publish(
                delivery.body, exchange: "", routingKey: replyTo,
                properties: AMQPProperties(contentType: "application/json", correlationID: delivery.properties.correlationID),
                mandatory: false
            )
            if gatewayLayout {
                try await responderPublisher.publish(
                    Self.outcomeRecord, exchange: "", routingKey: topology.auditStream,
                    properties: AMQPProperties(contentType: "application/json", persistent: true, correlationID: delivery.properties.correlationID, type: "outcome"),
                    mandatory: true
                )
            }
            try await responderConsumer.ack(delivery)
        } catch {
            logger.error("Bare RPC responder failed", metadata: [LogKeys.error: "\(error)"])
        }
    }

    /// Consumes the client's direct replies until graceful shutdown.
    private struct ReplyConsumer: Service {
        let rpc: BareRPC

        func run() async throws {
            let replies = try await rpc.client.consumeDirectReplies()
            await cancelWhenGracefulShutdown {
                for await delivery in replies { rpc.resolve(delivery) }
            }
            try? await replies.cancel()
        }
    }

    /// Answers every request, one task per delivery, until graceful shutdown.
    private struct Responder: Service {
        let rpc: BareRPC

        func run() async throws {
            // A quorum queue declared a moment ago may refuse consumers until its Raft member has
            // started (RabbitMQ 3.10 answers INTERNAL_ERROR, and the client reconnects): retry.
            var attempt = 0
            let deliveries: AMQPConsumer
            while true {
                do {
                    deliveries = try await rpc.responderConsumer.consume(queue: rpc.queue, prefetch: rpc.prefetch)
                    break
                } catch {
                    attempt += 1
                    guard attempt < 40, !Task.isShuttingDownGracefully else { throw error }
                    rpc.logger.info("Bare RPC responder cannot consume yet; retrying", metadata: [LogKeys.error: "\(error)"])
                    try await Task.sleep(for: .milliseconds(250))
                    try await rpc.responderConsumer.waitUntilConnected(timeout: .seconds(10))
                }
            }
            await cancelWhenGracefulShutdown {
                await withDiscardingTaskGroup { group in
                    for await delivery in deliveries {
                        group.addTask { await rpc.respond(delivery) }
                    }
                }
            }
            try? await deliveries.cancel()
        }
    }
}

/// One caller waiting for its reply: resolved by the reply or by its timeout, whichever is first.
private final class Waiter: Sendable {
    private enum State {
        case waiting(CheckedContinuation<[UInt8], any Error>?)
        case done(Result<[UInt8], BenchmarkError>)
    }

    private let state = Mutex<State>(.waiting(nil))

    func resolve(_ body: [UInt8]) {
        finish(.success(body))
    }

    private func finish(_ result: Result<[UInt8], BenchmarkError>) {
        let continuation: CheckedContinuation<[UInt8], any Error>? = state.withLock { state in
            guard case .waiting(let continuation) = state else { return nil }
            state = .done(result)
            return continuation
        }
        continuation?.resume(with: result.mapError { $0 as any Error })
    }

    func wait(timeout: Duration) async throws -> [UInt8] {
        try await withThrowingTaskGroup(of: [UInt8].self) { group in
            group.addTask {
                try await withCheckedThrowingContinuation { continuation in
                    let early: Result<[UInt8], BenchmarkError>? = self.state.withLock { state in
                        switch state {
                        case .done(let result): return result
                        case .waiting:
                            state = .waiting(continuation)
                            return nil
                        }
                    }
                    if let early { continuation.resume(with: early.mapError { $0 as any Error }) }
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                self.finish(.failure(BenchmarkError("no bare RPC reply within \(timeout)")))
                throw BenchmarkError("no bare RPC reply within \(timeout)")
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }
}
