import AsyncHTTPClient
import Hummingbird
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle
import Shared

/// Everything the ingress is made of, built once from configuration. Tests build exactly what
/// production runs, with their own authenticator, topology names and ports.
public struct IngressComponents: Sendable {
    public let configuration: IngressConfiguration
    public let amqp: AMQPConnection
    public let rpc: RPCClient
    public let dispatcher: CallDispatcher
    public let authenticator: any RequestAuthenticator
    public let metrics: IngressMetrics
    /// The MCP endpoint, protected-resource metadata and OpenAPI settings.
    public let surface: ToolSurfaceConfiguration
    public let canceller: CallCanceller
    let signer: EnvelopeSigner

    public init(
        configuration: IngressConfiguration, amqpConfiguration: AMQPConfiguration, topology: GatewayTopology, signer: EnvelopeSigner,
        authenticator: any RequestAuthenticator, logger: Logger, surface: ToolSurfaceConfiguration = ToolSurfaceConfiguration(),
        metricsRegistry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()
    ) {
        self.configuration = configuration
        self.authenticator = authenticator
        self.surface = surface
        self.signer = signer
        // The ingress declares only the shared base; each server's queue is the workers' to declare.
        amqp = AMQPConnection(configuration: amqpConfiguration, topology: topology.base, logger: logger)
        rpc = RPCClient(amqp: amqp, topology: topology, codec: SignedEnvelopeCodec(signer: signer), logger: logger)
        metrics = IngressMetrics(registry: metricsRegistry)
        dispatcher = CallDispatcher(
            rpc: rpc, directory: ServerDirectory(amqp: amqp, topology: topology), configuration: configuration, metrics: metrics
        )
        canceller = CallCanceller(amqp: amqp, topology: topology, signer: signer)
    }

    /// The router every surface hangs off.
    public func buildRouter() -> Router<GatewayRequestContext> {
        let router = Router(context: GatewayRequestContext.self)
        // Outermost, so that every log line of a traced request (the access log's too) has its span.
        if GatewayTracing.isEnabled { router.add(middleware: TracingMiddleware(redactingQueryParameters: [])) }
        router.add(middleware: AccessLogMiddleware(metrics: metrics, level: configuration.accessLogLevel))
        router.add(middleware: BodyLimitMiddleware(limit: configuration.maxBodyBytes))
        HealthRoutes(amqp: amqp, metrics: metrics, servesMetrics: configuration.metricsPort == nil).add(to: router)
        ProtectedResourceRoutes(surface: surface).add(to: router)
        let catalog = MCPToolCatalog(dispatcher: dispatcher, namespace: ToolNamespace(separator: surface.toolNameSeparator))
        let openAPI = OpenAPIRoutes(dispatcher: dispatcher, catalog: catalog, authenticator: authenticator, configuration: configuration, surface: surface)
        // Every 401, also of the OpenAPI documents (which authenticate when a token is sent),
        // names the protected-resource metadata.
        let challenged = router.group().add(middleware: ResourceMetadataChallengeMiddleware(surface: surface))
        openAPI.addDocuments(to: challenged)
        let authenticated = challenged.group().add(middleware: AuthenticationMiddleware(authenticator: authenticator))
        ToolRoutes(dispatcher: dispatcher, configuration: configuration).add(to: authenticated)
        let handler = MCPMethodHandler(catalog: catalog, dispatcher: dispatcher, canceller: canceller, surface: surface, signer: signer)
        MCPRoutes(handler: handler, configuration: configuration, surface: surface, signer: signer, canceller: canceller).add(to: authenticated)
        openAPI.addCalls(to: authenticated)
        AdminRoutes(dispatcher: dispatcher, configuration: configuration).add(to: authenticated)
        return router
    }

    /// The HTTP application with the broker connection and the reply consumer as services:
    /// they start before the listener and stop after it, so in-flight calls can finish. With
    /// `INGRESS_METRICS_PORT`, a second small application serving only `/metrics` on that port
    /// runs as one more service (`onMetricsServerRunning` reports its channel).
    public func buildApplication(
        logger: Logger, onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in },
        onMetricsServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let configuration = self.configuration
        let connections = ConnectionGuard.Counter(maximum: configuration.maxConnections)
        var application = Application(
            router: buildRouter(),
            server: .http1(
                configuration: .init(
                    additionalChannelHandlers: [
                        ConnectionGuard(
                            counter: connections, headerReadTimeout: configuration.headerReadTimeout, bodyReadTimeout: configuration.bodyReadTimeout,
                            logger: logger
                        )
                    ],
                    idleTimeout: TimeAmount(configuration.idleTimeout)
                )
            ),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: configuration.serviceName),
            onServerRunning: onServerRunning,
            logger: logger
        )
        application.addServices(amqp, rpc)
        if let metricsPort = configuration.metricsPort {
            let router = Router()
            MetricsRoutes(metrics: metrics).add(to: router)
            application.addServices(
                Application(
                    router: router,
                    configuration: .init(address: .hostname(configuration.host, port: metricsPort), serverName: configuration.serviceName),
                    onServerRunning: onMetricsServerRunning,
                    logger: logger
                )
            )
        }
        return application
    }
}

/// Sets the body limit of every request from configuration.
struct BodyLimitMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext
    let limit: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.maxUploadSize = limit
        return try await next(request, context)
    }
}
