import ArgumentParser
import AsyncHTTPClient
import Foundation
import Ingress
import Logging
import Metrics
import NIOCore
import ServiceLifecycle
import Shared
import UnixSignals
import Worker

/// `mcpgw-benchmark`: what the queue costs. In one run, on this machine and one backend (the
/// fixture MCP server over streamable HTTP), it measures tool-call latency and throughput of
/// calling the backend directly, of a bare RPC over the broker, and of the whole gateway, and
/// prints the ratios issue 3 sets targets for. See docs/performance.md.
@main
struct BenchmarkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcpgw-benchmark",
        abstract: "Measures what the gateway and its queue add to an MCP tool call.",
        discussion: """
            Needs AMQP_URL and DATABASE_URL (scripts/services.sh env) and a Python with the mcp SDK \
            (scripts/python-env.sh). scripts/benchmark.sh does all of that, builds and runs this.
            """
    )

    @Option(help: "Repeated rounds; every figure is the median over them, with their min and max.")
    var rounds = 5
    @Option(help: "Measured calls per round, for each scenario and concurrency level.")
    var calls = 300
    @Option(help: "Unmeasured calls before the first round of each scenario and concurrency level.")
    var warmup = 50
    @Option(help: "Concurrency levels, comma-separated.")
    var concurrency = "1,32"
    @Option(help: "Seconds the slow backend's sleep tool takes per call, comma-separated for several slow cases.")
    var slowSeconds = "0.1,0.5"
    @Option(help: "Concurrency of the slow-backend comparison.")
    var slowConcurrency = 32
    @Option(help: "Measured calls per round of the slow-backend comparison at 0.1 s; longer sleeps get proportionally fewer, at least 3 × the concurrency (0 skips it).")
    var slowCalls = 320
    @Option(help: "The worker's concurrency (its request-queue prefetch), also the floor responder's prefetch. Default: the highest concurrency.")
    var workerConcurrency: Int?
    @Option(help: "PostgreSQL sessions in the worker's pool (the production default is 4).")
    var pgPoolSize = 4
    @Option(help: "Calls per step when the steps of a gateway call (token check, envelope, authorization decision, call ledger, HTTP hop) are timed on their own (0 skips this).")
    var stepCalls = 500
    @Option(help: "Request queue types to run the floor and the gateway with, comma-separated (quorum, classic).")
    var queueTypes = "quorum,classic"
    @Flag(inversion: .prefixedNo, help: "Also run (b+): the bare RPC over the gateway's broker layout (requests exchange, audit stream).")
    var layoutFloor = true
    @Flag(help: "Have the fixture server answer POSTs with plain JSON instead of an event stream.")
    var jsonResponse = false
    @Option(help: "Run only the scenarios whose keys start with one of these, comma-separated (direct, floor, floor-layout, gateway, gateway-quorum, ...); for profiling.")
    var only: String?
    @Option(help: "A Python with the mcp SDK. Default: $MCPGW_PYTHON, else python3.")
    var python: String?
    @Option(help: "fixture_server.py. Default: Tests/Fixtures/mcp/fixture_server.py under $MCPGW_REPO, else under the current directory.")
    var fixtureServer: String?
    @Option(help: "Log level of the gateway's own logs (JSON lines on stderr): trace, debug, info, notice, warning, error, critical.")
    var logLevel = "warning"
    @Option(help: "A line printed with the conditions (scripts/benchmark.sh names the build configuration).")
    var note: String?

    func validate() throws {
        guard (1...100).contains(rounds) else { throw ValidationError("--rounds must be 1...100") }
        guard (10...100_000).contains(calls) else { throw ValidationError("--calls must be 10...100000") }
        guard (0...100_000).contains(warmup) else { throw ValidationError("--warmup must be 0...100000") }
        guard let levels = try? concurrencyLevels, !levels.isEmpty else { throw ValidationError("--concurrency must list numbers 1...256") }
        guard (try? sleepSeconds) != nil else { throw ValidationError("--slow-seconds must list seconds in 0.001...10") }
        guard (1...256).contains(slowConcurrency) else { throw ValidationError("--slow-concurrency must be 1...256") }
        guard (0...100_000).contains(slowCalls) else { throw ValidationError("--slow-calls must be 0...100000") }
        guard (1...1000).contains(workerConcurrency ?? 1) else { throw ValidationError("--worker-concurrency must be 1...1000") }
        guard (1...200).contains(pgPoolSize) else { throw ValidationError("--pg-pool-size must be 1...200") }
        guard (0...1_000_000).contains(stepCalls) else { throw ValidationError("--step-calls must be 0...1000000") }
        guard (try? queueTypeList) != nil else { throw ValidationError("--queue-types must list quorum and/or classic") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level: unknown level \(logLevel)") }
    }

    var concurrencyLevels: [Int] {
        get throws {
            let levels = try concurrency.split(separator: ",").map { text -> Int in
                guard let level = Int(text.trimmingCharacters(in: .whitespaces)), (1...256).contains(level) else { throw ValidationError("") }
                return level
            }
            return levels.uniqued()
        }
    }

    var sleepSeconds: [Double] {
        get throws {
            let values = try slowSeconds.split(separator: ",").map { text -> Double in
                guard let value = Double(text.trimmingCharacters(in: .whitespaces)), (0.001...10).contains(value) else { throw ValidationError("") }
                return value
            }
            guard !values.isEmpty else { throw ValidationError("") }
            return values.uniqued()
        }
    }

    var queueTypeList: [GatewayTopology.QueueType] {
        get throws {
            let types = try queueTypes.split(separator: ",").map { text -> GatewayTopology.QueueType in
                guard let type = GatewayTopology.QueueType(rawValue: text.trimmingCharacters(in: .whitespaces)) else { throw ValidationError("") }
                return type
            }
            guard !types.isEmpty else { throw ValidationError("") }
            return types.uniqued()
        }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .warning
        LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: level) }
        MetricsSystem.bootstrap(BackendCallTimings.shared)
        let logger = Logger(label: "mcpgw-benchmark")
        let environment = ProcessInfo.processInfo.environment
        guard let amqpURL = environment["AMQP_URL"], !amqpURL.isEmpty else {
            throw BenchmarkError("AMQP_URL is not set: eval \"$(scripts/services.sh env)\" first, or use scripts/benchmark.sh")
        }
        guard let databaseURL = environment["DATABASE_URL"], !databaseURL.isEmpty else {
            throw BenchmarkError("DATABASE_URL is not set: eval \"$(scripts/services.sh env)\" first, or use scripts/benchmark.sh")
        }
        let repository = environment["MCPGW_REPO"].flatMap { $0.isEmpty ? nil : $0 } ?? FileManager.default.currentDirectoryPath
        let levels = try concurrencyLevels
        let plan = Plan(
            rounds: rounds, calls: calls, warmup: warmup, levels: levels, slowSeconds: try sleepSeconds,
            slowConcurrency: slowConcurrency, slowCalls: slowCalls,
            workerConcurrency: workerConcurrency ?? max(levels.max() ?? 1, slowConcurrency), pgPoolSize: pgPoolSize,
            stepCalls: stepCalls, queueTypes: try queueTypeList, layoutFloor: layoutFloor, jsonResponse: jsonResponse,
            python: python ?? environment["MCPGW_PYTHON"].flatMap { $0.isEmpty ? nil : $0 } ?? "python3",
            fixtureServer: fixtureServer ?? "\(repository)/Tests/Fixtures/mcp/fixture_server.py", note: note,
            only: only.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        )
        let report = try await BenchmarkRun(plan: plan, amqpURL: amqpURL, databaseURL: databaseURL, logger: logger).run()
        report.print()
    }
}

/// What to run, from the options.
struct Plan: Sendable {
    var rounds: Int
    var calls: Int
    var warmup: Int
    var levels: [Int]
    var slowSeconds: [Double]
    var slowConcurrency: Int
    var slowCalls: Int
    var workerConcurrency: Int
    var pgPoolSize: Int
    var stepCalls: Int
    var queueTypes: [GatewayTopology.QueueType]
    var layoutFloor: Bool
    var jsonResponse: Bool
    var python: String
    var fixtureServer: String
    var note: String?
    /// Scenario key prefixes to run; nil runs all.
    var only: [String]?

    func includes(_ scenarioKey: String) -> Bool {
        only.map { prefixes in prefixes.contains { scenarioKey.hasPrefix($0) } } ?? true
    }

    /// Measured calls per round of the slow case that sleeps `seconds`: `slowCalls` at 0.1 s,
    /// proportionally fewer for longer sleeps, never fewer than three waves of `slowConcurrency`.
    func slowCalls(sleeping seconds: Double) -> Int {
        guard slowCalls > 0 else { return 0 }
        let scaled = Int((Double(slowCalls) * min(1, 0.1 / seconds)).rounded(.up))
        return max(scaled, 3 * slowConcurrency)
    }

    /// `0.1` → `0.1`, `0.5` → `0.5`: how a sleep appears in scenario keys and titles.
    static func seconds(_ value: Double) -> String {
        String(format: "%g", value)
    }
}

extension Array where Element: Hashable {
    /// The elements in order, each once.
    func uniqued() -> [Element] {
        var seen: Set<Element> = []
        return filter { seen.insert($0).inserted }
    }
}
