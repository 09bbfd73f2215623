import CLibPQ
import Foundation
import Logging
import Synchronization

/// One PostgreSQL session, lent out by ``PostgresClient/withConnection(isolation:_:)``.
///
/// Statements on one connection run one after another, in the order they were submitted, on the
/// connection's own OS thread: libpq blocks, and a blocked cooperative thread would stall every
/// task in the process. Cancelling the calling task cancels the running statement on the server.
///
/// The use of `@unchecked Sendable` is safe because:
/// - `handle` (the `PGconn`) is read and written only inside jobs run on `thread`, a
///   ``DedicatedThread`` that runs one job at a time; no other code path touches it (`deinit`
///   hands it to that thread too).
/// - Everything read from other threads (backend pid, the cancel token, health flags) lives in
///   `shared`, a `Mutex`; the cancel token is a separate libpq object (`PGcancel`) that libpq
///   documents as safe to use from another thread than the one using the connection.
/// - All other stored properties are immutable and `Sendable`.
public final class PostgresConnection: @unchecked Sendable {
    /// A number unique within the process, for logs (`pg_connection_id`).
    public let id: Int

    private let thread: DedicatedThread
    private let logger: Logger
    private let noticeSink: NoticeSink
    /// The libpq connection. Only ever touched on `thread`.
    private var handle: OpaquePointer?
    private let shared = Mutex(Shared())

    private struct Shared {
        var backendPID: Int32 = 0
        var cancelToken: CancelToken?
        /// libpq reported the session unusable after a statement.
        var broken = false
        /// A cancel request went out: it may still land on a later statement, so the session is
        /// not given to anyone else.
        var cancelIssued = false
        /// The session is inside a transaction block (or a failed one).
        var inTransaction = false
        /// Its user asked for it not to be reused (its session state is unknown).
        var retired = false
        var closed = false
    }

    private init(id: Int, logger: Logger) {
        self.id = id
        var logger = logger
        logger[metadataKey: LogKeys.pgConnectionID] = "\(id)"
        self.logger = logger
        self.noticeSink = NoticeSink(logger: logger)
        self.thread = DedicatedThread(name: "pg-conn-\(id)")
    }

    deinit {
        // Normally `close()` has run. If not, finish the session on its own thread.
        if let handle {
            let orphan = UnsafeHandle(handle)
            thread.submit { PQfinish(orphan.raw) }
        }
        thread.stop()
    }

    /// Opens a session (`PQconnectdbParams`, on the new connection's thread).
    static func connect(configuration: PostgresConfiguration, id: Int, logger: Logger) async throws -> PostgresConnection {
        let connection = PostgresConnection(id: id, logger: logger)
        do {
            try await connection.open(configuration)
        } catch {
            connection.thread.stop()
            throw error
        }
        return connection
    }

    /// The server process serving this session (`pg_backend_pid()`).
    public var backendPID: Int32 { shared.withLock { $0.backendPID } }

    /// libpq reported the session unusable, or it was closed.
    var isBroken: Bool { shared.withLock { $0.broken || $0.closed } }

    /// Whether the pool must close this session rather than lend it again.
    var mustBeDiscarded: Bool {
        shared.withLock { $0.broken || $0.cancelIssued || $0.inTransaction || $0.retired || $0.closed }
    }

    /// Makes the pool close this session when it comes back instead of lending it again, for a
    /// session whose server-side state (a lock, a setting) could not be reset.
    func retire() {
        shared.withLock { $0.retired = true }
    }

    // MARK: Statements

    /// Runs one statement with its bound parameters (`PQexecParams`) and returns all its rows.
    ///
    /// - Throws: ``PostgresError``: `server` with the SQLSTATE, `connectionLost` when the session
    ///   broke, `cancelled` when the calling task was cancelled, `encoding` for an unsendable value.
    public func query(_ query: PostgresQuery) async throws -> PostgresRows {
        try await self.query(query, cancellable: true)
    }

    /// Runs one statement and returns how many rows it affected (`UPDATE 3` → 3).
    @discardableResult
    public func execute(_ query: PostgresQuery) async throws -> Int {
        try await self.query(query, cancellable: true).affectedRows
    }

    /// Runs trusted SQL that may hold several statements and no parameters (`PQexec`), such as a
    /// migration file. Never build `sql` from values.
    public func runScript(_ sql: String) async throws {
        try Self.validate(sql: sql, bindings: [])
        _ = try await perform(sql: sql, cancellable: true) { handle throws(PostgresError) in
            try Self.rows(from: PQexec(handle, sql), handle: handle, sql: sql)
        }
    }

    func query(_ query: PostgresQuery, cancellable: Bool) async throws -> PostgresRows {
        if var error = query.encodingError {
            error.query = query.sql
            throw error
        }
        try Self.validate(sql: query.sql, bindings: query.bindings)
        return try await perform(sql: query.sql, cancellable: cancellable) { handle throws(PostgresError) in
            try Self.execParams(handle, query)
        }
    }

    /// Checks, without a round trip, that the session is still up and outside a transaction:
    /// reads whatever the server sent while the session was idle. A server that shut down or
    /// terminated the backend has sent an error and closed the socket; reading to that EOF is
    /// what makes libpq mark the session bad.
    func checkHealth() async -> Bool {
        let healthy = try? await thread.run { [self] () -> Bool in
            guard let handle else { return false }
            defer { recordStatus(handle) }
            let socket = PQsocket(handle)
            guard socket >= 0 else { return false }
            // An idle session receives nothing unless something happened; drain it (bounded).
            for _ in 0..<8 {
                var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
                guard poll(&descriptor, 1, 0) > 0 else { break }
                if PQconsumeInput(handle) == 0 { return false }
            }
            return PQstatus(handle) == CONNECTION_OK && PQtransactionStatus(handle) == PQTRANS_IDLE
        }
        return healthy ?? false
    }

    /// Ends the session (`PQfinish` on its thread) and stops the thread.
    func close() async {
        _ = try? await thread.run { [self] in
            if let handle {
                PQfinish(handle)
                self.handle = nil
            }
            shared.withLock {
                $0.closed = true
                $0.cancelToken = nil
            }
        }
        thread.stop()
    }

    // MARK: Running on the thread

    /// Runs `body` on the connection's thread, with cancellation of the calling task turned into
    /// a `PQcancel` of whatever `body` is running.
    private func perform<T: Sendable>(
        sql: String,
        cancellable: Bool,
        _ body: @escaping @Sendable (OpaquePointer) throws(PostgresError) -> T
    ) async throws -> T {
        let operation = Operation()
        let job: @Sendable () throws -> T = { [self] in
            guard operation.start() else {
                throw PostgresError(code: .cancelled, message: "the task was cancelled before the statement started", query: sql)
            }
            guard let handle else {
                _ = operation.finish()
                throw PostgresError(code: .connectionLost, message: "the connection is closed", query: sql)
            }
            do throws(PostgresError) {
                let value = try body(handle)
                _ = operation.finish()
                recordStatus(handle)
                return value
            } catch var error {
                let cancelRequested = operation.finish()
                recordStatus(handle, forceBroken: error.code == .protocolViolation)
                if cancelRequested && error.sqlState == "57014" {
                    error.code = .cancelled
                }
                error.query = sql
                throw error
            }
        }
        do {
            guard cancellable else { return try await thread.run(job) }
            return try await withTaskCancellationHandler {
                try await thread.run(job)
            } onCancel: {
                self.cancel(operation)
            }
        } catch is DedicatedThreadStoppedError {
            throw PostgresError(code: .connectionLost, message: "the connection is closed", query: sql)
        }
    }

    /// Called from whichever thread cancels the task. Sends the cancel request from a short-lived
    /// thread of its own, as `PQcancel` opens a new connection to the server and may block.
    private func cancel(_ operation: Operation) {
        guard operation.requestCancel() else { return }
        let token = shared.withLock { shared -> CancelToken? in
            shared.cancelIssued = true
            return shared.cancelToken
        }
        guard let token else { return }
        let logger = self.logger
        Thread.detachNewThread {
            if let failure = token.send() {
                logger.warning("PostgreSQL cancel request failed", metadata: [LogKeys.pgError: "\(failure)"])
            } else {
                logger.debug("PostgreSQL cancel request sent")
            }
        }
    }

    /// On the thread: copies libpq's view of the session into `shared` for the pool to read.
    private func recordStatus(_ handle: OpaquePointer, forceBroken: Bool = false) {
        let broken = forceBroken || PQstatus(handle) != CONNECTION_OK
        let inTransaction = PQtransactionStatus(handle) != PQTRANS_IDLE
        shared.withLock {
            $0.broken = $0.broken || broken
            $0.inTransaction = inTransaction
        }
    }

    // MARK: Connecting

    private func open(_ configuration: PostgresConfiguration) async throws {
        let sink = noticeSink
        let opened = try await thread.run { [self] () throws(PostgresError) -> Int32 in
            guard let handle = configuration.connectBlocking() else {
                throw PostgresError(code: .connectionFailed, message: "libpq could not allocate a connection")
            }
            guard PQstatus(handle) == CONNECTION_OK else {
                let message = Self.errorMessage(handle) ?? "connection failed"
                PQfinish(handle)
                throw PostgresError(code: .connectionFailed, message: message)
            }
            PQsetNoticeReceiver(handle, noticeReceiver, Unmanaged.passUnretained(sink).toOpaque())
            // Timestamps are parsed from ISO output; a server or PGDATESTYLE may choose another.
            if let dateStyle = PQparameterStatus(handle, "DateStyle"), !String(cString: dateStyle).hasPrefix("ISO") {
                do throws(PostgresError) {
                    _ = try Self.rows(from: PQexec(handle, "SET DateStyle TO ISO"), handle: handle, sql: "SET DateStyle TO ISO")
                } catch {
                    PQfinish(handle)
                    throw PostgresError(code: .connectionFailed, message: "could not set DateStyle: \(error.message)")
                }
            }
            self.handle = handle
            let pid = PQbackendPID(handle)
            let token = PQgetCancel(handle).map(CancelToken.init)
            shared.withLock {
                $0.backendPID = pid
                $0.cancelToken = token
            }
            return pid
        }
        logger.debug("PostgreSQL connection opened", metadata: [LogKeys.pgBackendPID: "\(opened)"])
    }

    // MARK: libpq calls (run on the thread)

    /// Refuses what libpq would silently truncate: C strings end at the first NUL byte.
    private static func validate(sql: String, bindings: [PostgresQuery.Binding]) throws(PostgresError) {
        if sql.utf8.contains(0) {
            throw PostgresError(code: .encoding, message: "the SQL text contains a NUL character", query: sql)
        }
        for (index, binding) in bindings.enumerated() where binding.text?.utf8.contains(0) == true {
            throw PostgresError(
                code: .encoding,
                message: "parameter $\(index + 1) contains a NUL character, which PostgreSQL text cannot hold",
                query: sql
            )
        }
        if bindings.count > Int(UInt16.max) {
            throw PostgresError(code: .encoding, message: "too many parameters (\(bindings.count); at most 65535)", query: sql)
        }
    }

    private static func execParams(_ handle: OpaquePointer, _ query: PostgresQuery) throws(PostgresError) -> PostgresRows {
        let types = query.bindings.map { Oid($0.type.oid) }
        let values = query.bindings.map { binding in binding.text.map { strdup($0) } ?? nil }
        defer { values.forEach { free($0) } }
        let valuePointers = values.map { $0.map { UnsafePointer($0) } }
        let result = PQexecParams(handle, query.sql, Int32(types.count), types, valuePointers, nil, nil, 0)
        return try rows(from: result, handle: handle, sql: query.sql)
    }

    /// Copies a result into Swift values and frees it, or maps it to an error.
    private static func rows(from result: OpaquePointer?, handle: OpaquePointer, sql: String) throws(PostgresError) -> PostgresRows {
        guard let result else {
            let message = errorMessage(handle) ?? "no result from libpq"
            throw PostgresError(code: PQstatus(handle) == CONNECTION_OK ? .server : .connectionLost, message: message)
        }
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        switch status {
        case PGRES_TUPLES_OK, PGRES_COMMAND_OK, PGRES_EMPTY_QUERY, PGRES_SINGLE_TUPLE:
            break
        case PGRES_FATAL_ERROR, PGRES_NONFATAL_ERROR, PGRES_BAD_RESPONSE:
            throw serverError(result, handle: handle)
        default:
            throw PostgresError(
                code: .protocolViolation,
                message: "unsupported result status \(String(cString: PQresStatus(status))) (COPY is not supported)"
            )
        }
        let rowCount = Int(PQntuples(result))
        let columnCount = Int(PQnfields(result))
        var columns: [PostgresRows.Column] = []
        columns.reserveCapacity(columnCount)
        for column in 0..<Int32(columnCount) {
            let name = PQfname(result, column).map { String(cString: $0) } ?? "?column?"
            columns.append(PostgresRows.Column(name: name, type: PostgresDataType(oid: PQftype(result, column))))
        }
        var cells: [String?] = []
        cells.reserveCapacity(rowCount * columnCount)
        for row in 0..<Int32(rowCount) {
            for column in 0..<Int32(columnCount) {
                if PQgetisnull(result, row, column) == 1 {
                    cells.append(nil)
                } else {
                    cells.append(String(cString: PQgetvalue(result, row, column)))
                }
            }
        }
        let commandTag = PQcmdStatus(result).map { String(cString: $0) } ?? ""
        let affected = PQcmdTuples(result).flatMap { Int(String(cString: $0)) } ?? 0
        return PostgresRows(columns: columns, cells: cells, rowCount: rowCount, commandTag: commandTag, affectedRows: affected)
    }

    private static func serverError(_ result: OpaquePointer, handle: OpaquePointer) -> PostgresError {
        func field(_ code: Character) -> String? {
            PQresultErrorField(result, Int32(code.asciiValue!)).map { String(cString: $0) }
        }
        let fallback = PQresultErrorMessage(result).map { String(cString: $0) }.flatMap(trimmed) ?? errorMessage(handle)
        var error = PostgresError(
            code: PQstatus(handle) == CONNECTION_OK ? .server : .connectionLost,
            message: field("M") ?? fallback ?? "unknown error",
            sqlState: field("C"),
            detail: field("D"),
            hint: field("H"),
            column: field("c")
        )
        error.constraint = field("n")
        error.table = field("t")
        return error
    }

    private static func errorMessage(_ handle: OpaquePointer) -> String? {
        PQerrorMessage(handle).map { String(cString: $0) }.flatMap(trimmed)
    }

    private static func trimmed(_ text: String) -> String? {
        let text = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }
}

// MARK: - Helpers

/// The life of one statement, shared by the job on the connection's thread and the task's
/// cancellation handler, so that a cancel is sent only while that very statement runs.
private final class Operation: Sendable {
    private enum Phase { case pending, running, cancelRequested, finished, cancelledBeforeStart }
    private let phase = Mutex(Phase.pending)

    /// On the thread, before the statement: false when the task was cancelled while it queued.
    func start() -> Bool {
        phase.withLock { phase in
            guard phase == .pending else { return false }
            phase = .running
            return true
        }
    }

    /// On the thread, after the statement: whether a cancel was requested while it ran.
    func finish() -> Bool {
        phase.withLock { phase in
            defer { phase = .finished }
            return phase == .cancelRequested
        }
    }

    /// From the cancellation handler: true when the statement is running and must be cancelled
    /// on the server.
    func requestCancel() -> Bool {
        phase.withLock { phase in
            switch phase {
            case .pending:
                phase = .cancelledBeforeStart
                return false
            case .running:
                phase = .cancelRequested
                return true
            case .cancelRequested, .finished, .cancelledBeforeStart:
                return false
            }
        }
    }
}

/// A `PGcancel`: the backend's address, pid and secret key, copied out of the connection.
///
/// `@unchecked Sendable` is safe: libpq documents `PQcancel` as treating the object as read-only
/// and as callable from any thread, even while the connection is in use on another; the object
/// is freed only in `deinit`, when no thread can still hold it.
private final class CancelToken: @unchecked Sendable {
    private let raw: OpaquePointer

    init(_ raw: OpaquePointer) { self.raw = raw }

    deinit { PQfreeCancel(raw) }

    /// Asks the server to cancel the running statement; returns libpq's message on failure.
    func send() -> String? {
        var buffer = [CChar](repeating: 0, count: 256)
        let sent = PQcancel(raw, &buffer, Int32(buffer.count))
        guard sent != 1 else { return nil }
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Receives the server's NOTICE and WARNING messages, which libpq would print to stderr.
private final class NoticeSink: Sendable {
    let logger: Logger

    init(logger: Logger) { self.logger = logger }

    func receive(_ result: OpaquePointer) {
        let severity = PQresultErrorField(result, Int32(Character("V").asciiValue!)).map { String(cString: $0) } ?? "NOTICE"
        let message = PQresultErrorField(result, Int32(Character("M").asciiValue!)).map { String(cString: $0) } ?? ""
        let level: Logger.Level = severity == "WARNING" ? .warning : .debug
        logger.log(level: level, "PostgreSQL \(severity.lowercased()): \(message)")
    }
}

/// The C callback for `PQsetNoticeReceiver`; `argument` is the connection's ``NoticeSink``.
private let noticeReceiver: PQnoticeReceiver = { argument, result in
    guard let argument, let result else { return }
    Unmanaged<NoticeSink>.fromOpaque(argument).takeUnretainedValue().receive(result)
}

/// Carries a `PGconn` to its own thread from `deinit`, where no other reference exists.
private struct UnsafeHandle: @unchecked Sendable {
    let raw: OpaquePointer
    init(_ raw: OpaquePointer) { self.raw = raw }
}
