import AsyncHTTPClient
import Crypto
import Foundation
import Ingress
import Logging
import NIOCore
import ServiceLifecycle
import Shared
import UnixSignals
import Worker

/// One way of making a tool call, measured the same way as every other.
struct Scenario: Sendable {
    /// `direct`, `floor-quorum`, `gateway-classic`, `direct-slow-0.1`, ...
    var key: String
    /// `(a) direct`, `(b) bare RPC floor, quorum`, ...
    var title: String
    /// What the path is, for the report.
    var path: String
    var call: @Sendable () async throws -> Void
    /// The gateway a `(c)` or `(d)` scenario goes through, for its own timings.
    var gateway: GatewayUnderTest? = nil
    /// Whether the fixture server does any work in it (not for the floors).
    var usesBackend = true
    /// The server id under which our MCP client times its calls in this scenario.
    var backendServerID: String? = nil
    /// For the slow-backend scenarios: how long each call sleeps.
    var slowSeconds: Double? = nil

    /// One measured round, with the gateway's own timings when there is a gateway.
    func round(calls: Int, concurrency: Int, backendPID: Int32) async throws -> RoundResult {
        let before = gateway?.timings()
        let backendBefore = backendServerID.map { BackendCallTimings.shared.totals(server: $0) }
        var result = try await LoadRunner.round(calls: calls, concurrency: concurrency, backendPID: backendPID, call)
        if let gateway, let before {
            (result.ingressMean, result.workerMean) = GatewayTimings.means(from: before, to: gateway.timings())
        }
        if let backendServerID, let backendBefore {
            result.backendCallMean = BackendCallTimings.mean(from: backendBefore, to: BackendCallTimings.shared.totals(server: backendServerID))
        }
        return result
    }
}

/// Sets everything up, measures, and tears everything down again (also when a step fails):
/// the fixture server process, a PostgreSQL schema of this run's own, broker objects named
/// after this run, and the in-process gateways.
struct BenchmarkRun {
    let plan: Plan
    let amqpURL: String
    let databaseURL: String
    let logger: Logger

    static let echoText = "hello from mcpgw-benchmark"

    func run() async throws -> Report {
        var report = Report(plan: plan)
        // The load generator's client: enough connections for the highest concurrency.
        let httpClient = HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: HTTPClient.Configuration(
                redirectConfiguration: .disallow,
                connectionPool: .init(
                    idleTimeout: .seconds(60),
                    concurrentHTTP1ConnectionsPerHostSoftLimit: max(64, (plan.levels.max() ?? 1), plan.slowConcurrency) * 2
                )
            )
        )
        let issuer: BenchmarkIssuer
        do {
            issuer = try BenchmarkIssuer()
        } catch {
            try? await httpClient.shutdown()
            throw error
        }
        do {
            progress("Starting the fixture MCP server (\(plan.python) \(plan.fixtureServer), streamable HTTP\(plan.jsonResponse ? ", JSON answers" : ""))")
            let backend = try await FixtureBackend.start(
                python: plan.python, script: plan.fixtureServer, jsonResponse: plan.jsonResponse, httpClient: httpClient
            )
            do {
                try await withScratchSchema { databaseConfiguration in
                    try await measure(backend: backend, databaseConfiguration: databaseConfiguration, issuer: issuer, httpClient: httpClient, into: &report)
                }
                report.backendPeakResidentBytes = ResourceUsage.peakResidentBytes(of: backend.pid)
            } catch {
                await backend.stop()
                throw error
            }
            await backend.stop()
        } catch {
            issuer.removeFiles()
            try? await httpClient.shutdown()
            throw error
        }
        issuer.removeFiles()
        try await httpClient.shutdown()
        report.finishedAt = Date()
        report.peakResidentBytes = ResourceUsage.peakResidentBytes()
        return report
    }

    // MARK: Database

    /// A schema of this run's own (`bench_<id>`), migrated, dropped afterwards.
    private func withScratchSchema(_ body: (PostgresConfiguration) async throws -> Void) async throws {
        let schema = BenchmarkNames.runID.replacingOccurrences(of: "-", with: "_")
        let admin = PostgresClient(
            configuration: PostgresConfiguration(connectionString: databaseURL, poolSize: 1, applicationName: "mcpgw-benchmark-admin"), logger: logger
        )
        do {
            try await admin.execute("CREATE SCHEMA \(identifier: schema)")
        } catch {
            await admin.shutdown()
            throw BenchmarkError("cannot create the scratch schema \(schema) on DATABASE_URL: \(error)")
        }
        let configuration = PostgresConfiguration(
            connectionString: databaseURL, poolSize: plan.pgPoolSize, applicationName: "mcpgw-benchmark",
            parameterOverrides: ["options": "-c search_path=\(schema)"]
        )
        do {
            try await body(configuration)
        } catch {
            _ = try? await admin.execute("DROP SCHEMA IF EXISTS \(identifier: schema) CASCADE")
            await admin.shutdown()
            throw error
        }
        _ = try? await admin.execute("DROP SCHEMA IF EXISTS \(identifier: schema) CASCADE")
        await admin.shutdown()
    }

    // MARK: Measuring

    private func measure(
        backend: FixtureBackend, databaseConfiguration: PostgresConfiguration, issuer: BenchmarkIssuer, httpClient: HTTPClient,
        into report: inout Report
    ) async throws {
        let setup = PostgresClient(configuration: databaseConfiguration, logger: logger)
        do {
            _ = try await Migrator(client: setup, migrations: try Migration.bundled(), logger: logger).migrate()
            for queueType in plan.queueTypes {
                try await ServerCatalog(database: setup).upsert(backend.record(id: BenchmarkNames.server(for: queueType)))
                try await GrantStore(database: setup).grantGroup(BenchmarkNames.group, server: BenchmarkNames.server(for: queueType))
            }
        } catch {
            await setup.shutdown()
            throw error
        }

        let directPool = MCPBackendPool(logger: logger)
        var floors: [BareRPC] = []
        var gateways: [GatewayUnderTest] = []
        do {
            try build(floors: &floors, gateways: &gateways, databaseConfiguration: databaseConfiguration, issuer: issuer, httpClient: httpClient)
        } catch {
            await directPool.shutdown()
            await setup.shutdown()
            throw error
        }
        let services: [any Service] = [directPool] + floors.flatMap(\.services) + gateways.flatMap(\.services)
        let group = ServiceGroup(
            configuration: .init(
                services: services.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint], cancellationSignals: [], logger: logger
            )
        )

        var caught: (any Error)?
        await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            do {
                try await measureRunning(
                    backend: backend, directPool: directPool, floors: floors, gateways: gateways, setup: setup, issuer: issuer,
                    httpClient: httpClient, into: &report
                )
            } catch {
                caught = error
            }
            progress("Shutting the gateways down")
            await group.triggerGracefulShutdown()
            try? await tasks.waitForAll()
        }
        await removeBrokerObjects(floors: floors, gateways: gateways)
        await setup.shutdown()
        if let caught { throw caught }
    }

    /// A bare RPC and a gateway per queue type.
    private func build(
        floors: inout [BareRPC], gateways: inout [GatewayUnderTest], databaseConfiguration: PostgresConfiguration, issuer: BenchmarkIssuer,
        httpClient: HTTPClient
    ) throws {
        for queueType in plan.queueTypes {
            for gatewayLayout in plan.layoutFloor ? [false, true] : [false] {
                floors.append(
                    BareRPC(
                        queueType: queueType, gatewayLayout: gatewayLayout, amqpConfiguration: try AMQPConfiguration(url: amqpURL, connectionName: "floor"),
                        prefetch: plan.workerConcurrency, logger: logger
                    )
                )
            }
            gateways.append(
                try GatewayUnderTest(
                    queueType: queueType, amqpURL: amqpURL, databaseConfiguration: databaseConfiguration, issuer: issuer,
                    workerConcurrency: plan.workerConcurrency, httpClient: httpClient, logger: logger
                )
            )
        }
    }

    private func measureRunning(
        backend: FixtureBackend, directPool: MCPBackendPool, floors: [BareRPC], gateways: [GatewayUnderTest], setup: PostgresClient,
        issuer: BenchmarkIssuer, httpClient: HTTPClient, into report: inout Report
    ) async throws {
        progress("Waiting for the broker connections and the workers")
        for floor in floors { try await floor.waitUntilReady(timeout: .seconds(30)) }
        for gateway in gateways { try await gateway.waitUntilServing(timeout: .seconds(30)) }
        report.idleCPU = try await idleCPU()

        let token = try issuer.token(subject: "bench-user", groups: [BenchmarkNames.group])
        let echoArguments: JSONValue = ["text": .string(Self.echoText)]
        let echoBody = ByteBuffer(bytes: try ContractJSON.encoder.encode(echoArguments))
        let direct = try directPool.backend(for: backend.definition(id: BenchmarkNames.directServer))
        // The floor carries what the gateway carries: a signed request envelope of the same call.
        let floorBody = try sampleEnvelope(arguments: echoArguments)
        report.floorMessageBytes = floorBody.count

        // Every path gives the right answer before any is timed.
        try Self.checkEcho(try await direct.callTool(name: "echo", arguments: echoArguments), path: "direct")
        for floor in floors { try await floor.call(floorBody) }
        for gateway in gateways {
            let answer = try await gateway.callTool("echo", body: echoBody, token: token, httpClient: httpClient)
            try Self.checkEcho(try ContractJSON.decoder.decode(JSONValue.self, from: Data(answer.readableBytesView)), path: "the \(gateway.queueType) gateway")
        }

        var echo: [Scenario] = [
            Scenario(
                key: "direct", title: "(a) direct", path: "our MCP client (MCPBackend.callTool) → fixture server, streamable HTTP",
                call: {
                    let result = try await direct.callTool(name: "echo", arguments: echoArguments)
                    guard result["isError"]?.boolValue == false else { throw BenchmarkError("the echo tool failed: \(result)") }
                },
                backendServerID: BenchmarkNames.directServer
            )
        ]
        for floor in floors {
            echo.append(
                floor.gatewayLayout
                    ? Scenario(
                        key: "floor-layout-\(floor.queueType)", title: "(b+) bare RPC, gateway layout, \(floor.queueType)",
                        path: "as (b), but through a topic exchange to a \(floor.queueType) queue and the audit stream, and an outcome record to the stream before the ack",
                        call: { try await floor.call(floorBody) }, usesBackend: false
                    )
                    : Scenario(
                        key: "floor-\(floor.queueType)", title: "(b) bare RPC floor, \(floor.queueType)",
                        path: "confirmed publish of \(floorBody.count) B to a \(floor.queueType) queue → responder → direct reply-to; no backend",
                        call: { try await floor.call(floorBody) }, usesBackend: false
                    )
            )
        }
        for gateway in gateways {
            echo.append(
                Scenario(
                    key: "gateway-\(gateway.queueType)", title: "(c) gateway, \(gateway.queueType)",
                    path: "HTTP → ingress (JWT, envelope, confirmed publish) → \(gateway.queueType) queue → worker (verify, ledger, authorize) → backend → reply",
                    call: { _ = try await gateway.callTool("echo", body: echoBody, token: token, httpClient: httpClient) },
                    gateway: gateway, backendServerID: gateway.serverID
                )
            )
        }
        var slow: [Scenario] = []
        for seconds in plan.slowSeconds where plan.slowCalls > 0 {
            let sleep = Plan.seconds(seconds)
            let slowArguments: JSONValue = ["seconds": .double(seconds)]
            let slowBody = ByteBuffer(bytes: try ContractJSON.encoder.encode(slowArguments))
            slow.append(
                Scenario(
                    key: "direct-slow-\(sleep)", title: "(d) slow backend \(sleep) s, direct", path: "sleep(\(sleep) s) through our MCP client",
                    call: {
                        let result = try await direct.callTool(name: "sleep", arguments: slowArguments)
                        guard result["isError"]?.boolValue == false else { throw BenchmarkError("the sleep tool failed: \(result)") }
                    },
                    backendServerID: BenchmarkNames.directServer, slowSeconds: seconds
                )
            )
            for gateway in gateways {
                slow.append(
                    Scenario(
                        key: "gateway-\(gateway.queueType)-slow-\(sleep)", title: "(d) slow backend \(sleep) s, gateway \(gateway.queueType)",
                        path: "sleep(\(sleep) s) through the whole gateway",
                        call: { _ = try await gateway.callTool("sleep", body: slowBody, token: token, httpClient: httpClient) },
                        gateway: gateway, backendServerID: gateway.serverID, slowSeconds: seconds
                    )
                )
            }
        }
        echo = echo.filter { plan.includes($0.key) }
        slow = slow.filter { plan.includes($0.key) }
        report.scenarios = echo + slow

        if plan.warmup > 0 {
            for level in plan.levels {
                for scenario in echo {
                    progress("Warm-up: \(scenario.title), concurrency \(level), \(plan.warmup) calls")
                    _ = try await LoadRunner.round(calls: plan.warmup, concurrency: level, backendPID: backend.pid, scenario.call)
                }
            }
            for scenario in slow {
                progress("Warm-up: \(scenario.title), concurrency \(plan.slowConcurrency), \(plan.slowConcurrency) calls")
                _ = try await LoadRunner.round(calls: plan.slowConcurrency, concurrency: plan.slowConcurrency, backendPID: backend.pid, scenario.call)
            }
        }

        for round in 0..<plan.rounds {
            // Each round starts at another scenario, so that none always runs first or last.
            let order = echo.indices.map { echo[($0 + round) % echo.count] }
            for level in plan.levels {
                for scenario in order {
                    let result = try await scenario.round(calls: plan.calls, concurrency: level, backendPID: backend.pid)
                    report.add(result, scenario: scenario.key, concurrency: level)
                    progress(Self.progressLine(round: round, of: plan.rounds, title: scenario.title, concurrency: level, result))
                }
            }
            for scenario in slow.indices.map({ slow[($0 + round) % slow.count] }) {
                let calls = plan.slowCalls(sleeping: scenario.slowSeconds ?? 0.1)
                let result = try await scenario.round(calls: calls, concurrency: plan.slowConcurrency, backendPID: backend.pid)
                report.add(result, scenario: scenario.key, concurrency: plan.slowConcurrency)
                progress(Self.progressLine(round: round, of: plan.rounds, title: scenario.title, concurrency: plan.slowConcurrency, result))
            }
        }

        if plan.stepCalls > 0, let gateway = gateways.first {
            report.components = try await timeComponents(
                gateway: gateway, token: token, envelopeArguments: echoArguments, configuration: setup.configuration, httpClient: httpClient
            )
        }
    }

    /// Measures what this process spends with every connection up and no call running.
    private func idleCPU(for duration: Duration = .seconds(2)) async throws -> Double {
        let before = ResourceUsage.processCPUSeconds()
        let clock = ContinuousClock()
        let start = clock.now
        try await Task.sleep(for: duration)
        return (ResourceUsage.processCPUSeconds() - before) / (start.duration(to: clock.now).milliseconds / 1000)
    }

    /// The body of a signed `tools/call` envelope for the echo call, as the ingress would publish it.
    private func sampleEnvelope(arguments: JSONValue) throws -> [UInt8] {
        let now = Date()
        let envelope = RequestEnvelope(
            kind: .callTool, server: BenchmarkNames.server, tool: "echo", arguments: arguments, principal: Self.principal, issuedAt: now,
            deadline: now.addingTimeInterval(30), trace: .fresh()
        )
        let codec = SignedEnvelopeCodec(signer: EnvelopeSigner(currentKeyID: "bench", currentKey: .init(size: .bits256)))
        return try codec.encode(envelope).body
    }

    /// The principal the benchmark's token yields.
    static let principal = Principal(
        subject: "bench-user", tenantID: "default", userName: "bench-user@benchmark.invalid", groups: [BenchmarkNames.group],
        authenticationMethod: "jwt"
    )

    /// Times, one at a time, the steps a gateway call takes besides the broker and the backend,
    /// each with the production code: the HTTP hop, the token check, the envelope's signing and
    /// checking, the authorization decision and the call ledger (the last two against the real
    /// database, on one session of their own).
    private func timeComponents(
        gateway: GatewayUnderTest, token: String, envelopeArguments: JSONValue, configuration: PostgresConfiguration, httpClient: HTTPClient
    ) async throws -> [Component] {
        var single = configuration
        single.poolSize = 1
        let database = PostgresClient(configuration: single, logger: logger)
        let authorizer = Authorizer(database: database)
        let ledger = CallLedger(database: database)
        let codec = SignedEnvelopeCodec(signer: EnvelopeSigner(currentKeyID: "bench", currentKey: .init(size: .bits256)))
        let verifier = gateway.verifier
        @Sendable func envelope() -> RequestEnvelope {
            let now = Date()
            return RequestEnvelope(
                kind: .callTool, server: gateway.serverID, tool: "echo", arguments: envelopeArguments, principal: Self.principal, issuedAt: now,
                deadline: now.addingTimeInterval(30), trace: .fresh()
            )
        }
        let encoded = try codec.encode(envelope())
        // `onPath`: whether a gateway call with a warm decision cache waits for the step.
        let steps: [(name: String, note: String, onPath: Bool, call: @Sendable () async throws -> Void)] = [
            ("HTTP round trip to the ingress", "GET /healthz, no authentication, no broker", true, { try await gateway.healthz(httpClient: httpClient) }),
            ("bearer token check", "TokenVerifier.verify: RS256, claims, principal", true, {
                _ = try await verifier.verify(token: token)
            }),
            ("envelope encode + sign", "SignedEnvelopeCodec.encode (ingress)", true, { _ = try codec.encode(envelope()) }),
            ("envelope verify + decode", "SignedEnvelopeCodec.decode (worker)", true, {
                _ = try codec.decode(body: encoded.body, headers: encoded.headers)
            }),
            ("authorization decision, uncached", "Authorizer.decide(cached: false): catalog, grants and credential read from PostgreSQL", false, {
                guard try await authorizer.decide(Self.principal, server: gateway.serverID, tool: "echo", cached: false).allowed else {
                    throw BenchmarkError("the authorizer denied the benchmark's principal; the grant is missing")
                }
            }),
            ("authorization decision, cached", "Authorizer.decide: the worker's decision cache (dropped on NOTIFY, TTL as safety net)", true, {
                guard try await authorizer.decide(Self.principal, server: gateway.serverID, tool: "echo").allowed else {
                    throw BenchmarkError("the authorizer denied the benchmark's principal; the grant is missing")
                }
            }),
            ("call ledger claim", "CallLedger.claim: INSERT before the tool runs", true, {
                guard try await ledger.claim(envelope(), worker: "bench") == .claimed else { throw BenchmarkError("a fresh call id was not claimable") }
            }),
            ("call ledger claim + record", "CallLedger: INSERT, then UPDATE with the reply (the UPDATE runs while the reply is published)", false, {
                let call = envelope()
                guard try await ledger.claim(call, worker: "bench") == .claimed else { throw BenchmarkError("a fresh call id was not claimable") }
                try await ledger.record(Array(#"{"callId":"x","outcome":"result"}"#.utf8), for: call.callID)
            }),
        ]
        var components: [Component] = []
        do {
            for step in steps {
                progress("Timing \(plan.stepCalls) × \(step.name)")
                _ = try await LoadRunner.round(calls: min(100, plan.stepCalls), concurrency: 1, backendPID: 0, step.call)
                let result = try await LoadRunner.round(calls: plan.stepCalls, concurrency: 1, backendPID: 0, step.call)
                components.append(Component(name: step.name, note: step.note, onCallPath: step.onPath, result: result))
            }
        } catch {
            await database.shutdown()
            throw error
        }
        await database.shutdown()
        return components
    }

    private static func checkEcho(_ result: JSONValue, path: String) throws {
        let text = result["content"]?.arrayValue?.first?["text"]?.stringValue
        guard result["isError"]?.boolValue == false, text == echoText else {
            throw BenchmarkError("\(path): the echo tool answered \(result), not the text sent")
        }
    }

    private static func progressLine(round: Int, of rounds: Int, title: String, concurrency: Int, _ result: RoundResult) -> String {
        let padded = title.padding(toLength: 36, withPad: " ", startingAt: 0)
        return "round \(round + 1)/\(rounds)  c=\(String(concurrency).padding(toLength: 3, withPad: " ", startingAt: 0)) \(padded)"
            + " p50 \(Format.ms(result.p50)) ms  p99 \(Format.ms(result.p99)) ms  \(Format.rate(result.throughput)) calls/s"
    }

    // MARK: Cleanup

    /// Deletes every queue, stream and exchange this run declared, over a connection of its own.
    private func removeBrokerObjects(floors: [BareRPC], gateways: [GatewayUnderTest]) async {
        guard let configuration = try? AMQPConfiguration(url: amqpURL, connectionName: "\(BenchmarkNames.runID).cleanup") else { return }
        let amqp = AMQPConnection(configuration: configuration, logger: logger)
        async let running: Void = amqp.run()
        do {
            try await amqp.waitUntilConnected(timeout: .seconds(10))
            for queue in floors.flatMap(\.queues) + gateways.flatMap(\.queues) { try? await amqp.deleteQueue(queue) }
            for exchange in floors.flatMap(\.exchanges) + gateways.flatMap(\.exchanges) { try? await amqp.deleteExchange(exchange) }
        } catch {
            progress("Could not remove this run's broker objects (\(BenchmarkNames.runID).*): \(error)")
        }
        await amqp.close()
        await running
    }
}

/// Progress goes to stderr; the report to stdout.
func progress(_ line: String) {
    FileHandle.standardError.write(Data("[benchmark] \(line)\n".utf8))
}
