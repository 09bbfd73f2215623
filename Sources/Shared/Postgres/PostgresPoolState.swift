/// The pool's bookkeeping as a pure state machine: every method is one transition and returns
/// what the caller must do (resume a waiter, close a connection) after leaving the lock.
///
/// Generic over the connection and waiter types so that its rules (a hard bound on open
/// sessions, first-come-first-served waiters, no waiter lost on cancel, timeout or shutdown) can
/// be tested without a server. ``PostgresClient`` holds it in a `Mutex`.
struct PostgresPoolState<Connection, Waiter> {
    typealias Grant = PostgresPoolGrant<Connection>

    enum AcquireOutcome {
        case granted(Grant)
        case queued
        case closed
        case cancelled
    }

    /// What to do after a connection came back or failed to open.
    struct Handoff {
        var resume: (waiter: Waiter, grant: Grant)?
        var close: Connection?
        var drained = false
    }

    let capacity: Int
    /// Sessions ready for use, most recently returned last (reused first: it is the warmest).
    private(set) var idle: [Connection] = []
    /// Sessions open, lent out or being opened. Never exceeds `capacity`.
    private(set) var open = 0
    /// Callers waiting for a session, in arrival order.
    private var waiters: [(id: Int, waiter: Waiter)] = []
    /// Callers between announcing themselves and queueing; `true` once cancelled in that window.
    private var announced: [Int: Bool] = [:]
    private(set) var isClosed = false

    init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
    }

    var waiterCount: Int { waiters.count }

    /// Registers a caller before it suspends, so that a cancellation arriving before it queues
    /// is not lost.
    mutating func announce(_ id: Int) {
        announced[id] = false
    }

    /// A session now if one is idle or a slot is free; otherwise the caller queues behind all
    /// earlier waiters, so that a newcomer cannot overtake them.
    mutating func acquire(id: Int, waiter: Waiter) -> AcquireOutcome {
        let cancelled = announced.removeValue(forKey: id) ?? false
        if cancelled { return .cancelled }
        if isClosed { return .closed }
        if waiters.isEmpty {
            if let connection = idle.popLast() { return .granted(.use(connection)) }
            if open < capacity {
                open += 1
                return .granted(.create)
            }
        }
        waiters.append((id, waiter))
        return .queued
    }

    /// The caller's task was cancelled: its waiter, if it still waits, to be resumed with an error.
    mutating func cancel(_ id: Int) -> Waiter? {
        if announced[id] != nil {
            announced[id] = true
            return nil
        }
        return removeWaiter(id)
    }

    /// The caller's acquire timeout passed: its waiter, if it still waits.
    mutating func timeOut(_ id: Int) -> Waiter? {
        removeWaiter(id)
    }

    /// A lent session comes back. `discard` when it must not be reused (broken, inside a
    /// transaction, a cancel in flight).
    mutating func release(_ connection: Connection, discard: Bool) -> Handoff {
        if discard || isClosed {
            open -= 1
            var handoff = Handoff(close: connection)
            handoff.resume = grantSlotToNextWaiter()
            handoff.drained = isClosed && open == 0
            return handoff
        }
        if !waiters.isEmpty {
            let next = waiters.removeFirst()
            return Handoff(resume: (next.waiter, .use(connection)))
        }
        idle.append(connection)
        return Handoff()
    }

    /// A session failed to open: its slot is freed and offered to the next waiter.
    mutating func creationFailed() -> Handoff {
        open -= 1
        var handoff = Handoff()
        handoff.resume = grantSlotToNextWaiter()
        handoff.drained = isClosed && open == 0
        return handoff
    }

    /// A session opened. When the pool closed meanwhile it must be closed instead of used.
    mutating func created() -> Bool {
        guard isClosed else { return true }
        open -= 1
        return false
    }

    /// An idle session turned out broken: the caller keeps its slot and opens a new one.
    mutating func replaceBroken() -> Bool {
        guard isClosed else { return true }
        open -= 1
        return false
    }

    /// Closes the pool: idle sessions to close and waiters to fail. Lent sessions are closed as
    /// they come back.
    mutating func close() -> (idle: [Connection], waiters: [Waiter], drained: Bool) {
        isClosed = true
        let idle = self.idle
        self.idle.removeAll()
        open -= idle.count
        let waiters = self.waiters.map(\.waiter)
        self.waiters.removeAll()
        return (idle, waiters, open == 0)
    }

    var isDrained: Bool { isClosed && open == 0 }

    private mutating func removeWaiter(_ id: Int) -> Waiter? {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return nil }
        return waiters.remove(at: index).waiter
    }

    private mutating func grantSlotToNextWaiter() -> (waiter: Waiter, grant: Grant)? {
        guard !isClosed, !waiters.isEmpty, open < capacity else { return nil }
        open += 1
        return (waiters.removeFirst().waiter, .create)
    }
}

/// What a caller of the pool is given: a session to use, or permission to open one (its slot
/// is already reserved).
enum PostgresPoolGrant<Connection> {
    case use(Connection)
    case create
}

extension PostgresPoolGrant: Sendable where Connection: Sendable {}
