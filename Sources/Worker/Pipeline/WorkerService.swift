import Foundation
import Logging
import ServiceLifecycle
import Shared
import Synchronization

/// Consumes the catalog queue and the request queue of every server this worker serves, and
/// runs each delivery through the ``RequestProcessor``.
///
/// New catalog entries are picked up every `catalogRefresh`. A worker takes deliveries only
/// while it can answer them: its consumers pause (`basic.cancel`) whenever the publishing
/// connection is down and resume when it is back. On graceful shutdown the consumers are
/// cancelled first (`basic.cancel` only: no new work, while the channels stay open), in-flight
/// calls get up to `shutdownGrace` to finish, publish their replies and be acknowledged on the
/// channel they came from; only what is still unfinished then returns to its queue.
public final class WorkerService: Service, Sendable {
    private let configuration: WorkerConfiguration
    private let consumer: AMQPConnection
    /// The connection replies go out on: consuming follows its state.
    private let publisher: AMQPConnection?
    private let topology: GatewayTopology
    private let catalog: ServerCatalog
    private let processor: RequestProcessor
    private let metrics: WorkerMetrics
    private let logger: Logger
    private let consumers = Mutex<[String: AMQPConsumer]>([:])
    /// What must hold before the first delivery is taken (the schema at this build's version,
    /// the credentials key): retried with backoff, never fatal.
    private let startup: (@Sendable () async throws -> Void)?
    private let presence: WorkerPresence?
    private let consuming = Atomic<Bool>(false)

    public init(
        configuration: WorkerConfiguration, consumer: AMQPConnection, publisher: AMQPConnection? = nil, topology: GatewayTopology,
        catalog: ServerCatalog, processor: RequestProcessor, metrics: WorkerMetrics, logger: Logger, presence: WorkerPresence? = nil,
        startup: (@Sendable () async throws -> Void)? = nil
    ) {
        self.presence = presence
        self.startup = startup
        self.configuration = configuration
        self.consumer = consumer
        self.publisher = publisher
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

    /// Whether the worker has started taking deliveries (its start-up checks passed); `/readyz`
    /// reports not ready until then.
    public var isConsuming: Bool { consuming.load(ordering: .relaxed) }

    public func run() async throws {
        guard try await prepare() else { return }
        try await cancelWhenGracefulShutdown {
            try await self.consumer.waitUntilConnected(timeout: .seconds(365 * 24 * 3600))
            try await self.publisher?.waitUntilConnected(timeout: .seconds(365 * 24 * 3600))
        }
        defer { consuming.store(false, ordering: .relaxed) }
        await withDiscardingTaskGroup { group in
            if let publisher {
                group.addTask { await self.followPublisher(publisher) }
            }
            await startConsuming(queue: topology.catalogQueue, group: &group)
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                await refreshServers(group: &group)
                // Ready once the servers' queues are declared and consumed, not before: an
                // ingress answers 404 for a server whose queue does not exist yet.
                consuming.store(true, ordering: .relaxed)
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.configuration.catalogRefresh) }
            }
            await stopConsuming()
            await waitForInFlight()
            // Past the grace period: cancel what still runs; unacked deliveries return to their queues.
            group.cancelAll()
        }
    }

    /// Runs the start-up checks until they pass, then waits for the presence lock (a call must
    /// never be claimed by a worker that others would take for dead). Returns `false` when the
    /// worker is shut down first. A database outage or a schema not yet migrated keeps the
    /// worker not ready, with one log line per attempt, and never crashes it; a configuration
    /// error (a credentials key that is not the one the stored values were sealed with) is
    /// thrown: retrying cannot mend it.
    private func prepare() async throws -> Bool {
        var pause: Duration = .milliseconds(200)
        var attempt = 0
        while let startup {
            attempt += 1
            do {
                try await startup()
                if attempt > 1 { logger.info("Start-up checks passed", metadata: ["attempts": "\(attempt)"]) }
                break
            } catch let error as ConfigurationError {
                throw error
            } catch {
                logger.error("Worker not ready; retrying", metadata: [LogKeys.error: "\(error)", "retry_in_ms": "\(pause.milliseconds)", "attempt": "\(attempt)"])
            }
            let wait = pause
            guard (try? await cancelWhenGracefulShutdown({ try await Task.sleep(for: wait) })) != nil else { return false }
            pause = min(pause * 2, configuration.startupRetryMaximum)
        }
        var waited = 0
        while let presence, !presence.isHeld {
            if waited % 100 == 99 { logger.warning("Waiting for the worker's presence lock in PostgreSQL before consuming") }
            waited += 1
            guard (try? await cancelWhenGracefulShutdown({ try await Task.sleep(for: .milliseconds(50)) })) != nil else { return false }
        }
        return !Task.isShuttingDownGracefully && !Task.isCancelled
    }

    /// Whether the consumers are paused because replies cannot be published.
    private let paused = Mutex(false)

    /// Pauses every consumer while `publisher` is disconnected, and resumes them when it is
    /// connected again: a call taken while its reply cannot be sent would run for nothing and
    /// come back as a redelivery. Ends with the service (graceful shutdown or cancellation).
    private func followPublisher(_ publisher: AMQPConnection) async {
        let (changes, sink) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let observer = publisher.addObserver { event in
            switch event {
            case .connected, .disconnected: sink.yield()
            default: break
            }
        }
        defer { publisher.removeObserver(observer) }
        await cancelWhenGracefulShutdown {
            for await _ in changes {
                // Whatever the events' order, act on the state the connection is in now.
                await self.setPaused(!publisher.status.connected)
            }
        }
    }

    private func setPaused(_ pause: Bool) async {
        let changed = paused.withLock { paused in
            defer { paused = pause }
            return paused != pause
        }
        guard changed else { return }
        let all = consumers.withLock { Array($0.values) }
        if pause {
            logger.warning("Replies cannot be published; pausing consumers", metadata: ["consumers": "\(all.count)"])
        } else {
            logger.info("Publishing again; resuming consumers", metadata: ["consumers": "\(all.count)"])
        }
        for deliveries in all {
            do {
                if pause { try await deliveries.pause() } else { try await deliveries.resume() }
            } catch {
                logger.debug("Consumer pause or resume deferred to reconnect", metadata: [LogKeys.queue: "\(deliveries.queue)", LogKeys.error: "\(error)"])
            }
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
        if paused.withLock({ $0 }) { try? await deliveries.pause() }
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
            }
        } catch {
            // The broker requeues it by itself (channel gone); a redelivery is answered from the call ledger.
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
