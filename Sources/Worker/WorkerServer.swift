import AsyncHTTPClient
import Logging
import ServiceLifecycle
import Shared
import UnixSignals

/// The worker process: configuration from the environment, migrations, then one service group
/// (database, publisher, MCP backends, consumer, pipeline, health port) until SIGTERM.
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
        do {
            configuration = try WorkerConfiguration(environment: environment)
            amqpConfiguration = try AMQPConfiguration(environment: environment, connectionName: "mcp-worker.\(configuration.workerID)")
            topology = try GatewayTopology(environment: environment)
            signer = try EnvelopeSigner(environment: environment)
            databaseConfiguration = try PostgresConfiguration(environment: environment, applicationName: "mcp-worker")
            mcpConfiguration = try MCPClientConfiguration(environment: environment)
            keyring = try CredentialKeyring(environment: environment)
        } catch {
            logger.critical("Configuration error: \(error)")
            throw error
        }

        let database = PostgresClient(configuration: databaseConfiguration, logger: logger)
        // Every worker may apply migrations at start: an advisory lock makes concurrent starts safe.
        if try environment.bool("WORKER_MIGRATE", default: true) {
            _ = try await Migrator(client: database, migrations: try Migration.load(environment: environment), logger: logger).migrate()
        }
        // A wrong key, or credentials sealed under a key id this worker lacks, stop it here.
        do {
            try await CredentialStore(database: database, keyring: keyring).verifyKeys()
        } catch {
            logger.critical("Credentials key error: \(error)")
            await database.shutdown()
            throw error
        }
        let pool = MCPBackendPool(configuration: mcpConfiguration, logger: logger)
        let components = WorkerComponents(
            configuration: configuration, amqpConfiguration: amqpConfiguration, topology: topology, signer: signer, database: database,
            executor: MCPToolExecutor(pool: pool, logger: logger), credentialKeyring: keyring, logger: logger
        )
        let group = ServiceGroup(
            configuration: .init(
                services: components.services(logger: logger, extra: [pool]).map { .init(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint],
                cancellationSignals: [],
                logger: logger
            )
        )
        logger.info(
            "Starting worker",
            metadata: [
                "worker_id": "\(configuration.workerID)", "servers": "\(configuration.servers.isEmpty ? "all" : configuration.servers.joined(separator: ","))",
                "amqp_url": "\(amqpConfiguration.redactedURL)",
            ]
        )
        try await group.run()
    }
}
