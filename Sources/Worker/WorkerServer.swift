import AsyncHTTPClient
import Logging
import ServiceLifecycle
import Shared
import UnixSignals

/// The worker process: configuration from the environment, then one service group (database,
/// publisher, MCP backends, consumer, pipeline, health port) until SIGTERM. Migrations and key
/// checks run inside the group, retried until they pass, so that a database outage or a schema
/// not yet migrated leaves the worker running and not ready instead of crash-looping.
public enum WorkerServer {
    public static func run(environment: EnvironmentReader = EnvironmentReader()) async throws {
        let logger = Logger(label: "mcp-worker")
        let configuration: WorkerConfiguration
        let amqpConfiguration: AMQPConfiguration
        let topology: GatewayTopology
        let signer: EnvelopeSigner
        let databaseConfiguration: PostgresConfiguration
        let mcpConfiguration: MCPClientConfiguration
        let keyring: CredentialKeyring
        let migrations: [Migration]
        let migrate: Bool
        do {
            configuration = try WorkerConfiguration(environment: environment)
            amqpConfiguration = try AMQPConfiguration(environment: environment, connectionName: "mcp-worker.\(configuration.workerID)")
            topology = try GatewayTopology(environment: environment)
            signer = try EnvelopeSigner(environment: environment)
            databaseConfiguration = try PostgresConfiguration(environment: environment, applicationName: "mcp-worker")
            mcpConfiguration = try MCPClientConfiguration(environment: environment)
            keyring = try CredentialKeyring(environment: environment)
            migrations = try Migration.load(environment: environment)
            migrate = try environment.bool("WORKER_MIGRATE", default: true)
        } catch {
            logger.critical("Configuration error: \(error)")
            throw error
        }

        let metricsRegistry = ProcessMetrics.bootstrap()
        let tracing: (any Service)?
        do {
            tracing = try GatewayTracing.bootstrap(serviceName: "mcp-worker", environment: environment)
        } catch {
            logger.critical("Tracing configuration error (OTEL_*): \(error)")
            throw error
        }
        let database = PostgresClient(configuration: databaseConfiguration, logger: logger)
        // Checked (and retried, never fatal) before the first delivery is taken: the schema at
        // this build's version (every worker may migrate: an advisory lock makes concurrent
        // starts safe; with WORKER_MIGRATE=false it waits for a migration job), then the
        // credentials key (a wrong key, or credentials sealed under a key id this worker lacks).
        let startup: @Sendable () async throws -> Void = {
            let migrator = Migrator(client: database, migrations: migrations, logger: logger)
            if migrate {
                try await migrator.migrate()
            } else {
                let pending = try await migrator.pending()
                guard pending.isEmpty else {
                    throw StartupError(
                        "the database schema is behind this worker (migrations \(pending.map { "\($0.version)_\($0.name)" }.joined(separator: ", ")) not applied; run `mcpgw migrate`)"
                    )
                }
            }
            try await CredentialStore(database: database, keyring: keyring).verifyKeys()
        }
        let pool = MCPBackendPool(configuration: mcpConfiguration, logger: logger)
        let components = WorkerComponents(
            configuration: configuration, amqpConfiguration: amqpConfiguration, topology: topology, signer: signer, database: database,
            executor: MCPToolExecutor(pool: pool, logger: logger), credentialKeyring: keyring, logger: logger, startup: startup,
            metricsRegistry: metricsRegistry
        )
        var groupConfiguration = ServiceGroupConfiguration(
            // The span exporter first: it stops last, after the spans of the last calls.
            services: ((tracing.map { [$0] } ?? []) + components.services(logger: logger, extra: [pool])).map { .init(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            cancellationSignals: [],
            logger: logger
        )
        // In-flight calls get WORKER_SHUTDOWN_GRACE_MS; the rest of the shutdown (replies,
        // acks, connections) a few seconds more; past that, everything is cancelled.
        groupConfiguration.maximumGracefulShutdownDuration = configuration.shutdownGrace + .seconds(10)
        let group = ServiceGroup(configuration: groupConfiguration)
        logger.info(
            "Starting worker",
            metadata: [
                "worker_id": "\(configuration.workerID)", "servers": "\(configuration.servers.isEmpty ? "all" : configuration.servers.joined(separator: ","))",
                "amqp_url": "\(amqpConfiguration.redactedURL)", "tracing": "\(GatewayTracing.isEnabled ? "otlp" : "off")",
            ]
        )
        do {
            try await group.run()
        } catch {
            logger.critical("Worker stopped on an error", metadata: [LogKeys.error: "\(error)"])
            throw error
        }
    }
}

/// A start-up check that has not passed yet (the worker retries it).
struct StartupError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
