import Foundation
import Synchronization

/// Runs one round: `calls` calls of `operation` spread over `concurrency` callers, each starting
/// its next call as soon as its last one ends (a closed loop). Any failed call ends the round with
/// that error: failures are never counted as latencies.
enum LoadRunner {
    private final class Counter: Sendable {
        let next = Atomic<Int>(0)
    }

    static func round(
        calls: Int, concurrency: Int, backendPID: Int32, _ operation: @escaping @Sendable () async throws -> Void
    ) async throws -> RoundResult {
        let counter = Counter()
        let cpuBefore = ResourceUsage.processCPUSeconds()
        let backendBefore = ResourceUsage.cpuSeconds(of: backendPID)
        let machineBefore = ResourceUsage.machineJiffies()
        let clock = ContinuousClock()
        let start = clock.now
        let latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
            for _ in 0..<max(1, min(concurrency, calls)) {
                group.addTask {
                    var mine: [Double] = []
                    while counter.next.wrappingAdd(1, ordering: .relaxed).oldValue < calls {
                        let began = clock.now
                        try await operation()
                        mine.append(began.duration(to: clock.now).milliseconds)
                    }
                    return mine
                }
            }
            var all: [Double] = []
            all.reserveCapacity(calls)
            for try await part in group { all += part }
            return all
        }
        let wall = start.duration(to: clock.now).milliseconds / 1000
        let machineAfter = ResourceUsage.machineJiffies()
        let machineTotal = machineAfter.total - machineBefore.total
        return RoundResult(
            latencies: latencies.sorted(),
            wallSeconds: wall,
            cpuSeconds: ResourceUsage.processCPUSeconds() - cpuBefore,
            backendCPUSeconds: ResourceUsage.cpuSeconds(of: backendPID) - backendBefore,
            machineBusy: machineTotal > 0 ? (machineAfter.busy - machineBefore.busy) / machineTotal : 0
        )
    }
}

extension Duration {
    var milliseconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) * 1000 + Double(attoseconds) / 1e15
    }
}
