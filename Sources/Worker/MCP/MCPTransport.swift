import Logging
import Shared

/// What ``MCPBackend`` needs from a transport: send a request inside an initialised session and
/// wait for its answer, send a notification, and close.
///
/// Each transport owns its idea of a session (an `Mcp-Session-Id`, an event stream, a child
/// process), starts one when a request needs it, and starts a new one when the old is gone.
/// Notifications and requests the server sends outside an awaited answer go to the
/// ``MCPInboundHandler`` the transport was made with.
protocol MCPTransport: AnyObject, Sendable {
    /// Sends `method` with id `id` and returns the JSON-RPC `result`.
    ///
    /// Throws ``MCPClientError`` (``MCPClientError/Code/server`` for a JSON-RPC error answer).
    /// Must stop waiting promptly when the calling task is cancelled (throwing anything: the
    /// backend decides between timeout and cancellation). `deadline` bounds the network work the
    /// transport starts on the request's behalf.
    func request(
        id: Int64,
        method: String,
        params: JSONValue?,
        deadline: ContinuousClock.Instant,
        logger: Logger
    ) async throws -> JSONValue

    /// Sends a notification in the current session; does nothing when there is none (a
    /// notification never starts a session). Best effort: failures are logged, not thrown.
    func notify(method: String, params: JSONValue?, deadline: ContinuousClock.Instant, logger: Logger) async

    /// What the current session agreed on, if one is up.
    var session: MCPSessionInfo? { get }

    /// How many sessions have been initialised so far (for tests and metrics).
    var sessionsStarted: Int { get }

    /// Ends the session and releases everything; later requests fail with ``MCPClientError/Code/shutdown``.
    func shutdown() async
}

/// Where a transport hands messages from the server that are not the answer someone awaits.
struct MCPInboundHandler: Sendable {
    /// A notification (progress, list changes, log messages).
    var notification: @Sendable (_ method: String, _ params: JSONValue?) -> Void
}

extension MCPInboundHandler {
    /// The answer to a request the server sent us. We offer no client capabilities, so only
    /// `ping` gets a result; anything else is "method not found".
    static func reply(toServerRequest id: JSONValue, method: String) -> JSONRPCMessage {
        if method == MCPProtocol.Method.ping { return .result(id: id, result: [:]) }
        return .error(id: id, code: JSONRPCErrorCode.methodNotFound, message: "the client does not support \(method)", data: nil)
    }
}

extension JSONRPCMessage {
    /// The `result` of a response, or the JSON-RPC error as an ``MCPClientError``.
    func resultOrThrow(serverID: String) throws(MCPClientError) -> JSONValue {
        switch self {
        case .result(_, let result): return result
        case .error(_, let code, let message, let data):
            throw MCPClientError(.server, serverID: serverID, message: message, rpcCode: code, rpcData: data)
        default:
            throw MCPClientError(.protocolError, serverID: serverID, message: "expected a response")
        }
    }
}
