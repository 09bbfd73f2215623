import Foundation
import Synchronization

/// One OS thread that runs submitted jobs in order, for a C library whose calls block and whose
/// handles must stay on one thread (libpq). Jobs never run on Swift's cooperative pool.
///
/// `run(_:)` suspends the calling task until its job has run on the thread. Cancelling the task
/// does not interrupt a job that has started; callers that can interrupt the C call (libpq's
/// `PQcancel`) do so themselves.
public final class DedicatedThread: Sendable {
    private struct State: ~Copyable {
        var jobs: [@Sendable () -> Void] = []
        var stopping = false
    }

    private let state: Mutex<State> = Mutex(State())
    private let condition = NSCondition()
    private let name: String

    public init(name: String) {
        self.name = name
        let thread = Thread { [self] in self.loop() }
        thread.name = name
        thread.start()
    }

    /// Runs `body` on the thread and returns its result.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let accepted = submit {
                continuation.resume(with: Result(catching: body))
            }
            if !accepted {
                continuation.resume(throwing: DedicatedThreadStoppedError(name: name))
            }
        }
    }

    /// Queues `job`; returns `false` when the thread has been stopped.
    @discardableResult
    public func submit(_ job: @escaping @Sendable () -> Void) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        let accepted = state.withLock { state in
            guard !state.stopping else { return false }
            state.jobs.append(job)
            return true
        }
        if accepted { condition.signal() }
        return accepted
    }

    /// Lets queued jobs finish, then ends the thread. Later submissions are refused.
    public func stop() {
        condition.lock()
        state.withLock { $0.stopping = true }
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        while true {
            condition.lock()
            var next: [@Sendable () -> Void] = []
            var done = false
            while true {
                (next, done) = state.withLock { state in
                    let jobs = state.jobs
                    state.jobs.removeAll(keepingCapacity: true)
                    return (jobs, state.stopping)
                }
                if !next.isEmpty || done { break }
                condition.wait()
            }
            condition.unlock()
            for job in next { job() }
            if done && next.isEmpty { return }
        }
    }
}

/// A job was submitted to a ``DedicatedThread`` after `stop()`.
public struct DedicatedThreadStoppedError: Error, CustomStringConvertible {
    public var name: String
    public var description: String { "thread '\(name)' has stopped" }
}
