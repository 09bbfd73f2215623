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
    /// The server id this gateway's worker serves (``BenchmarkNames/server(for:)``).
    let serverID: String
    let topology: GatewayTopology
    let ingress: IngressComponents
    let worker: WorkerComponents
    /// The ingress's token verifier, for timing one verification on its own.
    let verifier: TokenVerifier
    let services: [any Service]
    /// The ingress's port, once it listens (0 before).
    private let port = BoundPort()

    init(
        queueType: GatewayTopology.QueueType, amqpURL: String, databaseConfiguration: PostgresConfiguration, issuer: BenchmarkIssuer,
        workerConcurrency: Int, httpClient: HTTPClient, logger: Logger
    ) throws {
        self.queueType = queueType
        serverID = BenchmarkNames.server(for: queueType)
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
        verifier = TokenVerifier(configuration: authentication, keys: keys)
        let authenticator = TokenAuthenticator(verifier: verifier, logger: logger)
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
        workerConfiguration.servers = [serverID]
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
        let wanted = Set([topology.catalogQueue, topology.queue(forServer: serverID)])
        while clock.now < deadline {
            if port.value.load(ordering: .relaxed) != 0, wanted.isSubset(of: Set(worker.service.consumedQueues)) { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw BenchmarkError("the \(queueType.rawValue) gateway was not serving within \(timeout)")
    }

    /// `POST /servers/{server id}/tools/{tool}` with `body` (a JSON object); the result's bytes, or an
    /// error naming the status when it is not 200.
    func callTool(_ tool: String, body: ByteBuffer, token: String, httpClient: HTTPClient) async throws -> ByteBuffer {
        var request = HTTPClientRequest(url: "\(baseURL)/servers/\(serverID)/tools/\(tool)")
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

    /// `GET /healthz`: an HTTP round trip to the ingress with no authentication and no broker.
    func healthz(httpClient: HTTPClient) async throws {
        var request = HTTPClientRequest(url: "\(baseURL)/healthz")
        request.method = .GET
        let response = try await httpClient.execute(request, timeout: .seconds(10))
        _ = try await response.body.collect(upTo: 1 << 16)
        guard response.status == .ok else { throw BenchmarkError("/healthz answered \(response.status.code)") }
    }

    /// The running totals of the ingress's call histogram (publish → reply) and the worker's
    /// processing histogram (delivery → reply and audit record confirmed), from their metrics.
    func timings() -> GatewayTimings {
        let ingressTotals = GatewayTimings.totals(of: "mcpgw_ingress_call_duration", in: ingress.metrics.exposition())
        let workerTotals = GatewayTimings.totals(of: "mcpgw_worker_processing_duration", in: worker.metrics.exposition())
        return GatewayTimings(ingressSeconds: ingressTotals.sum, ingressCount: ingressTotals.count, workerSeconds: workerTotals.sum, workerCount: workerTotals.count)
    }

    /// Every broker object this gateway declared.
    var queues: [String] {
        [topology.queue(forServer: serverID), topology.catalogQueue, topology.deadLetterQueue, topology.auditStream]
    }

    var exchanges: [String] { [topology.requestsExchange, topology.deadLetterExchange] }
}

private final class BoundPort: Sendable {
    let value = Atomic<Int>(0)
}

/// Sums and counts of the gateway's own duration histograms, so that a round can tell what part
/// of a call the ingress waited for the broker and the worker, and what part the worker worked.
struct GatewayTimings: Sendable {
    var ingressSeconds: Double
    var ingressCount: Double
    var workerSeconds: Double
    var workerCount: Double

    /// Mean milliseconds per call between two snapshots: (ingress publish → reply, worker processing).
    static func means(from before: GatewayTimings, to after: GatewayTimings) -> (ingress: Double?, worker: Double?) {
        let ingressCalls = after.ingressCount - before.ingressCount
        let workerCalls = after.workerCount - before.workerCount
        return (
            ingressCalls > 0 ? (after.ingressSeconds - before.ingressSeconds) * 1000 / ingressCalls : nil,
            workerCalls > 0 ? (after.workerSeconds - before.workerSeconds) * 1000 / workerCalls : nil
        )
    }

    /// The `_sum` and `_count` of histogram `prefix…` in a Prometheus text exposition, over all label sets.
    static func totals(of prefix: String, in exposition: String) -> (sum: Double, count: Double) {
        var sum = 0.0
        var count = 0.0
        for line in exposition.split(separator: "\n") where line.hasPrefix(prefix) {
            let name = line.prefix { $0 != "{" && $0 != " " }
            guard let value = line.split(separator: " ").last.flatMap({ Double($0) }) else { continue }
            if name.hasSuffix("_sum") { sum += value } else if name.hasSuffix("_count") { count += value }
        }
        return (sum, count)
    }
}
