import Foundation

/// What one round of one scenario measured.
struct RoundResult: Sendable {
    /// Every call's latency, in milliseconds, sorted.
    var latencies: [Double]
    /// From the first call's start to the last call's end.
    var wallSeconds: Double
    /// CPU time (user + system) of this process during the round.
    var cpuSeconds: Double
    /// CPU time of the fixture server process during the round.
    var backendCPUSeconds: Double
    /// Busy share of the whole machine's CPU time during the round (0...1), from /proc/stat.
    var machineBusy: Double
    /// For gateway rounds, from the gateway's own metrics: the ingress's mean time from
    /// publishing to the reply, and the worker's mean processing time, in milliseconds.
    var ingressMean: Double? = nil
    var workerMean: Double? = nil
    /// Where our MCP client called the backend: its mean time per `tools/call`, in milliseconds.
    var backendCallMean: Double? = nil

    var calls: Int { latencies.count }
    var throughput: Double { wallSeconds > 0 ? Double(calls) / wallSeconds : 0 }
    var p50: Double { Percentile.of(latencies, 50) }
    var p90: Double { Percentile.of(latencies, 90) }
    var p99: Double { Percentile.of(latencies, 99) }
    var mean: Double { latencies.isEmpty ? 0 : latencies.reduce(0, +) / Double(latencies.count) }
    var cpuMicrosecondsPerCall: Double { calls > 0 ? cpuSeconds * 1e6 / Double(calls) : 0 }
    var backendCPUMicrosecondsPerCall: Double { calls > 0 ? backendCPUSeconds * 1e6 / Double(calls) : 0 }
    /// CPU used per second of the round, in % of one core.
    var cpuPercent: Double { wallSeconds > 0 ? cpuSeconds / wallSeconds * 100 : 0 }
    var backendCPUPercent: Double { wallSeconds > 0 ? backendCPUSeconds / wallSeconds * 100 : 0 }
}

enum Percentile {
    /// Nearest-rank percentile of an ascending array (0 for an empty one).
    static func of(_ sorted: [Double], _ percent: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let rank = Int((percent / 100 * Double(sorted.count)).rounded(.up))
        return sorted[min(max(rank, 1), sorted.count) - 1]
    }
}

/// One figure over the rounds: the median and the spread.
struct Spread: Sendable {
    var median: Double
    var min: Double
    var max: Double

    init(_ values: [Double]) {
        let sorted = values.sorted()
        precondition(!sorted.isEmpty, "a spread needs at least one value")
        let middle = sorted.count / 2
        median = sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
        min = sorted[0]
        max = sorted[sorted.count - 1]
    }
}

/// All rounds of one scenario at one concurrency.
struct Series: Sendable {
    var rounds: [RoundResult] = []

    var p50: Spread { Spread(rounds.map(\.p50)) }
    var p90: Spread { Spread(rounds.map(\.p90)) }
    var p99: Spread { Spread(rounds.map(\.p99)) }
    var mean: Spread { Spread(rounds.map(\.mean)) }
    var ingressMean: Spread? { Self.spread(rounds.compactMap(\.ingressMean), of: rounds.count) }
    var workerMean: Spread? { Self.spread(rounds.compactMap(\.workerMean), of: rounds.count) }
    var backendCallMean: Spread? { Self.spread(rounds.compactMap(\.backendCallMean), of: rounds.count) }

    private static func spread(_ values: [Double], of count: Int) -> Spread? {
        values.count == count && !values.isEmpty ? Spread(values) : nil
    }
    var throughput: Spread { Spread(rounds.map(\.throughput)) }
    var cpuPerCall: Spread { Spread(rounds.map(\.cpuMicrosecondsPerCall)) }
    var backendCPUPerCall: Spread { Spread(rounds.map(\.backendCPUMicrosecondsPerCall)) }
    var cpuPercent: Spread { Spread(rounds.map(\.cpuPercent)) }
    var backendCPUPercent: Spread { Spread(rounds.map(\.backendCPUPercent)) }
    var machineBusy: Spread { Spread(rounds.map { $0.machineBusy * 100 }) }
}
