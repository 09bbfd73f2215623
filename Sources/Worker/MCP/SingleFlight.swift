import Synchronization

/// Runs one operation at a time on behalf of everyone who asks while it runs: the first caller
/// starts it, later callers wait for the same outcome. Used for a backend's session start, which
/// concurrent calls must not repeat.
///
/// The operation runs in a task of its own, not in the first caller's, so that the first caller
/// giving up (its deadline, its cancellation) neither cancels the start for the others nor keeps
/// them waiting: each waiter stops waiting as soon as its own task is cancelled. The operation is
/// bounded by its own deadline, and ``cancel()`` ends it at shutdown.
final class SingleFlight<Value: Sendable>: Sendable {
    private struct State {
        var task: Task<Void, Never>?
        var generation = 0
        var waiters: [Int: CheckedContinuation<Value, any Error>] = [:]
        var nextWaiter = 0
    }

    private let state = Mutex(State())

    /// The outcome of the running operation, starting `operation` when none runs.
    func run(_ operation: @escaping @Sendable () async throws -> Value) async throws -> Value {
        let waiter = state.withLock { state in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Value, any Error>) in
                let cancelled = state.withLock { state -> Bool in
                    if Task.isCancelled { return true }
                    state.waiters[waiter] = continuation
                    if state.task == nil {
                        state.generation += 1
                        let generation = state.generation
                        state.task = Task { await self.execute(operation, generation: generation) }
                    }
                    return false
                }
                if cancelled { continuation.resume(throwing: CancellationError()) }
            }
        } onCancel: {
            let continuation = state.withLock { $0.waiters.removeValue(forKey: waiter) }
            continuation?.resume(throwing: CancellationError())
        }
    }

    private func execute(_ operation: @Sendable () async throws -> Value, generation: Int) async {
        let result: Result<Value, any Error>
        do {
            result = .success(try await operation())
        } catch {
            result = .failure(error)
        }
        let waiters = state.withLock { state -> [CheckedContinuation<Value, any Error>] in
            guard state.generation == generation else { return [] }
            let waiters = Array(state.waiters.values)
            state.waiters.removeAll()
            state.task = nil
            return waiters
        }
        for waiter in waiters { waiter.resume(with: result) }
    }

    /// Cancels the running operation, if any; its waiters get its outcome (usually a failure).
    func cancel() {
        let task = state.withLock { $0.task }
        task?.cancel()
    }
}
