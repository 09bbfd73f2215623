import Dispatch
import Logging
import ServiceLifecycle
import Synchronization

/// The process's PostgreSQL access: a bounded pool of sessions, each on its own OS thread.
///
/// Sessions open lazily, at most ``PostgresConfiguration/poolSize`` at once. A caller that finds
/// them all lent waits in line (first come, first served) up to the acquire timeout, then gets
/// ``PostgresError/Code-swift.struct/poolTimeout``: under overload the gateway answers with a
/// clear error instead of queueing without bound. A session that broke (server restart, network
/// failure, cancelled statement, transaction left open) is closed rather than lent again, and
/// idle sessions are checked before they are lent, so a database restart costs at most the
/// statements that were running at that moment.
///
/// As a `Service` it sits in the process's `ServiceGroup` (before the services that use it, so
/// it shuts down after them): `run()` waits for graceful shutdown, then closes every session.
/// The pool also works without `run()`; then call ``shutdown()`` yourself.
public final class PostgresClient: Sendable, Service {
    public let configuration: PostgresConfiguration
    private let logger: Logger
    private let state: Mutex<State>

    private typealias Grant = PostgresPoolGrant<PostgresConnection>
    private typealias Pool = PostgresPoolState<PostgresConnection, CheckedContinuation<Grant, any Error>>

    private struct State {
        var pool: Pool
        var nextWaiterID = 0
        var drainWaiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var drainAnnounced: [Int: Bool] = [:]
    }

    /// Process-wide, so that `pg_connection_id` is unique across clients in logs.
    private static let connectionIDs = Atomic<Int>(0)

    /// - Parameter logger: lifecycle events (sessions opened and discarded, pool timeouts) are
    ///   logged here with `pg_`-prefixed metadata; statements' errors are thrown, not logged.
    public init(configuration: PostgresConfiguration, logger: Logger) {
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: LogKeys.pgPoolSize] = "\(configuration.poolSize)"
        self.logger = logger
        self.state = Mutex(State(pool: Pool(capacity: configuration.poolSize)))
    }

    // MARK: Service

    /// Waits for graceful shutdown (or cancellation), then closes the pool.
    public func run() async throws {
        logger.info("PostgreSQL client running", metadata: [LogKeys.pgTarget: "\(configuration.redactedConnectionString)"])
        try? await gracefulShutdown()
        await shutdown()
    }

    /// Closes idle sessions now, fails every waiting caller with `poolClosed`, and closes lent
    /// sessions as they come back; returns when all are closed (or the calling task is
    /// cancelled). Later calls fail with `poolClosed`. Safe to call more than once.
    public func shutdown() async {
        let (idle, waiters) = state.withLock { state in
            let (idle, waiters, _) = state.pool.close()
            return (idle, waiters)
        }
        for waiter in waiters {
            waiter.resume(throwing: PostgresError(code: .poolClosed, message: "the PostgreSQL client was shut down"))
        }
        await withDiscardingTaskGroup { group in
            for connection in idle {
                group.addTask { await connection.close() }
            }
        }
        await waitUntilDrained()
        logger.debug("PostgreSQL client shut down")
    }

    // MARK: Statements

    /// Runs one statement on a pooled session and returns all its rows.
    ///
    /// - Throws: ``PostgresError``, including `poolTimeout`, `poolClosed` and `cancelled`.
    public func query(_ query: PostgresQuery) async throws -> PostgresRows {
        try await withConnection { try await $0.query(query) }
    }

    /// Runs one statement on a pooled session and returns how many rows it affected.
    @discardableResult
    public func execute(_ query: PostgresQuery) async throws -> Int {
        try await withConnection { try await $0.execute(query) }
    }

    /// Lends one session for the duration of `body`, for statements that must share a session
    /// (`SET`, advisory locks, temporary tables). The session goes back to the pool when `body`
    /// returns or throws; one left inside a transaction is closed instead.
    public func withConnection<Result>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        let connection = try await lease()
        let result: Result
        do {
            result = try await body(connection)
        } catch {
            await giveBack(connection)
            throw error
        }
        await giveBack(connection)
        return result
    }

    /// Runs `body` inside `BEGIN` … `COMMIT` on one session. Any error thrown by `body` rolls the
    /// transaction back and is rethrown unchanged.
    ///
    /// - Throws: also ``PostgresError/Code-swift.struct/transactionRolledBack`` when `body` caught a
    ///   statement's error and returned normally: the server then turns `COMMIT` into `ROLLBACK`,
    ///   and reporting success would be a lie.
    public func withTransaction<Result>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await withConnection { connection in
            try await connection.transaction(body)
        }
    }

    // MARK: Lending

    private func lease() async throws -> PostgresConnection {
        var grant = try await obtainGrant()
        while true {
            switch grant {
            case .use(let connection):
                if await connection.checkHealth() { return connection }
                logger.info(
                    "discarding a broken idle PostgreSQL connection",
                    metadata: [LogKeys.pgConnectionID: "\(connection.id)"]
                )
                await connection.close()
                let (keep, drained) = state.withLock { state in (state.pool.replaceBroken(), state.pool.isDrained) }
                if drained { resumeDrainWaiters() }
                guard keep else { throw PostgresError(code: .poolClosed, message: "the PostgreSQL client was shut down") }
                grant = .create
            case .create:
                return try await openConnection()
            }
        }
    }

    private func openConnection() async throws -> PostgresConnection {
        let id = Self.connectionIDs.add(1, ordering: .relaxed).newValue
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(configuration: configuration, id: id, logger: logger)
        } catch {
            let handoff = state.withLock { $0.pool.creationFailed() }
            perform(handoff)
            logger.warning(
                "PostgreSQL connection failed",
                metadata: [LogKeys.pgConnectionID: "\(id)", LogKeys.pgError: "\(error)"]
            )
            throw error
        }
        let (keep, drained) = state.withLock { state in (state.pool.created(), state.pool.isDrained) }
        guard keep else {
            await connection.close()
            if drained { resumeDrainWaiters() }
            throw PostgresError(code: .poolClosed, message: "the PostgreSQL client was shut down")
        }
        return connection
    }

    /// Waits in line for a session or a free slot, up to the acquire timeout.
    private func obtainGrant() async throws -> Grant {
        if Task.isCancelled {
            throw PostgresError(code: .cancelled, message: "the task was cancelled before a connection was acquired")
        }
        let id = state.withLock { state in
            state.nextWaiterID += 1
            state.pool.announce(state.nextWaiterID)
            return state.nextWaiterID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Grant, any Error>) in
                let outcome = state.withLock { $0.pool.acquire(id: id, waiter: continuation) }
                switch outcome {
                case .granted(let grant):
                    continuation.resume(returning: grant)
                case .queued:
                    scheduleTimeout(for: id)
                case .closed:
                    continuation.resume(throwing: PostgresError(code: .poolClosed, message: "the PostgreSQL client was shut down"))
                case .cancelled:
                    continuation.resume(throwing: PostgresError(code: .cancelled, message: "the task was cancelled while waiting for a connection"))
                }
            }
        } onCancel: {
            let waiter = state.withLock { $0.pool.cancel(id) }
            waiter?.resume(throwing: PostgresError(code: .cancelled, message: "the task was cancelled while waiting for a connection"))
        }
    }

    private func scheduleTimeout(for id: Int) {
        let timeout = configuration.acquireTimeout
        let (seconds, attoseconds) = timeout.components
        let nanoseconds = Int(clamping: seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(nanoseconds)) { [weak self] in
            guard let self, let waiter = state.withLock({ $0.pool.timeOut(id) }) else { return }
            logger.warning("no PostgreSQL connection became free in time", metadata: [LogKeys.pgAcquireTimeout: "\(timeout)"])
            waiter.resume(
                throwing: PostgresError(
                    code: .poolTimeout,
                    message: "no connection became free within \(timeout) (pool size \(configuration.poolSize))"
                )
            )
        }
    }

    private func giveBack(_ connection: PostgresConnection) async {
        let discard = connection.mustBeDiscarded
        let handoff = state.withLock { $0.pool.release(connection, discard: discard) }
        if let closing = handoff.close {
            if discard {
                logger.debug("closing a PostgreSQL connection that cannot be reused", metadata: [LogKeys.pgConnectionID: "\(closing.id)"])
            }
            await closing.close()
        }
        perform(handoff)
    }

    private func perform(_ handoff: Pool.Handoff) {
        if let (waiter, grant) = handoff.resume {
            waiter.resume(returning: grant)
        }
        if handoff.drained { resumeDrainWaiters() }
    }

    // MARK: Draining

    private func waitUntilDrained() async {
        let id = state.withLock { state in
            state.nextWaiterID += 1
            state.drainAnnounced[state.nextWaiterID] = false
            return state.nextWaiterID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state in
                    let cancelled = state.drainAnnounced.removeValue(forKey: id) ?? false
                    if cancelled || state.pool.isDrained { return true }
                    state.drainWaiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                if state.drainAnnounced[id] != nil {
                    state.drainAnnounced[id] = true
                    return nil
                }
                return state.drainWaiters.removeValue(forKey: id)
            }
            waiter?.resume()
        }
    }

    private func resumeDrainWaiters() {
        let waiters = state.withLock { state in
            let waiters = Array(state.drainWaiters.values)
            state.drainWaiters.removeAll()
            return waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}
