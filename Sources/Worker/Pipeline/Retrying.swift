import Foundation

/// Runs `attempt` until it succeeds, pausing 50 ms (doubling up to 1 s) after each failure,
/// and gives up when the next pause would pass `deadline` or the task is cancelled. `failed`
/// sees each failure and its attempt number. Returns whether an attempt succeeded.
func retrying(
    until deadline: ContinuousClock.Instant, failed: (Int, any Error) -> Void = { _, _ in }, _ attempt: () async throws -> Void
) async -> Bool {
    var pause: Duration = .milliseconds(50)
    var number = 0
    while true {
        number += 1
        do {
            try await attempt()
            return true
        } catch {
            failed(number, error)
            guard ContinuousClock.now + pause < deadline, !Task.isCancelled else { return false }
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
