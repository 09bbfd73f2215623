import Synchronization

/// Requests sent on a multiplexed channel (the legacy SSE stream, a stdio process) and waiting
/// for the answer with their id.
///
/// A request is registered *before* it is sent, because the answer can arrive before the send
/// returns; an answer that arrives before anyone waits is kept until ``wait(for:)`` collects it.
/// Each entry remembers the connection generation it was sent on, so that when a connection dies
/// exactly its requests fail.
final class PendingRequests: Sendable {
    private struct Entry {
        var generation: Int
        var continuation: CheckedContinuation<JSONRPCMessage, any Error>?
        var early: Result<JSONRPCMessage, any Error>?
    }

    private let entries = Mutex<[Int64: Entry]>([:])

    func register(_ id: Int64, generation: Int) {
        entries.withLock { $0[id] = Entry(generation: generation) }
    }

    /// Forgets a request whose send failed.
    func remove(_ id: Int64) {
        let entry = entries.withLock { $0.removeValue(forKey: id) }
        entry?.continuation?.resume(throwing: CancellationError())
    }

    /// Waits for the answer to `id`, which must have been registered. Cancelling the calling
    /// task forgets the request and throws `CancellationError`.
    func wait(for id: Int64) async throws -> JSONRPCMessage {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<JSONRPCMessage, any Error>) in
                enum Action { case resume(Result<JSONRPCMessage, any Error>), wait }
                let action: Action = entries.withLock { entries in
                    guard var entry = entries[id] else { return .resume(.failure(CancellationError())) }
                    if let early = entry.early {
                        entries[id] = nil
                        return .resume(early)
                    }
                    if Task.isCancelled {
                        entries[id] = nil
                        return .resume(.failure(CancellationError()))
                    }
                    entry.continuation = continuation
                    entries[id] = entry
                    return .wait
                }
                if case .resume(let result) = action { continuation.resume(with: result) }
            }
        } onCancel: {
            remove(id)
        }
    }

    /// Delivers an answer; returns `false` when nobody registered `id` (a late or foreign answer).
    @discardableResult
    func complete(_ id: Int64, with result: Result<JSONRPCMessage, any Error>) -> Bool {
        let continuation: CheckedContinuation<JSONRPCMessage, any Error>?? = entries.withLock { entries in
            guard var entry = entries[id] else { return .none }
            if let continuation = entry.continuation {
                entries[id] = nil
                return .some(continuation)
            }
            entry.early = result
            entries[id] = entry
            return .some(nil)
        }
        guard let continuation else { return false }
        continuation?.resume(with: result)
        return true
    }

    /// Fails every request sent on `generation` (the connection it went out on is gone).
    func failAll(generation: Int, with error: any Error) {
        failAll(where: { $0 == generation }, with: error)
    }

    /// Fails every request.
    func failAll(with error: any Error) {
        failAll(where: { _ in true }, with: error)
    }

    private func failAll(where matches: (Int) -> Bool, with error: any Error) {
        let waiting: [CheckedContinuation<JSONRPCMessage, any Error>] = entries.withLock { entries in
            var waiting: [CheckedContinuation<JSONRPCMessage, any Error>] = []
            for (id, entry) in entries where matches(entry.generation) {
                if let continuation = entry.continuation {
                    waiting.append(continuation)
                    entries[id] = nil
                } else {
                    entries[id]?.early = .failure(error)
                }
            }
            return waiting
        }
        for continuation in waiting { continuation.resume(throwing: error) }
    }

    var count: Int { entries.withLock { $0.count } }
}
