import Foundation
import Shared

/// Everything measured, and how it is printed: a table per scenario (median over the rounds,
/// with min and max), a summary, and the two targets of issue 3, said plainly when missed.
struct Report {
    let plan: Plan
    let startedAt = Date()
    let loadAtStart = MachineInfo.loadAverage
    var finishedAt = Date()
    var scenarios: [Scenario] = []
    /// Scenario key → concurrency → its rounds.
    var series: [String: [Int: Series]] = [:]
    var floorMessageBytes = 0
    /// The steps of a gateway call timed on their own (see ``BenchmarkRun``).
    var components: [Component] = []
    /// This process's CPU use with every connection up and no call running (1 = one core).
    var idleCPU = 0.0
    var peakResidentBytes = 0
    var backendPeakResidentBytes: Int?

    /// The target of issue 3 for the gateway's extra latency over the floor, at concurrency 1.
    static let latencyAllowanceMilliseconds = 0.5
    /// The target of issue 3 for the slow backend's throughput ratio.
    static let slowThroughputTarget = 0.9

    mutating func add(_ result: RoundResult, scenario: String, concurrency: Int) {
        series[scenario, default: [:]][concurrency, default: Series()].rounds.append(result)
    }

    static var buildConfiguration: String {
        #if DEBUG
        "debug (NOT optimised: every figure here is pessimistic)"
        #else
        "release (optimised)"
        #endif
    }

    func print() {
        var out = ""
        func line(_ text: String = "") { out += text + "\n" }

        line("mcpgw-benchmark: what the gateway and its queue add to an MCP tool call")
        line("=========================================================================")
        line("Run:         \(Format.timestamp(startedAt)) to \(Format.timestamp(finishedAt)) (\(Int(finishedAt.timeIntervalSince(startedAt).rounded())) s), run id \(BenchmarkNames.runID)")
        line("Machine:     \(MachineInfo.cpuModel), \(ProcessInfo.processInfo.activeProcessorCount) cores, \(String(format: "%.0f", MachineInfo.memoryGiB)) GiB; load average \(loadAtStart) at start, \(MachineInfo.loadAverage) at end")
        line("Build:       \(Self.buildConfiguration)")
        if let note = plan.note { line("Note:        \(note)") }
        line("Backend:     fixture_server.py (official mcp Python SDK) over streamable HTTP on 127.0.0.1, \(plan.jsonResponse ? "JSON answers" : "answers as event streams (the SDK's default)"); tool echo; slow: sleep(\(plan.slowSeconds.map(Plan.seconds).joined(separator: " s, ")) s)")
        line("Gateway:     one ingress and one worker per queue type, all in this process; worker concurrency \(plan.workerConcurrency); PostgreSQL pool \(plan.pgPoolSize)")
        line("Floor:       the same AMQP client, a signed-envelope-sized body (\(floorMessageBytes) B), persistent, publisher confirms, direct reply-to; responder prefetch \(plan.workerConcurrency)")
        line("Plan:        \(plan.rounds) rounds; per round \(plan.calls) calls per scenario and concurrency (\(plan.levels.map(String.init).joined(separator: ", "))), slow backend \(plan.slowSeconds.map { "\(plan.slowCalls(sleeping: $0)) calls (\(Plan.seconds($0)) s)" }.joined(separator: ", ")) at concurrency \(plan.slowConcurrency); \(plan.warmup) warm-up calls first")
        line("Figures:     median over the rounds [min – max]; latency in ms from the caller's side; calls/s = calls ÷ round wall time")
        line("CPU columns: 'this process' is the load generator + ingresses + workers + MCP client (2 cores = 200 % at most); 'backend' is the fixture server")
        line()

        for scenario in scenarios {
            guard let byLevel = series[scenario.key] else { continue }
            let levels = byLevel.keys.sorted()
            line("\(scenario.title): \(scenario.path)")
            var rows: [[String]] = [[""] + levels.map { "concurrency \($0)" }]
            func row(_ name: String, _ value: (Series) -> Spread?, _ format: (Double) -> String) {
                rows.append([name] + levels.map { value(byLevel[$0]!).map { Format.spread($0, format) } ?? "–" })
            }
            row("p50 ms", \.p50, Format.ms)
            row("p90 ms", \.p90, Format.ms)
            row("p99 ms", \.p99, Format.ms)
            row("mean ms", \.mean, Format.ms)
            if scenario.gateway != nil {
                row("  ingress: publish → reply, mean ms", \.ingressMean, Format.ms)
                row("  worker: delivery → reply and audit confirmed, mean ms", \.workerMean, Format.ms)
                row("  worker: MCP tools/call, mean ms", \.backendCallMean, Format.ms)
            } else if scenario.backendServerID != nil {
                row("  MCP tools/call as the client times it, mean ms", \.backendCallMean, Format.ms)
            }
            row("calls/s", \.throughput, Format.rate)
            row("CPU this process µs/call", \.cpuPerCall, Format.rate)
            row("CPU this process % of a core", \.cpuPercent, Format.rate)
            if scenario.usesBackend {
                row("CPU backend µs/call", \.backendCPUPerCall, Format.rate)
                row("CPU backend % of a core", \.backendCPUPercent, Format.rate)
            }
            row("machine CPU busy % (all cores)", \.machineBusy, Format.rate)
            line(Format.table(rows, indent: "  "))
        }

        line("Summary (medians)")
        var summary: [[String]] = [["scenario"]]
        let levels = plan.levels
        for level in levels { summary[0] += ["p50 c\(level)", "p99 c\(level)", "calls/s c\(level)"] }
        for scenario in scenarios where series[scenario.key] != nil && scenario.slowSeconds == nil {
            var cells = [scenario.title]
            for level in levels {
                guard let s = series[scenario.key]?[level] else { cells += ["", "", ""]; continue }
                cells += [Format.ms(s.p50.median), Format.ms(s.p99.median), Format.rate(s.throughput.median)]
            }
            summary.append(cells)
        }
        line(Format.table(summary, indent: "  "))

        line("Target 1 (issue 3): at concurrency 1, what the gateway adds to a direct call (p50) is at most the bare RPC floor's p50 + \(Format.ms(Self.latencyAllowanceMilliseconds)) ms")
        let one = 1
        if let direct = series["direct"]?[one] {
            for type in plan.queueTypes {
                guard let gateway = series["gateway-\(type)"]?[one], let floor = series["floor-\(type)"]?[one] else { continue }
                let added = gateway.p50.median - direct.p50.median
                let allowed = floor.p50.median + Self.latencyAllowanceMilliseconds
                let verdict = added <= allowed
                    ? "MET (\(Format.ms(allowed - added)) ms to spare)"
                    : "MISSED: the gateway adds \(Format.ms(added - allowed)) ms more than allowed"
                line("  \(type.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)) gateway \(Format.ms(gateway.p50.median)) − direct \(Format.ms(direct.p50.median)) = \(Format.ms(added)) ms added; floor \(Format.ms(floor.p50.median)) + \(Format.ms(Self.latencyAllowanceMilliseconds)) = \(Format.ms(allowed)) ms allowed → \(verdict)")
                let excess = zip(zip(gateway.rounds, direct.rounds), floor.rounds).map { pair, floorRound in pair.0.p50 - pair.1.p50 - floorRound.p50 }
                if !excess.isEmpty {
                    line("           per round, gateway − direct − floor: \(Format.spread(Spread(excess), Format.ms)) ms (the allowance is \(Format.ms(Self.latencyAllowanceMilliseconds)) ms)")
                }
                if let layout = series["floor-layout-\(type)"]?[one] {
                    let logic = zip(zip(gateway.rounds, direct.rounds), layout.rounds).map { pair, layoutRound in pair.0.p50 - pair.1.p50 - layoutRound.p50 }
                    line("           (b+) with the gateway's broker layout: p50 \(Format.ms(layout.p50.median)) ms, \(Format.ms(layout.p50.median - floor.p50.median)) ms over (b);"
                        + " gateway − direct − (b+) per round: \(Format.spread(Spread(logic), Format.ms)) ms, the gateway's own logic")
                }
            }
        } else {
            line("  not measured (concurrency 1 is not among --concurrency)")
        }
        line()

        line("Target 2 (issue 3): with a slow backend (sleep ~0.1 s) at concurrency \(plan.slowConcurrency), gateway throughput ≥ \(Self.slowThroughputTarget) × direct")
        if plan.slowCalls == 0 { line("  not measured (--slow-calls 0)") }
        for seconds in plan.slowSeconds {
            let sleep = Plan.seconds(seconds)
            guard let direct = series["direct-slow-\(sleep)"]?[plan.slowConcurrency] else { continue }
            line("  sleep \(sleep) s (ideal: \(Format.rate(Double(plan.slowConcurrency) / seconds)) calls/s = concurrency ÷ sleep)")
            for type in plan.queueTypes {
                guard let gateway = series["gateway-\(type)-slow-\(sleep)"]?[plan.slowConcurrency] else { continue }
                let ratios = zip(gateway.rounds, direct.rounds).map { $0.throughput / max($1.throughput, .leastNonzeroMagnitude) }
                let ratio = Spread(ratios)
                let verdict = ratio.median >= Self.slowThroughputTarget ? "MET" : "MISSED"
                line("    \(type.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)) gateway \(Format.rate(gateway.throughput.median)) / direct \(Format.rate(direct.throughput.median)) calls/s; ratio per round \(Format.spread(ratio, Format.ratio)) → \(verdict)")
            }
            let backendBusy = direct.backendCPUPercent.median
            let machineBusy = direct.machineBusy.median
            if backendBusy >= 80 || machineBusy >= 90 {
                line("    CAUTION: during the direct calls the fixture server used \(Format.rate(backendBusy)) % of a core (it is single-threaded)"
                    + " and the machine was \(Format.rate(machineBusy)) % busy: the backend was bound by CPU, not by its sleep, so this ratio"
                    + " compares CPU cost per call more than what the queue does to a slow backend.")
            }
        }
        line()

        let highest = plan.levels.max() ?? 1
        if highest > 1, let direct = series["direct"]?[highest] {
            line("For information: echo at concurrency \(highest), gateway throughput ÷ direct throughput (per round)")
            for type in plan.queueTypes {
                guard let gateway = series["gateway-\(type)"]?[highest] else { continue }
                let ratios = zip(gateway.rounds, direct.rounds).map { $0.throughput / max($1.throughput, .leastNonzeroMagnitude) }
                line("  \(type.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)) \(Format.spread(Spread(ratios), Format.ratio))")
            }
            line()
        }

        if !components.isEmpty {
            line("Steps of a gateway call timed on their own, one at a time, \(plan.stepCalls) calls each (µs)")
            var rows: [[String]] = [["step", "p50", "p90", "p99", "mean", "what"]]
            for component in components {
                let result = component.result
                let note = component.onCallPath ? component.note : "\(component.note) [not on a call's path]"
                rows.append([component.name, Format.us(result.p50), Format.us(result.p90), Format.us(result.p99), Format.us(result.mean), note])
            }
            line(Format.table(rows, indent: "  "))
            let parts = components.filter(\.onCallPath).reduce(0) { $0 + $1.result.p50 }
            if let direct = series["direct"]?[1] {
                for type in plan.queueTypes {
                    guard let gateway = series["gateway-\(type)"]?[1] else { continue }
                    let broker = series["floor-layout-\(type)"]?[1] ?? series["floor-\(type)"]?[1]
                    guard let broker else { continue }
                    let sum = direct.p50.median + broker.p50.median + parts
                    line("  \(type.rawValue): direct \(Format.ms(direct.p50.median)) + broker \(Format.ms(broker.p50.median)) + the steps on a call's path \(Format.ms(parts)) = \(Format.ms(sum)) ms"
                        + " against the gateway's p50 of \(Format.ms(gateway.p50.median)) ms at concurrency 1; \(Format.ms(gateway.p50.median - sum)) ms are not in any of the parts")
                }
            }
            line()
        }

        line("Idle: this process used \(String(format: "%.1f", idleCPU * 100)) % of one core with every connection up and no call running")
        line("Memory: peak RSS of this process \(Format.mib(peakResidentBytes)) MiB (load generator, \(plan.queueTypes.count) ingress(es), \(plan.queueTypes.count) worker(s), the direct MCP client)"
            + (backendPeakResidentBytes.map { "; fixture server \(Format.mib($0)) MiB" } ?? ""))
        Swift.print(out, terminator: "")
    }
}

enum Format {
    static func ms(_ value: Double) -> String {
        value >= 100 ? String(format: "%.0f", value) : value >= 10 ? String(format: "%.1f", value) : String(format: "%.2f", value)
    }

    static func us(_ milliseconds: Double) -> String {
        String(format: "%.0f", milliseconds * 1000)
    }

    static func rate(_ value: Double) -> String {
        String(format: "%.0f", value)
    }

    static func ratio(_ value: Double) -> String {
        String(format: "%.2f", value)
    }

    static func mib(_ bytes: Int) -> String {
        String(format: "%.0f", Double(bytes) / Double(1 << 20))
    }

    static func spread(_ spread: Spread, _ format: (Double) -> String) -> String {
        "\(format(spread.median)) [\(format(spread.min))–\(format(spread.max))]"
    }

    static func timestamp(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: false).timeZone(separator: .omitted))
    }

    /// Left-aligned first column, right-aligned others, two spaces apart.
    static func table(_ rows: [[String]], indent: String) -> String {
        let columns = rows.map(\.count).max() ?? 0
        var widths = [Int](repeating: 0, count: columns)
        for row in rows {
            for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) }
        }
        var text = ""
        for row in rows {
            var cells: [String] = []
            for (index, cell) in row.enumerated() {
                let pad = String(repeating: " ", count: widths[index] - cell.count)
                cells.append(index == 0 ? cell + pad : pad + cell)
            }
            text += indent + cells.joined(separator: "  ") + "\n"
        }
        return text
    }
}

/// One step of a gateway call, timed on its own.
struct Component: Sendable {
    var name: String
    var note: String
    /// Whether a gateway call (cache warm) waits for this step; only those add up to its latency.
    var onCallPath: Bool
    var result: RoundResult
}
