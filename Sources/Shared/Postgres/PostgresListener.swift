import CLibPQ
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// A dedicated PostgreSQL session that `LISTEN`s on channels and hands every `NOTIFY` to
/// ``events``.
///
/// It is not part of the ``PostgresClient`` pool: a listening session must stay open and idle,
/// and libpq delivers notifications only to the session that listens. The session lives on an OS
/// thread of its own, which waits on the socket (`poll`, a quarter of a second at a time so that
/// it sees a stop promptly), then reads with `PQconsumeInput` and drains `PQnotifies`; like the
/// pooled connections, no libpq call ever runs on Swift's cooperative pool.
///
/// When the session breaks (the server restarted, the network dropped) it emits
/// ``Event/disconnected``, reconnects with backoff and, once listening again, emits ``Event/connected(schema:)`` once more:
/// notifications sent while it was away are lost, so a consumer must treat every `connected`
/// as "anything may have changed".
public final class PostgresListener: Service, Sendable {
    public enum Event: Sendable, Equatable {
        /// Listening (first time, or again after a reconnect); `schema` is the session's
        /// `current_schema()`, as the pooled sessions of the same configuration see it.
        case connected(schema: String)
        case notification(channel: String, payload: String)
        /// The listening session was lost; until the next `connected`, notifications are missed.
        case disconnected
    }

    public let events: AsyncStream<Event>
    private let continuation: AsyncStream<Event>.Continuation
    private let configuration: PostgresConfiguration
    private let channels: [String]
    /// Statements run on the session after `LISTEN`, on every (re)connect (for session state
    /// such as an advisory lock that must live as long as the session).
    private let setup: [String]
    private let logger: Logger
    private let reconnectMinimum: Duration
    private let reconnectMaximum: Duration
    private let stopped = Atomic<Bool>(false)

    /// - Parameters:
    ///   - channels: channel names, `[a-z0-9_]` only (they are written into `LISTEN`).
    ///   - setup: statements run after `LISTEN` on every (re)connect, before `connected` is emitted.
    public init(
        configuration: PostgresConfiguration, channels: [String], setup: [String] = [], logger: Logger,
        reconnectMinimum: Duration = .milliseconds(100), reconnectMaximum: Duration = .seconds(5)
    ) {
        precondition(channels.allSatisfy { !$0.isEmpty && $0.utf8.allSatisfy { Self.isChannelByte($0) } }, "invalid LISTEN channel name")
        (events, continuation) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .bufferingNewest(1024))
        self.configuration = configuration
        self.channels = channels
        self.setup = setup
        var logger = logger
        logger[metadataKey: "pg_listen"] = .string(channels.joined(separator: ","))
        self.logger = logger
        self.reconnectMinimum = reconnectMinimum
        self.reconnectMaximum = reconnectMaximum
    }

    /// Listens until graceful shutdown or cancellation, then closes the session and ends ``events``.
    public func run() async throws {
        let finished = AsyncStream.makeStream(of: Void.self)
        let thread = Thread { [self] in
            loop()
            finished.continuation.yield()
            finished.continuation.finish()
        }
        thread.name = "pg-listen"
        thread.start()
        await withTaskCancellationHandler {
            try? await gracefulShutdown()
        } onCancel: {
            self.stopped.store(true, ordering: .relaxed)
        }
        stopped.store(true, ordering: .relaxed)
        for await _ in finished.stream {}
        continuation.finish()
    }

    private var isStopped: Bool { stopped.load(ordering: .relaxed) }

    /// On the listener's thread: connect, listen, wait for notifications; again after a failure.
    private func loop() {
        var delay = reconnectMinimum
        while !isStopped {
            if let session = connect() {
                delay = reconnectMinimum
                listen(on: session)
                PQfinish(session)
                if !isStopped {
                    logger.warning("PostgreSQL LISTEN session lost; reconnecting")
                    continuation.yield(.disconnected)
                }
            }
            sleep(for: delay)
            delay = min(delay * 2, reconnectMaximum)
        }
    }

    private func connect() -> OpaquePointer? {
        guard let session = configuration.connectBlocking() else { return nil }
        guard PQstatus(session) == CONNECTION_OK else {
            logger.warning("PostgreSQL LISTEN session cannot connect", metadata: [LogKeys.pgError: "\(Self.message(session))"])
            PQfinish(session)
            return nil
        }
        for channel in channels {
            guard Self.command(session, "LISTEN \(channel)") != nil else {
                logger.warning("LISTEN failed", metadata: [LogKeys.pgError: "\(Self.message(session))"])
                PQfinish(session)
                return nil
            }
        }
        for statement in setup {
            guard Self.command(session, statement) != nil else {
                logger.warning("PostgreSQL session setup failed", metadata: [LogKeys.pgError: "\(Self.message(session))"])
                PQfinish(session)
                return nil
            }
        }
        guard let schema = Self.command(session, "SELECT current_schema()") else {
            PQfinish(session)
            return nil
        }
        logger.debug("PostgreSQL LISTEN session ready", metadata: ["schema": "\(schema)"])
        continuation.yield(.connected(schema: schema))
        return session
    }

    /// Waits on the socket until the session breaks or the listener stops.
    private func listen(on session: OpaquePointer) {
        let socket = PQsocket(session)
        guard socket >= 0 else { return }
        while !isStopped {
            var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, 250)
            if ready < 0 && errno != EINTR { return }
            guard ready > 0 else { continue }
            guard PQconsumeInput(session) == 1 else { return }
            while let notice = PQnotifies(session) {
                let channel = String(cString: notice.pointee.relname)
                let payload = notice.pointee.extra.map { String(cString: $0) } ?? ""
                PQfreemem(notice)
                continuation.yield(.notification(channel: channel, payload: payload))
            }
            guard PQstatus(session) == CONNECTION_OK else { return }
        }
    }

    /// Sleeps on the thread in short steps, so that a stop is seen promptly.
    private func sleep(for duration: Duration) {
        let until = ContinuousClock.now + duration
        while !isStopped && ContinuousClock.now < until {
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    /// Runs a parameterless command; the first column of the first row (or "") when it succeeded.
    private static func command(_ session: OpaquePointer, _ sql: String) -> String? {
        guard let result = PQexec(session, sql) else { return nil }
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK else { return nil }
        guard PQntuples(result) > 0, PQnfields(result) > 0, PQgetisnull(result, 0, 0) == 0 else { return "" }
        return String(cString: PQgetvalue(result, 0, 0))
    }

    private static func message(_ session: OpaquePointer) -> String {
        PQerrorMessage(session).map { String(cString: $0) }?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "unknown error"
    }

    private static func isChannelByte(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_")
    }
}
