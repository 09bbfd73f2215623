import AsyncHTTPClient
import Crypto
import Foundation
import Ingress
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Shared
import Synchronization
import Worker

/// One whole gateway in this process, assembled as the production executables assemble theirs
/// (and as the end-to-end tests do): an ingress with token authentication on a live loopback
/// port, and one worker with its PostgreSQL pool and MCP backend pool, over broker objects of
/// this run's own (`<run id>.<queue type>.*`) with request queues of the given type.
final class GatewayUnderTest: Sendable {
    let queueType: GatewayTopology.QueueType
    let topology: GatewayTopology
    let ingress: IngressComponents
    let worker: WorkerComponents
    let services: [any Service]
    /// The ingress's port, once it listens (0 before).
    private let port = BoundPort()

    init(
        queueType: GatewayTopology.QueueType, amqpURL: String, databaseConfiguration: PostgresConfiguration, issuer: BenchmarkIssuer,
        workerConcurrency: Int, httpClient: HTTPClient, logger: Logger
    ) throws {
        self.queueType = queueType
        var topology = GatewayTopology()
        let prefix = "\(BenchmarkNames.runID).\(queueType.rawValue)"
        topology.requestsExchange = "\(prefix).requests"
        topology.queuePrefix = "\(prefix).server."
        topology.queueType = queueType
        topology.catalogQueue = "\(prefix).catalog"
        topology.deadLetterExchange = "\(prefix).dlx"
        topology.deadLetterQueue = "\(prefix).dead"
        topology.auditStream = "\(prefix).audit"
        self.topology = topology

        let amqpConfiguration = try AMQPConfiguration(url: amqpURL, connectionName: prefix)
        let signer = EnvelopeSigner(currentKeyID: "bench", currentKey: SymmetricKey(size: .bits256))

        let authentication = try AuthenticationConfiguration(environment: EnvironmentReader(issuer.environment))
        let keys = JWKSCache(configuration: authentication, httpClient: httpClient, logger: logger)
        let authenticator = TokenAuthenticator(verifier: TokenVerifier(configuration: authentication, keys: keys), logger: logger)
        var ingressConfiguration = IngressConfiguration()
        ingressConfiguration.host = "127.0.0.1"
        ingressConfiguration.port = 0
        ingressConfiguration.serviceName = "\(prefix).ingress"
        var ingressAMQP = amqpConfiguration
        ingressAMQP.connectionName = "\(prefix).ingress"
        ingress = IngressComponents(
            configuration: ingressConfiguration, amqpConfiguration: ingressAMQP, topology: topology, signer: signer, authenticator: authenticator,
            logger: logger
        )
        let port = self.port
        let application = ingress.buildApplication(logger: logger) { channel in
            port.value.store(channel.localAddress?.port ?? 0, ordering: .relaxed)
        }

        var workerConfiguration = WorkerConfiguration(workerID: "\(prefix).worker")
        workerConfiguration.concurrency = workerConcurrency
        workerConfiguration.healthHost = "127.0.0.1"
        workerConfiguration.healthPort = 0
        workerConfiguration.shutdownGrace = .seconds(5)
        var workerAMQP = amqpConfiguration
        workerAMQP.connectionName = "\(prefix).worker"
        let database = PostgresClient(configuration: databaseConfiguration, logger: logger)
        let pool = MCPBackendPool(logger: logger)
        worker = WorkerComponents(
            configuration: workerConfiguration, amqpConfiguration: workerAMQP, topology: topology, signer: signer, database: database,
            executor: MCPToolExecutor(pool: pool, logger: logger), logger: logger
        )
        // The ingress last, so that it stops first and the worker finishes what it has.
        services = worker.services(logger: logger, extra: [pool]) + [application]
    }

    var baseURL: String { "http://127.0.0.1:\(port.value.load(ordering: .relaxed))" }

    /// Waits until the ingress listens and is connected, and the worker consumes the server's queue.
    func waitUntilServing(timeout: Duration) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        try await ingress.amqp.waitUntilConnected(timeout: timeout)
        let wanted = Set([topology.catalogQueue, topology.queue(forServer: BenchmarkNames.server)])
        while clock.now < deadline {
            if port.value.load(ordering: .relaxed) != 0, wanted.isSubset(of: Set(worker.service.consumedQueues)) { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw BenchmarkError("the \(queueType.rawValue) gateway was not serving within \(timeout)")
    }

    /// `POST /servers/bench/tools/{tool}` with `body` (a JSON object); the result's bytes, or an
    /// error naming the status when it is not 200.
    func callTool(_ tool: String, body: ByteBuffer, token: String, httpClient: HTTPClient) async throws -> ByteBuffer {
        var request = HTTPClientRequest(url: "\(baseURL)/servers/\(BenchmarkNames.server)/tools/\(tool)")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(body)
        let response = try await httpClient.execute(request, timeout: .seconds(60))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok else {
            throw BenchmarkError("the \(queueType.rawValue) gateway answered \(response.status.code): \(String(buffer: bytes).prefix(500))")
        }
        return bytes
    }

    /// Every broker object this gateway declared.
    var queues: [String] {
        [topology.queue(forServer: BenchmarkNames.server), topology.catalogQueue, topology.deadLetterQueue, topology.auditStream]
    }

    var exchanges: [String] { [topology.requestsExchange, topology.deadLetterExchange] }
}

private final class BoundPort: Sendable {
    let value = Atomic<Int>(0)
}
