import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import Shared
import Synchronization
import TestSupport
import Testing
import Worker

/// A gateway made of the real executables, `mcp-ingress` and `mcp-worker` as `swift build`
/// built them, started with environment variables as an operator starts them, so that a test
/// can stop them as production does: `SIGTERM` (a rolling deploy, a scale-in) or `SIGKILL` (a
/// crash, an OOM kill). Names (queues, exchanges, the PostgreSQL schema) are the test's own.
/// Each process writes its log to a file under ``logDirectory``, kept when a test fails.
final class GatewayProcesses: Sendable {
    struct Options: Sendable {
        var workers = 2
        /// Ingress processes; the first answers at ``baseURL``, all at ``ingressURLs``.
        var ingresses = 1
        var workerConcurrency = 8
        var servers: [ServerRecord] = []
        var groupGrants: [(group: String, server: String)] = []
        /// A broker of the test's own (for tests that restart it), else the shared one.
        var amqpURL: String?
        /// A database of the test's own (for tests that restart it), else a scratch schema.
        var databaseURL: String?
        var workerShutdownGrace: Duration = .seconds(15)
        var defaultTimeout: Duration = .seconds(20)
        /// More environment for every process.
        var environment: [String: String] = [:]
    }

    let baseURL: String
    /// Every ingress's base URL (the first is ``baseURL``).
    let ingressURLs: [String]
    let topology: GatewayTopology
    /// The gateway's database as the test sees it (for checks behind the gateway's back).
    let database: PostgresClient
    let logDirectory: URL
    let amqpURL: String
    private let workerEnvironment: [String: String]
    private let healthPorts: [Int]
    private let processes = Mutex<[String: Process]>([:])

    private init(
        ingressURLs: [String], topology: GatewayTopology, database: PostgresClient, logDirectory: URL, amqpURL: String,
        workerEnvironment: [String: String], healthPorts: [Int]
    ) {
        self.baseURL = ingressURLs[0]
        self.ingressURLs = ingressURLs
        self.topology = topology
        self.database = database
        self.logDirectory = logDirectory
        self.amqpURL = amqpURL
        self.workerEnvironment = workerEnvironment
        self.healthPorts = healthPorts
    }

    /// Where `swift build` put the executables: beside the test bundle, or `MCPGW_BIN_DIR`.
    static func executable(_ name: String) throws -> String {
        let directory = ProcessInfo.processInfo.environment["MCPGW_BIN_DIR"]
            ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
        let path = URL(fileURLWithPath: directory).appendingPathComponent(name).path
        try #require(FileManager.default.isExecutableFile(atPath: path), "\(name) not found in \(directory) (swift build builds it)")
        return path
    }

    static func run(_ options: Options, _ body: @Sendable (GatewayProcesses) async throws -> Void) async throws {
        if let databaseURL = options.databaseURL {
            let configuration = PostgresConfiguration(connectionString: databaseURL, poolSize: 2, applicationName: "e2e-processes")
            try await run(options: options, databaseConfiguration: configuration, schema: nil, body)
        } else {
            try await PostgresTestDatabase.withSchema { database in
                try await run(options: options, databaseConfiguration: database.configuration(poolSize: 2), schema: database.schema, body)
            }
        }
    }

    private static func run(
        options: Options, databaseConfiguration: PostgresConfiguration, schema: String?, _ body: @Sendable (GatewayProcesses) async throws -> Void
    ) async throws {
        let logger = TestEnvironment.logger
        let setup = PostgresClient(configuration: databaseConfiguration, logger: logger)
        try await GatewayHarness.prepare(setup, servers: options.servers, groupGrants: options.groupGrants)

        let topology = GatewayTopology.scratch()
        let amqpURL = try options.amqpURL ?? TestEnvironment.require("AMQP_URL")
        let logDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("gateway-processes-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: logDirectory, withIntermediateDirectories: true)
        let jwksFile = logDirectory.appendingPathComponent("jwks.json")
        try Data(TestSigningKey.jwks([.primary]).utf8).write(to: jwksFile)

        let common = options.environment.merging(commonEnvironment(topology: topology, amqpURL: amqpURL)) { own, _ in own }
        let ingressPorts = try (0..<max(1, options.ingresses)).map { _ in try TestEnvironment.freePort() }
        var forWorkers = common.merging(Self.workerEnvironment(databaseURL: databaseConfiguration.connectionString, schema: schema)) { own, _ in own }
        forWorkers["WORKER_CONCURRENCY"] = "\(options.workerConcurrency)"
        forWorkers["WORKER_SHUTDOWN_GRACE_MS"] = "\(options.workerShutdownGrace.components.seconds * 1000)"
        let healthPorts = try (0..<options.workers).map { _ in try TestEnvironment.freePort() }

        let gateway = GatewayProcesses(
            ingressURLs: ingressPorts.map { "http://127.0.0.1:\($0)" }, topology: topology, database: setup, logDirectory: logDirectory, amqpURL: amqpURL,
            workerEnvironment: forWorkers, healthPorts: healthPorts
        )
        var failed = true
        do {
            for (index, port) in ingressPorts.enumerated() {
                var forIngress = common.merging(Self.ingressEnvironment(port: port, jwks: jwksFile)) { own, _ in own }
                forIngress["CALL_DEFAULT_TIMEOUT_MS"] = "\(options.defaultTimeout.components.seconds * 1000)"
                try gateway.launch(index == 0 ? "ingress" : "ingress-\(index)", executable: try executable("mcp-ingress"), environment: forIngress)
            }
            for index in 0..<options.workers { try await gateway.startWorker(index) }
            for url in gateway.ingressURLs { try await gateway.waitUntilReady(url: "\(url)/readyz", what: "ingress") }
            try await body(gateway)
            failed = false
        } catch {
            Issue.record("gateway process logs kept in \(logDirectory.path)")
            await gateway.stopAll()
            await setup.shutdown()
            throw error
        }
        await gateway.stopAll()
        await setup.shutdown()
        if !failed { try? FileManager.default.removeItem(at: logDirectory) }
        if let configuration = try? AMQPTest.configuration(url: amqpURL) {
            await GatewayHarness.cleanUp(topology, servers: options.servers.map(\.id), amqp: configuration)
        }
    }

    // MARK: Environment

    /// What both executables read: the broker, the test's own names, a fresh signing key.
    static func commonEnvironment(topology: GatewayTopology, amqpURL: String) -> [String: String] {
        [
            "AMQP_URL": amqpURL, "AMQP_RECONNECT_MIN_MS": "50", "AMQP_RECONNECT_MAX_MS": "500",
            "AMQP_REQUESTS_EXCHANGE": topology.requestsExchange, "AMQP_QUEUE_PREFIX": topology.queuePrefix,
            "AMQP_CATALOG_QUEUE": topology.catalogQueue, "AMQP_DEAD_LETTER_EXCHANGE": topology.deadLetterExchange,
            "AMQP_DEAD_LETTER_QUEUE": topology.deadLetterQueue, "AMQP_AUDIT_STREAM": topology.auditStream,
            "AMQP_CANCEL_EXCHANGE": topology.cancelExchange,
            "ENVELOPE_SIGNING_KEY": Data(SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }).base64EncodedString(),
            "ENVELOPE_SIGNING_KEY_ID": "e2e", "LOG_LEVEL": "info",
        ]
    }

    /// The ingress's own: its port, and tokens of the tests' issuer.
    static func ingressEnvironment(port: Int, jwks: URL) -> [String: String] {
        [
            "INGRESS_HOST": "127.0.0.1", "INGRESS_PORT": "\(port)", "AUTH_JWKS_URL": jwks.absoluteString, "AUTH_ISSUER": GatewayHarness.issuer,
            "AUTH_AUDIENCE": GatewayHarness.audience, "INGRESS_SHUTDOWN_GRACE_MS": "10000",
        ]
    }

    /// A worker's own: the database (a schema of the test's own through `PGOPTIONS`), a fresh credentials key.
    static func workerEnvironment(databaseURL: String, schema: String?) -> [String: String] {
        var environment = [
            "DATABASE_URL": databaseURL, "WORKER_CATALOG_REFRESH_MS": "500", "WORKER_HEALTH_HOST": "127.0.0.1",
            "WORKER_STARTUP_RETRY_MAX_MS": "1000",
            "CREDENTIALS_KEY": Data(SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }).base64EncodedString(),
        ]
        if let schema { environment["PGOPTIONS"] = "-c search_path=\(schema)" }
        return environment
    }

    // MARK: Processes

    /// Starts `executable` with the test's environment plus `environment`, its output appended to `log`.
    static func spawn(_ executable: String, environment: [String: String], log: URL) throws -> Process {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: executable)
        child.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        if !FileManager.default.fileExists(atPath: log.path) { _ = FileManager.default.createFile(atPath: log.path, contents: nil) }
        let handle = try FileHandle(forWritingTo: log)
        handle.seekToEndOfFile()
        child.standardOutput = handle
        child.standardError = handle
        child.standardInput = FileHandle.nullDevice
        try child.run()
        return child
    }

    private func launch(_ name: String, executable: String, environment: [String: String]) throws {
        let child = try Self.spawn(executable, environment: environment, log: logDirectory.appendingPathComponent("\(name).log"))
        processes.withLock { $0[name] = child }
    }

    /// The HTTP status of a GET, or `nil` when nothing answers.
    static func status(of url: String) async -> Int? {
        var request = HTTPClientRequest(url: url)
        request.method = .GET
        guard let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(2)) else { return nil }
        _ = try? await response.body.collect(upTo: 1 << 16)
        return Int(response.status.code)
    }

    /// Starts worker `index` (again) and waits until it is ready (consuming).
    func startWorker(_ index: Int) async throws {
        var environment = workerEnvironment
        environment["WORKER_ID"] = "worker-\(index)"
        environment["WORKER_HEALTH_PORT"] = "\(healthPorts[index])"
        try launch("worker-\(index)", executable: try Self.executable("mcp-worker"), environment: environment)
        try await waitUntilReady(url: "http://127.0.0.1:\(healthPorts[index])/readyz", what: "worker-\(index)")
    }

    /// Sends `signal` to the ingress and waits for it to exit; returns its exit status.
    @discardableResult
    func stopIngress(signal: Int32, within limit: Duration = .seconds(60)) async throws -> Int32 {
        try await stop("ingress", signal: signal, within: limit)
    }

    /// Sends `signal` to worker `index` and waits for it to exit; returns its exit status.
    @discardableResult
    func stopWorker(_ index: Int, signal: Int32, within limit: Duration = .seconds(60)) async throws -> Int32 {
        try await stop("worker-\(index)", signal: signal, within: limit)
    }

    private func stop(_ name: String, signal: Int32, within limit: Duration) async throws -> Int32 {
        let child = try #require(processes.withLock { $0[name] }, "no process \(name)")
        _ = kill(child.processIdentifier, signal)
        let gone = await MCPTestEnvironment.eventually(within: limit) { !child.isRunning }
        try #require(gone, "\(name) did not exit within \(limit) of signal \(signal)")
        processes.withLock { $0[name] = nil }
        return child.terminationStatus
    }

    private func stopAll() async {
        let all = processes.withLock { processes in
            defer { processes.removeAll() }
            return Array(processes.values)
        }
        for child in all where child.isRunning { _ = kill(child.processIdentifier, SIGKILL) }
        for child in all { _ = await MCPTestEnvironment.eventually(within: .seconds(10)) { !child.isRunning } }
    }

    private func waitUntilReady(url: String, what: String) async throws {
        let ready = try? await eventually(timeout: .seconds(60)) { () -> Bool? in
            await Self.status(of: url) == 200 ? true : nil
        }
        try #require(ready == true, "\(what) did not become ready; logs in \(logDirectory.path)")
    }

    /// Where worker `index` serves `/healthz`, `/readyz` and `/metrics`.
    func workerHealthURL(_ index: Int) -> String {
        "http://127.0.0.1:\(healthPorts[index])"
    }

    /// The log of one process so far.
    func log(_ name: String) -> String {
        (try? String(contentsOf: logDirectory.appendingPathComponent("\(name).log"), encoding: .utf8)) ?? ""
    }

    // MARK: Calls

    func token(subject: String = "alice", groups: [String] = []) -> String {
        GatewayHarness.token(subject: subject, groups: groups)
    }

    func get(_ path: String, token: String?, headers: [String: String] = [:]) async throws -> GatewayHarness.Answer {
        try await GatewayHarness.send(baseURL: baseURL, "GET", path, token: token, headers: headers, body: nil)
    }

    func post(_ path: String, token: String?, json: String, headers: [String: String] = [:], ingress: Int = 0) async throws -> GatewayHarness.Answer {
        try await GatewayHarness.send(
            baseURL: ingressURLs[ingress], "POST", path, token: token, headers: headers.merging(["Content-Type": "application/json"]) { a, _ in a },
            body: Array(json.utf8)
        )
    }
}
