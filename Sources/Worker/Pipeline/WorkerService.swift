import Foundation
import Logging
import ServiceLifecycle
import Shared
import Synchronization

/// Consumes the catalog queue and the request queue of every server this worker serves, and
/// runs each delivery through the ``RequestProcessor``.
///
/// New catalog entries are picked up every `catalogRefresh`. On graceful shutdown the consumers
/// are cancelled first (no new work), in-flight calls get up to `shutdownGrace` to finish and be
/// acknowledged, and anything unfinished returns to its queue when the connection closes.
public final class WorkerService: Service, Sendable {
    private let configuration: WorkerConfiguration
    private let consumer: AMQPConnection
    private let topology: GatewayTopology
    private let catalog: ServerCatalog
    private let processor: RequestProcessor
    private let metrics: WorkerMetrics
    private let logger: Logger
    private let consumers = Mutex<[String: AMQPConsumer]>([:])

    public init(
        configuration: WorkerConfiguration, consumer: AMQPConnection, topology: GatewayTopology, catalog: ServerCatalog,
        processor: RequestProcessor, metrics: WorkerMetrics, logger: Logger
    ) {
        self.configuration = configuration
        self.consumer = consumer
        self.topology = topology
        self.catalog = catalog
        self.processor = processor
        self.metrics = metrics
        self.logger = logger
    }

    /// The queues this worker consumes right now (catalog first).
    public var consumedQueues: [String] {
        consumers.withLock { Array($0.keys) }.sorted()
    }

    public func run() async throws {
        try await cancelWhenGracefulShutdown { try await self.consumer.waitUntilConnected(timeout: .seconds(365 * 24 * 3600)) }
        await withDiscardingTaskGroup { group in
            await startConsuming(queue: topology.catalogQueue, group: &group)
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                await refreshServers(group: &group)
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.configuration.catalogRefresh) }
            }
            await stopConsuming()
            await waitForInFlight()
            // Past the grace period: cancel what still runs; unacked deliveries return to their queues.
            group.cancelAll()
        }
    }

    private func refreshServers(group: inout DiscardingTaskGroup) async {
        let wanted: [String]
        if configuration.servers.isEmpty {
            do {
                wanted = try await catalog.all().filter(\.enabled).map(\.id)
            } catch {
                logger.warning("Server catalog unavailable; keeping current consumers", metadata: [LogKeys.error: "\(error)"])
                return
            }
        } else {
            wanted = configuration.servers
        }
        for server in wanted where consumers.withLock({ $0[topology.queue(forServer: server)] == nil }) {
            do {
                try await consumer.declare(topology.servers([server]))
            } catch {
                logger.error("Cannot declare the queue of a server", metadata: [LogKeys.server: "\(server)", LogKeys.error: "\(error)"])
                continue
            }
            await startConsuming(queue: topology.queue(forServer: server), group: &group)
        }
    }

    private func startConsuming(queue: String, group: inout DiscardingTaskGroup) async {
        let deliveries: AMQPConsumer
        do {
            deliveries = try await consumer.consume(queue: queue, prefetch: UInt16(clamping: configuration.concurrency))
        } catch {
            logger.error("Cannot consume a request queue", metadata: [LogKeys.queue: "\(queue)", LogKeys.error: "\(error)"])
            return
        }
        consumers.withLock { $0[queue] = deliveries }
        logger.info("Consuming", metadata: [LogKeys.queue: "\(queue)", "prefetch": "\(configuration.concurrency)"])
        group.addTask {
            await withDiscardingTaskGroup { calls in
                for await delivery in deliveries {
                    calls.addTask { await self.handle(delivery) }
                }
            }
        }
    }

    private let inFlight = Atomic<Int>(0)

    private func handle(_ delivery: AMQPDelivery) async {
        inFlight.wrappingAdd(1, ordering: .relaxed)
        defer { inFlight.wrappingSubtract(1, ordering: .relaxed) }
        let started = ContinuousClock.now
        let disposition = await processor.process(delivery)
        metrics.processed(queue: delivery.routingKey, disposition: disposition, duration: started.duration(to: .now))
        do {
            switch disposition {
            case .ack: try await consumer.ack(delivery)
            case .deadLetter: try await consumer.nack(delivery, requeue: false)
            case .requeue: try await consumer.nack(delivery, requeue: true)
            }
        } catch {
            // The broker requeues it by itself (channel gone); the call ledger keeps it from running twice.
            logger.warning("Acknowledgement failed", metadata: [LogKeys.callID: "\(delivery.properties.correlationID ?? "-")", LogKeys.error: "\(error)"])
        }
    }

    private func stopConsuming() async {
        let all = consumers.withLock { consumers in
            defer { consumers.removeAll() }
            return Array(consumers.values)
        }
        for deliveries in all { try? await deliveries.cancel() }
        logger.info("Stopped consuming; finishing in-flight calls", metadata: ["in_flight": "\(inFlight.load(ordering: .relaxed))"])
    }

    private func waitForInFlight() async {
        let deadline = ContinuousClock.now + configuration.shutdownGrace
        while inFlight.load(ordering: .relaxed) > 0 && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
    }
}
