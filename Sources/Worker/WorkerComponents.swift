import Foundation
import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle
import Shared

/// Everything a worker process is made of, built once from configuration. Tests build exactly
/// what production runs (with their own topology names, schema and backends).
public struct WorkerComponents: Sendable {
    public let configuration: WorkerConfiguration
    /// Consumes requests and acknowledges them. Separate from `publisher`, because the broker
    /// blocks publishing connections under a resource alarm, and acks must still flow then.
    public let consumer: AMQPConnection
    /// Publishes replies and audit records, with confirms.
    public let publisher: AMQPConnection
    public let database: PostgresClient
    public let catalog: ServerCatalog
    /// The decision function, with its cache.
    public let authorizer: Authorizer
    /// Drops the authorizer's cache on PostgreSQL `NOTIFY`.
    public let tenancyListener: TenancyChangeListener
    public let metrics: WorkerMetrics
    public let service: WorkerService
    /// Calls cancelled by clients, shared by the pipeline and the cancellation listener.
    public let cancellations: CancellationRegistry
    let cancellationListener: CancellationListener
    /// Holds this process's presence lock, so other workers can tell whether its calls still run.
    public let presence: WorkerPresence
    /// Runs each call at most once; knows each call's state.
    public let ledger: CallLedger
    /// Publishes outcomes the audit stream missed, and prunes the ledger.
    public let ledgerMaintenance: LedgerMaintenance

    public init(
        configuration: WorkerConfiguration, amqpConfiguration: AMQPConfiguration, topology: GatewayTopology, signer: EnvelopeSigner,
        database: PostgresClient, executor: any ToolExecutor, credentialKeyring: CredentialKeyring? = nil, logger: Logger,
        startup: (@Sendable () async throws -> Void)? = nil, metricsRegistry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()
    ) {
        var logger = logger
        logger[metadataKey: "worker_id"] = .string(configuration.workerID)
        self.configuration = configuration
        self.database = database
        var consumerConfiguration = amqpConfiguration
        consumerConfiguration.connectionName = "\(amqpConfiguration.connectionName).consume"
        var publisherConfiguration = amqpConfiguration
        publisherConfiguration.connectionName = "\(amqpConfiguration.connectionName).publish"
        var consumerTopology = topology.declaration(servers: configuration.servers)
        consumerTopology.merge(topology.cancellations(worker: configuration.workerID))
        consumer = AMQPConnection(configuration: consumerConfiguration, topology: consumerTopology, logger: logger)
        publisher = AMQPConnection(configuration: publisherConfiguration, topology: topology.base, logger: logger)
        catalog = ServerCatalog(database: database)
        authorizer = Authorizer(
            database: database, catalog: catalog, credentials: CredentialStore(database: database, keyring: credentialKeyring),
            cacheTTL: configuration.authorizationCacheTTL,
            // Trusted only once the NOTIFY listener is connected.
            cacheTrusted: false
        )
        tenancyListener = TenancyChangeListener(configuration: database.configuration, authorizer: authorizer, logger: logger)
        metrics = WorkerMetrics(registry: metricsRegistry)
        ledger = CallLedger(database: database)
        presence = WorkerPresence(configuration: database.configuration, instance: ledger.instance, logger: logger)
        if let pool = (executor as? MCPToolExecutor)?.pool {
            let circuits = BackendCircuits(database: database, worker: configuration.workerID, instance: ledger.instance, logger: logger)
            pool.observeCircuits { server, phase, failure in circuits.record(server: server, phase: phase, failure: failure) }
        }
        ledgerMaintenance = LedgerMaintenance(
            database: database, publisher: publisher, topology: topology, retention: configuration.ledgerRetention, logger: logger
        )
        cancellations = CancellationRegistry()
        cancellationListener = CancellationListener(
            consumer: consumer, queue: topology.cancelQueue(worker: configuration.workerID), signer: signer, registry: cancellations, logger: logger
        )
        let processor = RequestProcessor(
            workerID: configuration.workerID, codec: SignedEnvelopeCodec(signer: signer), catalog: catalog,
            authorizer: authorizer, ledger: ledger, executor: executor, publisher: publisher,
            topology: topology, logger: logger, cancellations: cancellations, minimumStartBudget: configuration.minimumStartBudget,
            metrics: metrics, limiter: RateLimiter(database: database, logger: logger)
        )
        service = WorkerService(
            configuration: configuration, consumer: consumer, publisher: publisher, topology: topology, catalog: catalog, processor: processor,
            metrics: metrics, logger: logger, presence: presence,
            startup: { [ledger, workerID = configuration.workerID] in
                try await startup?()
                // What `mcpgw credentials rotate-key` checks before re-sealing under a new key.
                if let credentialKeyring {
                    try await CredentialStore.reportKeys(credentialKeyring, worker: workerID, instance: ledger.instance, database: database)
                }
            }
        )
    }

    /// In dependency order; a service group shuts them down in reverse, so the consumers stop
    /// first and the database and the publisher last.
    public func services(logger: Logger, extra: [any Service] = []) -> [any Service] {
        let health = WorkerHealthApplication.build(
            configuration: configuration, consumer: consumer, publisher: publisher, database: database, metrics: metrics, service: service,
            logger: logger
        )
        return [database, publisher, tenancyListener, presence, ledgerMaintenance] + extra + [consumer, cancellationListener, service, health]
    }
}
