import Shared

/// Why an MCP call to a backend did not produce a result.
///
/// A tool that fails on its own terms (`isError: true` in its result) is not one of these: that
/// is a result the caller passes on. This error is for everything else, with a ``Code`` a caller
/// can switch on and the detail a log needs (the JSON-RPC error, the HTTP status and the start of
/// the body, the exit status of a process).
public struct MCPClientError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure. Extensible: new codes may be added, so `switch` with a `default`.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case timeout, cancelled, transport, protocolError, server, processExited, sessionExpired
            case launchFailed, shutdown, circuitOpen
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The call's deadline passed; the server was sent `notifications/cancelled`.
        public static let timeout = Code(.timeout)
        /// The calling task was cancelled; the server was sent `notifications/cancelled`.
        public static let cancelled = Code(.cancelled)
        /// The server could not be reached or answered at the HTTP level with an error status
        /// (``MCPClientError/httpStatus`` and ``MCPClientError/bodyExcerpt`` say more), or the
        /// connection or event stream broke.
        public static let transport = Code(.transport)
        /// The server sent something that is not the JSON-RPC or MCP we expect.
        public static let protocolError = Code(.protocolError)
        /// The server answered with a JSON-RPC error (``MCPClientError/rpcCode``, ``MCPClientError/message``).
        public static let server = Code(.server)
        /// The stdio server process exited while the call was in flight.
        public static let processExited = Code(.processExited)
        /// The server forgot the session again right after it was re-initialised.
        public static let sessionExpired = Code(.sessionExpired)
        /// The stdio server process could not be started (command not found, not executable).
        public static let launchFailed = Code(.launchFailed)
        /// The backend has been shut down.
        public static let shutdown = Code(.shutdown)
        /// The backend failed too often in a row; its circuit breaker refuses requests for a while
        /// (``MCPClientError/retryAfter``) and the server was not contacted.
        public static let circuitOpen = Code(.circuitOpen)

        public var description: String { base.rawValue }
    }

    public var code: Code
    /// The server id of the backend (``MCPServerDefinition/id``).
    public var serverID: String
    /// What happened, in words; for ``Code/server`` the server's JSON-RPC error message.
    public var message: String
    /// The JSON-RPC error code, for ``Code/server``.
    public var rpcCode: Int64?
    /// The JSON-RPC error's `data`, for ``Code/server``.
    public var rpcData: JSONValue?
    /// The HTTP status, when the server answered an HTTP request with an unexpected one.
    public var httpStatus: Int?
    /// The first bytes of that HTTP response body, with control characters escaped.
    public var bodyExcerpt: String?
    /// For ``Code/circuitOpen``: when the breaker lets a request through again.
    public var retryAfter: Duration?

    public init(
        _ code: Code,
        serverID: String,
        message: String,
        rpcCode: Int64? = nil,
        rpcData: JSONValue? = nil,
        httpStatus: Int? = nil,
        bodyExcerpt: String? = nil
    ) {
        self.code = code
        self.serverID = serverID
        self.message = message
        self.rpcCode = rpcCode
        self.rpcData = rpcData
        self.httpStatus = httpStatus
        self.bodyExcerpt = bodyExcerpt
    }

    public var description: String {
        var text = "MCP \(code) from '\(serverID)': \(message)"
        if let rpcCode { text += " (JSON-RPC \(rpcCode))" }
        if let httpStatus { text += " (HTTP \(httpStatus))" }
        if let bodyExcerpt, !bodyExcerpt.isEmpty { text += ": \(bodyExcerpt)" }
        return text
    }
}

extension MCPClientError {
    /// How much of an unexpected HTTP body an error keeps.
    static let bodyExcerptLimit = 512

    /// `bytes` as text fit for an error: at most ``bodyExcerptLimit`` characters, control
    /// characters escaped.
    static func excerpt(_ bytes: some Collection<UInt8>) -> String {
        let text = String(decoding: bytes.prefix(bodyExcerptLimit * 4), as: UTF8.self)
        var result = ""
        for scalar in text.unicodeScalars.prefix(bodyExcerptLimit) {
            result += scalar.properties.generalCategory == .control ? scalar.escaped(asASCII: true) : String(scalar)
        }
        return text.unicodeScalars.count > bodyExcerptLimit ? result + "…" : result
    }
}
