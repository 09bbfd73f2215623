/// Everything the PostgreSQL client throws.
///
/// A struct with an extensible ``Code`` rather than an enum, so that new failure kinds can be
/// added without breaking callers' `switch`es; callers switch on `code` and read the server's
/// own fields (`sqlState`, `message`, `detail`, `hint`) for the detail.
///
/// `description` is meant for logs: it never contains the connection password, and never the
/// values bound to a query (they may be credentials). The server's `detail` can quote values
/// from the table (a unique violation names the duplicate key), exactly as the server sent it.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is; compare with the static members (`error.code == .poolTimeout`).
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case connectionFailed
            case connectionLost
            case server
            case poolTimeout
            case poolClosed
            case cancelled
            case decoding
            case encoding
            case columnNotFound
            case transactionRolledBack
            case protocolViolation
        }

        private let base: Base

        private init(_ base: Base) { self.base = base }

        /// libpq could not open a session (unreachable host, authentication, bad conninfo).
        public static let connectionFailed = Self(.connectionFailed)
        /// The session broke while in use (server restart, network failure, backend terminated).
        /// Whatever was running may or may not have committed.
        public static let connectionLost = Self(.connectionLost)
        /// The server refused the statement; `sqlState` says why.
        public static let server = Self(.server)
        /// No connection became free within the pool's acquire timeout.
        public static let poolTimeout = Self(.poolTimeout)
        /// The client was shut down.
        public static let poolClosed = Self(.poolClosed)
        /// The calling task was cancelled; a running statement was cancelled on the server.
        public static let cancelled = Self(.cancelled)
        /// A column's value could not be read as the requested Swift type.
        public static let decoding = Self(.decoding)
        /// A parameter could not be sent (a JSON value failed to encode, a string holds a NUL).
        public static let encoding = Self(.encoding)
        /// The result has no column of the requested name.
        public static let columnNotFound = Self(.columnNotFound)
        /// `COMMIT` answered `ROLLBACK`: an earlier statement of the transaction had failed and
        /// its error was caught inside the transaction body.
        public static let transactionRolledBack = Self(.transactionRolledBack)
        /// libpq returned something the client does not handle (for example a `COPY` result).
        public static let protocolViolation = Self(.protocolViolation)

        public var description: String { base.rawValue }
    }

    public var code: Code
    /// The five-character SQLSTATE (`PG_DIAG_SQLSTATE`), when the server sent one.
    public var sqlState: String?
    /// The server's primary message, or libpq's or this client's explanation.
    public var message: String
    public var detail: String?
    public var hint: String?
    /// Set for constraint violations: the constraint the server named.
    public var constraint: String?
    public var table: String?
    /// The column the server named, or the result column that failed to decode.
    public var column: String?
    /// The SQL text of the statement that failed (never its bound values).
    public var query: String?

    public init(
        code: Code,
        message: String,
        sqlState: String? = nil,
        detail: String? = nil,
        hint: String? = nil,
        column: String? = nil,
        query: String? = nil
    ) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
        self.detail = detail
        self.hint = hint
        self.column = column
        self.query = query
    }

    public var description: String {
        var text = "PostgresError.\(code)"
        if let sqlState { text += " [\(sqlState)]" }
        text += ": \(message)"
        if let detail { text += " (detail: \(detail))" }
        if let hint { text += " (hint: \(hint))" }
        return text
    }
}

extension PostgresError {
    /// `23505`: the row would duplicate a unique key, typically "already exists" for the caller.
    public var isUniqueViolation: Bool { sqlState == "23505" }
    /// `23503`: a referenced row is missing, or a referencing row still exists.
    public var isForeignKeyViolation: Bool { sqlState == "23503" }
    /// `23514`: a `CHECK` constraint refused the row.
    public var isCheckViolation: Bool { sqlState == "23514" }
    /// `40001` / `40P01`: the transaction lost a race and can be retried as a whole.
    public var isSerializationFailure: Bool { sqlState == "40001" || sqlState == "40P01" }
    /// The session or pool is unavailable rather than the statement being wrong; a caller that
    /// must fail closed treats these as "database unreachable".
    public var isConnectionProblem: Bool {
        code == .connectionFailed || code == .connectionLost || code == .poolTimeout || code == .poolClosed
    }
}
