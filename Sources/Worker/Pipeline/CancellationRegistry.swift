import Foundation
import Shared
import Synchronization

/// The calls a client cancelled, and the calls running on this worker that a cancellation can
/// stop.
///
/// A cancellation may arrive before the request it names (the request is still queued, or on
/// another worker): it is remembered for ``memory`` so that the request is skipped when it comes.
/// A running call is cancelled as a Swift task: the MCP client then sends the backend
/// `notifications/cancelled` for it, as it does at a deadline.
public final class CancellationRegistry: Sendable {
    /// How long a cancellation is remembered (longer than any deadline a call may have).
    public let memory: Duration
    /// Most cancellations remembered at once (oldest forgotten first).
    public let capacity: Int

    private struct State {
        var cancelled: [String: ContinuousClock.Instant] = [:]
        var running: [String: @Sendable () -> Void] = [:]
    }

    private let state = Mutex(State())

    public init(memory: Duration = .seconds(3600), capacity: Int = 100_000) {
        self.memory = memory
        self.capacity = capacity
    }

    public static func cancelledError(_ callID: String) -> GatewayError {
        GatewayError(.cancelled, "the client cancelled the call")
    }

    /// Records the cancellation of `callID` and stops it if it runs here.
    public func cancel(_ callID: String) {
        let now = ContinuousClock.now
        let stop = state.withLock { state -> (@Sendable () -> Void)? in
            if state.cancelled.count >= capacity {
                state.cancelled = state.cancelled.filter { now - $0.value < memory }
                if state.cancelled.count >= capacity, let oldest = state.cancelled.min(by: { $0.value < $1.value })?.key {
                    state.cancelled.removeValue(forKey: oldest)
                }
            }
            state.cancelled[callID] = now
            return state.running[callID]
        }
        stop?()
    }

    public func isCancelled(_ callID: String) -> Bool {
        state.withLock { state in
            guard let at = state.cancelled[callID] else { return false }
            return ContinuousClock.now - at < memory
        }
    }

    /// Runs `body` for `callID` so that a cancellation can stop it; a call already cancelled
    /// does not start. A call that was cancelled while running and failed because of it reports
    /// the cancellation; one that finished anyway keeps its result.
    public func run(_ callID: String, _ body: @escaping @Sendable () async -> Reply.Outcome) async -> Reply.Outcome {
        if isCancelled(callID) { return .error(Self.cancelledError(callID)) }
        let task = Task { await body() }
        state.withLock { $0.running[callID] = { task.cancel() } }
        // A cancellation that arrived between the check and the registration.
        if isCancelled(callID) { task.cancel() }
        let outcome = await withTaskCancellationHandler {
            await task.value
        } onCancel: {
            task.cancel()
        }
        state.withLock { _ = $0.running.removeValue(forKey: callID) }
        if case .error = outcome, isCancelled(callID) { return .error(Self.cancelledError(callID)) }
        return outcome
    }
}
