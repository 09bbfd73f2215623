import Foundation
import NIOCore

/// The operation ran past its deadline (internal: the backend turns it into a
/// ``MCPClientError/Code/timeout``).
struct DeadlineExceeded: Error {}

/// Runs `operation` and stops it at `deadline`: the operation's task is cancelled and
/// ``DeadlineExceeded`` thrown. The operation must end promptly when cancelled.
func withDeadline<T: Sendable>(
    _ deadline: ContinuousClock.Instant,
    _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(until: deadline, clock: .continuous)
            throw DeadlineExceeded()
        }
        defer { group.cancelAll() }
        guard let first = try await group.next() else { throw CancellationError() }
        return first
    }
}

extension ContinuousClock.Instant {
    /// The same point in time for NIO and AsyncHTTPClient.
    var nioDeadline: NIODeadline {
        let left = ContinuousClock.now.duration(to: self)
        let (seconds, attoseconds) = left.components
        let nanoseconds = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !nanoseconds.overflow else { return left > .zero ? .distantFuture : .now() }
        return .now() + .nanoseconds(nanoseconds.partialValue + attoseconds / 1_000_000_000)
    }
}

/// Turning the wall-clock deadlines of the message contract into the monotonic ones this client uses.
public enum MCPDeadline {
    /// The monotonic instant at which `date` (a wall-clock deadline, as in a request envelope) is reached.
    public static func instant(for date: Date, now: Date = .now) -> ContinuousClock.Instant {
        let seconds = date.timeIntervalSince(now)
        guard seconds.isFinite else { return seconds > 0 ? .now + .seconds(86_400 * 365) : .now }
        return .now + .milliseconds(Int64((seconds * 1000).rounded(.down)))
    }
}
