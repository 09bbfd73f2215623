import Foundation
import Logging
import ServiceLifecycle
import Shared

/// Receives the cancellation broadcast on this worker's own queue (declared with the consumer
/// connection's topology, so it is there again after every reconnect) and hands each verified
/// cancellation to the ``CancellationRegistry``. Unsigned or forged messages are dropped.
public struct CancellationListener: Service {
    let consumer: AMQPConnection
    let queue: String
    let signer: EnvelopeSigner
    let registry: CancellationRegistry
    let logger: Logger

    public init(consumer: AMQPConnection, queue: String, signer: EnvelopeSigner, registry: CancellationRegistry, logger: Logger) {
        self.consumer = consumer
        self.queue = queue
        self.signer = signer
        self.registry = registry
        self.logger = logger
    }

    public func run() async throws {
        try await cancelWhenGracefulShutdown { try await consumer.waitUntilConnected(timeout: .seconds(365 * 24 * 3600)) }
        guard !Task.isShuttingDownGracefully else { return }
        let deliveries: AMQPConsumer
        do {
            deliveries = try await consumer.consume(queue: queue, prefetch: 64, exclusive: true)
        } catch {
            logger.error("Cannot consume the cancellation queue; cancellations will not reach this worker", metadata: [LogKeys.queue: "\(queue)", LogKeys.error: "\(error)"])
            return
        }
        await cancelWhenGracefulShutdown {
            for await delivery in deliveries {
                handle(delivery)
                try? await consumer.ack(delivery)
            }
        }
        try? await deliveries.cancel()
    }

    private func handle(_ delivery: AMQPDelivery) {
        do {
            let message = try CancellationMessage(verifying: delivery.body, headers: RequestMessage.stringHeaders(of: delivery), signer: signer)
            registry.cancel(message.callID)
            logger.info("Call cancelled by the client", metadata: [LogKeys.callID: "\(message.callID)", "reason": "\(message.reason ?? "-")"])
        } catch {
            logger.warning("Cancellation message dropped", metadata: ["reason": "\(error.deadLetterReason)", LogKeys.error: "\(error)"])
        }
    }
}
