import CoreMetrics
import Synchronization

/// Collects the MCP client's own `mcp_client_request_duration_seconds` timer (successful
/// `tools/call` requests, by server id), so that a round can tell how long the backend call took
/// inside the worker, next to the same call made directly. Every other metric of the process
/// (the ingress's and the worker's have registries of their own) goes nowhere.
final class BackendCallTimings: MetricsFactory {
    static let shared = BackendCallTimings()

    /// Server id → (nanoseconds, calls).
    private let totals = Mutex<[String: (nanoseconds: Int64, calls: Int)]>([:])

    private init() {}

    /// Total time and count of successful `tools/call` requests to `server` so far.
    func totals(server: String) -> (nanoseconds: Int64, calls: Int) {
        totals.withLock { $0[server] ?? (0, 0) }
    }

    /// Mean milliseconds per call between two snapshots, if there were calls.
    static func mean(from before: (nanoseconds: Int64, calls: Int), to after: (nanoseconds: Int64, calls: Int)) -> Double? {
        let calls = after.calls - before.calls
        return calls > 0 ? Double(after.nanoseconds - before.nanoseconds) / 1e6 / Double(calls) : nil
    }

    fileprivate func add(_ nanoseconds: Int64, server: String) {
        totals.withLock { totals in
            var entry = totals[server] ?? (0, 0)
            entry.nanoseconds += nanoseconds
            entry.calls += 1
            totals[server] = entry
        }
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        let values = Dictionary(dimensions, uniquingKeysWith: { _, last in last })
        guard label == "mcp_client_request_duration_seconds", values["method"] == "tools/call", values["outcome"] == "ok",
            let server = values["server"]
        else { return NOOPMetricsHandler.instance }
        return CallTimer(timings: self, server: server)
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler { NOOPMetricsHandler.instance }
    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler { NOOPMetricsHandler.instance }
    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}

    private final class CallTimer: TimerHandler {
        let timings: BackendCallTimings
        let server: String

        init(timings: BackendCallTimings, server: String) {
            self.timings = timings
            self.server = server
        }

        func recordNanoseconds(_ duration: Int64) {
            timings.add(duration, server: server)
        }
    }
}
