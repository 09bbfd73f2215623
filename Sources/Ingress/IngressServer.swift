import AsyncHTTPClient
import Hummingbird
import Logging
import ServiceLifecycle
import UnixSignals
import Shared

/// The ingress process: configuration from the environment, then one service group (the
/// broker connection, the reply consumer, the key refresher, the HTTP server) until SIGTERM.
public enum IngressServer {
    public static func run(environment: EnvironmentReader = EnvironmentReader()) async throws {
        let logger = Logger(label: "mcp-ingress")
        let configuration: IngressConfiguration
        let amqpConfiguration: AMQPConfiguration
        let topology: GatewayTopology
        let signer: EnvelopeSigner
        let authentication: AuthenticationConfiguration
        let surface: ToolSurfaceConfiguration
        do {
            configuration = try IngressConfiguration(environment: environment)
            amqpConfiguration = try AMQPConfiguration(environment: environment, connectionName: configuration.serviceName)
            topology = try GatewayTopology(environment: environment)
            signer = try EnvelopeSigner(environment: environment)
            authentication = try AuthenticationConfiguration(environment: environment)
            var tools = try ToolSurfaceConfiguration(environment: environment)
            tools.defaultingFromEntra(authentication.entra)
            surface = tools
        } catch {
            logger.critical("Configuration error: \(error)")
            throw error
        }

        let metricsRegistry = ProcessMetrics.bootstrap()
        let tracing: (any Service)?
        do {
            tracing = try GatewayTracing.bootstrap(serviceName: configuration.serviceName, environment: environment)
        } catch {
            logger.critical("Tracing configuration error (OTEL_*): \(error)")
            throw error
        }
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton)
        let keys = JWKSCache(configuration: authentication, httpClient: httpClient, logger: logger)
        let overage = authentication.graph.map { GroupOverageResolver(configuration: $0, httpClient: httpClient, logger: logger) }
        if authentication.entra != nil && overage == nil {
            logger.notice("Microsoft Graph is not configured (ENTRA_GRAPH_CLIENT_SECRET): users with a group overage get only their direct grants")
        }
        let authenticator = TokenAuthenticator(
            verifier: TokenVerifier(configuration: authentication, keys: keys, overage: overage), logger: logger
        )
        let components = IngressComponents(
            configuration: configuration, amqpConfiguration: amqpConfiguration, topology: topology, signer: signer,
            authenticator: authenticator, logger: logger, surface: surface, metricsRegistry: metricsRegistry
        )
        let application = components.buildApplication(logger: logger)
        var groupConfiguration = ServiceGroupConfiguration(
            // The span exporter first: it stops last, after the spans of the last requests.
            services: (tracing.map { [ServiceGroupConfiguration.ServiceConfiguration(service: $0)] } ?? [])
                + [.init(service: JWKSRefresher(cache: keys, configuration: authentication)), .init(service: application)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            cancellationSignals: [],
            logger: logger
        )
        // Requests in flight get INGRESS_SHUTDOWN_GRACE_MS to be answered; then the rest
        // is cancelled (their callers see the connection close).
        groupConfiguration.maximumGracefulShutdownDuration = configuration.shutdownGrace
        let group = ServiceGroup(configuration: groupConfiguration)
        logger.info(
            "Starting ingress",
            metadata: [
                "http": "\(configuration.host):\(configuration.port)", "amqp_url": "\(amqpConfiguration.redactedURL)",
                "metrics": "\(configuration.metricsPort.map { "\(configuration.host):\($0)" } ?? "public port")",
                "tracing": "\(GatewayTracing.isEnabled ? "otlp" : "off")",
            ]
        )
        do {
            try await group.run()
        } catch {
            logger.critical("Ingress stopped on an error", metadata: [LogKeys.error: "\(error)"])
            try? await httpClient.shutdown()
            throw error
        }
        try await httpClient.shutdown()
    }
}
