import Foundation

/// Runs `attempt` until it succeeds, pausing 50 ms (doubling up to 1 s) after each failure,
/// and gives up when the next pause would pass `deadline`, the task is cancelled, or `failed`
/// (which sees each failure and its attempt number) says not to go on. Returns whether an
/// attempt succeeded.
func retrying(
    until deadline: ContinuousClock.Instant, failed: (Int, any Error) -> Bool = { _, _ in true }, _ attempt: () async throws -> Void
) async -> Bool {
    var pause: Duration = .milliseconds(50)
    var number = 0
    while true {
        number += 1
        do {
            try await attempt()
            return true
        } catch {
            guard failed(number, error), ContinuousClock.now + pause < deadline, !Task.isCancelled else { return false }
            try? await Task.sleep(for: pause)
            pause = min(pause * 2, .seconds(1))
        }
    }
}

extension ContinuousClock.Instant {
    /// The instant of a wall-clock date (a deadline carried in an envelope).
    static func at(_ date: Date) -> Self {
        .now + .milliseconds(Int64(date.timeIntervalSinceNow * 1000))
    }
}
