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
import TestSupport
import Testing
import Worker

/// A whole gateway inside one test: an ingress on a live port and N workers, built exactly as
/// production builds them, against the real broker, a PostgreSQL schema of the test's own and
/// real MCP servers. Queue, exchange and stream names are the test's own too, so harnesses run
/// in parallel.
struct GatewayHarness: Sendable {
    struct Options: Sendable {
        var workers = 1
        var servers: [ServerRecord] = []
        /// Group → servers, as in `group_tenant_mapping`.
        var groupGrants: [(group: String, server: String)] = []
        var workerConcurrency = 8
        var defaultTimeout: Duration = .seconds(20)
        var maxBodyBytes = 64 * 1024
        /// More ingress settings (connection limits and timeouts).
        var ingress: @Sendable (inout IngressConfiguration) -> Void = { _ in }
        /// More worker settings.
        var worker: @Sendable (inout WorkerConfiguration) -> Void = { _ in }
        /// The workers' MCP client settings (circuit breaker, listing budget, tool cache).
        var mcpClient = MCPClientConfiguration()
        /// A broker of the test's own (for tests that stop it), else the shared one.
        var amqpURL: String?
        /// A cluster's nodes (`AMQP_ADDRESSES` syntax), with ``amqpURL``'s credentials and vhost.
        var amqpAddresses: String?
        /// A database of the test's own (for tests that stop it), else a scratch schema.
        var databaseURL: String?
        /// The ingress's token profiles, else the generic issuer below with the tests' key.
        var authentication: AuthenticationConfiguration?
        /// Group overage through Microsoft Graph (a local stand-in), with ``authentication``.
        var overage: GroupOverageResolver?
        /// The workers' key for backend credentials (tenancy tests).
        var credentialKeyring: CredentialKeyring?
        /// How long workers may use a cached decision (tenancy tests make it long, to prove NOTIFY).
        var authorizationCacheTTL: Duration = .seconds(60)
        /// The MCP endpoint and OpenAPI settings of the ingress.
        var surface = ToolSurfaceConfiguration()
    }

    static let issuer = "https://issuer.test/e2e"
    static let audience = "mcp-gateway"

    let baseURL: String
    let topology: GatewayTopology
    let catalog: ServerCatalog
    let grants: GrantStore
    /// The gateway's database, for checks a test makes behind the gateway's back.
    let database: PostgresClient
    /// Its connection settings (the test's schema), for tools such as pg_dump.
    let databaseConfiguration: PostgresConfiguration
    let workers: [WorkerHandle]
    /// The ingress's port on 127.0.0.1.
    var port: Int { Int(baseURL.split(separator: ":").last ?? "") ?? 0 }
    /// The ingress's broker connection (which node it is on: `status.address`).
    let ingressAMQP: AMQPConnection
    /// The envelope signing key of the ingress and the workers (key id `e2e`).
    let signingKey: SymmetricKey

    /// One worker's service group, so a test can stop it (as a crash would) while others go on.
    final class WorkerHandle: Sendable {
        let components: WorkerComponents
        let group: ServiceGroup
        let task = Mutex<Task<Void, any Error>?>(nil)

        init(components: WorkerComponents, group: ServiceGroup) {
            self.components = components
            self.group = group
        }

        /// Ends the worker abruptly: its connections close and unacknowledged deliveries return
        /// to their queues, as when a pod is killed.
        func kill() {
            task.withLock { $0?.cancel() }
        }
    }

    static func run(_ options: Options = Options(), _ body: @Sendable (GatewayHarness) async throws -> Void) async throws {
        if let databaseURL = options.databaseURL {
            try await run(options: options, databaseConfiguration: PostgresConfiguration(connectionString: databaseURL, poolSize: 4, applicationName: "e2e"), body)
        } else {
            try await PostgresTestDatabase.withSchema { database in
                try await run(options: options, databaseConfiguration: database.configuration(poolSize: 4), body)
            }
        }
    }

    private static func run(
        options: Options, databaseConfiguration: PostgresConfiguration, _ body: @Sendable (GatewayHarness) async throws -> Void
    ) async throws {
        let logger = TestEnvironment.logger
        let setup = PostgresClient(configuration: databaseConfiguration, logger: logger)
        defer { Task { await setup.shutdown() } }
        try await prepare(setup, servers: options.servers, groupGrants: options.groupGrants)
        let catalog = ServerCatalog(database: setup)
        let grants = GrantStore(database: setup)

        let topology = GatewayTopology.scratch()
        let amqpURL = try options.amqpURL ?? TestEnvironment.require("AMQP_URL")
        var amqpConfiguration = try AMQPConfiguration(url: amqpURL, addresses: options.amqpAddresses, connectionName: "e2e")
        amqpConfiguration.reconnectMinimum = .milliseconds(50)
        amqpConfiguration.reconnectMaximum = .milliseconds(500)
        let signingKey = SymmetricKey(size: .bits256)
        let signer = EnvelopeSigner(currentKeyID: "e2e", currentKey: signingKey)

        // Authentication: tokens signed by the tests' own key, whose JWKS is served from a file.
        let jwksFile = FileManager.default.temporaryDirectory.appendingPathComponent("e2e-jwks-\(UUID().uuidString).json")
        try Data(TestSigningKey.jwks([.primary]).utf8).write(to: jwksFile)
        defer { try? FileManager.default.removeItem(at: jwksFile) }
        let authentication = try options.authentication ?? AuthenticationConfiguration(
            environment: EnvironmentReader(["AUTH_JWKS_URL": jwksFile.absoluteString, "AUTH_ISSUER": issuer, "AUTH_AUDIENCE": audience])
        )
        let keys = JWKSCache(configuration: authentication, httpClient: HTTPClient.shared, logger: logger)
        let authenticator = TokenAuthenticator(
            verifier: TokenVerifier(configuration: authentication, keys: keys, overage: options.overage), logger: logger
        )

        var ingressConfiguration = IngressConfiguration()
        ingressConfiguration.host = "127.0.0.1"
        ingressConfiguration.port = 0
        ingressConfiguration.defaultTimeout = options.defaultTimeout
        ingressConfiguration.maxBodyBytes = options.maxBodyBytes
        options.ingress(&ingressConfiguration)
        let ingress = IngressComponents(
            configuration: ingressConfiguration, amqpConfiguration: amqpConfiguration, topology: topology, signer: signer,
            authenticator: authenticator, logger: logger, surface: options.surface
        )
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let application = ingress.buildApplication(logger: logger) { channel in
            portContinuation.yield(channel.localAddress?.port ?? 0)
        }
        let ingressGroup = ServiceGroup(services: [application], logger: logger)

        var handles: [WorkerHandle] = []
        for index in 0..<options.workers {
            var configuration = WorkerConfiguration(workerID: "e2e-worker-\(index)")
            configuration.concurrency = options.workerConcurrency
            configuration.catalogRefresh = .milliseconds(200)
            configuration.shutdownGrace = .seconds(5)
            configuration.healthHost = "127.0.0.1"
            configuration.healthPort = 0
            configuration.authorizationCacheTTL = options.authorizationCacheTTL
            options.worker(&configuration)
            let database = PostgresClient(configuration: databaseConfiguration, logger: logger)
            let pool = MCPBackendPool(configuration: options.mcpClient, logger: logger)
            let components = WorkerComponents(
                configuration: configuration, amqpConfiguration: amqpConfiguration, topology: topology, signer: signer, database: database,
                executor: MCPToolExecutor(pool: pool, logger: logger), credentialKeyring: options.credentialKeyring, logger: logger
            )
            let group = ServiceGroup(services: components.services(logger: logger, extra: [pool]), logger: logger)
            handles.append(WorkerHandle(components: components, group: group))
        }

        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await ingressGroup.run() }
            for handle in handles {
                let task = Task { try await handle.group.run() }
                handle.task.withLock { $0 = task }
                tasks.addTask { try? await task.value }
            }
            do {
                var iterator = ports.makeAsyncIterator()
                let port = try #require(await iterator.next())
                let harness = GatewayHarness(
                    baseURL: "http://127.0.0.1:\(port)", topology: topology, catalog: catalog, grants: grants, database: setup,
                    databaseConfiguration: databaseConfiguration, workers: handles, ingressAMQP: ingress.amqp, signingKey: signingKey
                )
                try await harness.waitUntilServing(options.servers.filter(\.enabled).map(\.id))
                try await body(harness)
            } catch {
                await shutDown(ingressGroup, handles)
                try? await tasks.waitForAll()
                await cleanUp(topology, servers: options.servers.map(\.id), amqp: amqpConfiguration)
                throw error
            }
            await shutDown(ingressGroup, handles)
            try await tasks.waitForAll()
        }
        await cleanUp(topology, servers: options.servers.map(\.id), amqp: amqpConfiguration)
    }

    private static func shutDown(_ ingress: ServiceGroup, _ workers: [WorkerHandle]) async {
        await ingress.triggerGracefulShutdown()
        for worker in workers { await worker.group.triggerGracefulShutdown() }
    }

    /// Migrates the test's database and registers its servers and group grants.
    static func prepare(_ setup: PostgresClient, servers: [ServerRecord], groupGrants: [(group: String, server: String)]) async throws {
        _ = try await Migrator(client: setup, migrations: try Migration.bundled(), logger: TestEnvironment.logger).migrate()
        let catalog = ServerCatalog(database: setup)
        let grants = GrantStore(database: setup)
        for server in servers { try await catalog.upsert(server) }
        for grant in groupGrants { try await grants.grantGroup(grant.group, server: grant.server) }
    }

    /// Deletes the test's own queues, stream and exchanges.
    static func cleanUp(_ topology: GatewayTopology, servers: [String], amqp gateway: AMQPConfiguration) async {
        var configuration = gateway
        configuration.connectionName = TestEnvironment.uniqueName("e2e-cleanup")
        _ = try? await AMQPTest.withConnection(configuration) { amqp in
            let queues = [topology.catalogQueue, topology.deadLetterQueue, topology.auditStream] + servers.map(topology.queue(forServer:))
            for queue in queues { try? await amqp.deleteQueue(queue) }
            try? await amqp.deleteExchange(topology.requestsExchange)
            try? await amqp.deleteExchange(topology.deadLetterExchange)
            try? await amqp.deleteExchange(topology.cancelExchange)
        }
    }

    /// Waits until some worker consumes the catalog queue and every given server's queue.
    func waitUntilServing(_ servers: [String], timeout: Duration = .seconds(30)) async throws {
        let wanted = Set([topology.catalogQueue] + servers.map(topology.queue(forServer:)))
        _ = try await eventually(timeout: timeout) { () -> Bool? in
            let consumed = Set(workers.flatMap { $0.components.service.consumedQueues })
            return wanted.isSubset(of: consumed) ? true : nil
        }
    }

    // MARK: Tokens

    /// A valid token for `subject` in `groups`, signed by the key the ingress trusts.
    func token(subject: String = "alice", groups: [String] = [], claims extra: [String: JSONValue] = [:]) -> String {
        Self.token(subject: subject, groups: groups, claims: extra)
    }

    static func token(subject: String = "alice", groups: [String] = [], claims extra: [String: JSONValue] = [:]) -> String {
        let now = Int64(Date().timeIntervalSince1970)
        var claims: [String: JSONValue] = [
            "iss": .string(Self.issuer), "aud": .string(Self.audience), "sub": .string(subject), "iat": .integer(now), "nbf": .integer(now - 5),
            "exp": .integer(now + 600), "preferred_username": .string("\(subject)@example.com"), "groups": .array(groups.map(JSONValue.string)),
        ]
        claims.merge(extra) { _, new in new }
        return TestToken(claims: claims).signed()
    }

    // MARK: HTTP

    struct Answer: Sendable {
        var status: Int
        var headers: [String: String]
        var body: JSONValue

        var errorCode: String? { body["error"]?["code"]?.stringValue }
    }

    func get(_ path: String, token: String?, headers: [String: String] = [:]) async throws -> Answer {
        try await send("GET", path, token: token, headers: headers, body: nil)
    }

    func post(_ path: String, token: String?, json: String, headers: [String: String] = [:], timeout: TimeAmount = .seconds(120)) async throws -> Answer {
        try await send(
            "POST", path, token: token, headers: headers.merging(["Content-Type": "application/json"]) { a, _ in a }, body: Array(json.utf8),
            timeout: timeout
        )
    }

    /// `timeout` bounds the whole exchange: past it the call throws (the gateway did not answer).
    func send(
        _ method: String, _ path: String, token: String?, headers: [String: String], body: [UInt8]?, timeout: TimeAmount = .seconds(120)
    ) async throws -> Answer {
        try await Self.send(baseURL: baseURL, method, path, token: token, headers: headers, body: body, timeout: timeout)
    }

    static func send(
        baseURL: String, _ method: String, _ path: String, token: String?, headers: [String: String], body: [UInt8]?,
        timeout: TimeAmount = .seconds(120)
    ) async throws -> Answer {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = .init(rawValue: method)
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: timeout)
        let bytes = try await response.body.collect(upTo: 16 << 20)
        var answerHeaders: [String: String] = [:]
        for header in response.headers { answerHeaders[header.name.lowercased()] = header.value }
        let data = Data(bytes.readableBytesView)
        let value = data.isEmpty ? JSONValue.null : ((try? JSONDecoder().decode(JSONValue.self, from: data)) ?? .string(String(decoding: data, as: UTF8.self)))
        return Answer(status: Int(response.status.code), headers: answerHeaders, body: value)
    }
}
