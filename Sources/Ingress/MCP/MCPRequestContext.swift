import Logging
import Shared

/// What one HTTP request on an MCP endpoint brings to the method handlers: the verified caller,
/// the endpoint's scope, the session (when the client has one) and the protocol revision.
struct MCPRequestContext: Sendable {
    var principal: Principal
    var scope: MCPScope
    /// The verified `Mcp-Session-Id`, if the request carried one (never in the stateless revision).
    var session: MCPSessionToken?
    /// The revision this request speaks: the session's, the `MCP-Protocol-Version` header's, or
    /// 2025-03-26 when neither names one (what the spec says to assume).
    var protocolVersion: String
    /// The HTTP request's call id (`X-Call-Id`); calls made for it derive their ids from it.
    var httpCallID: String
    var trace: TraceContext?
    var timeout: Duration
    /// The request's `Idempotency-Key`: a `tools/call` made with it gets the call id derived from
    /// the caller and the key, so that a retry never runs the tool twice.
    var idempotencyKey: String? = nil
    var logger: Logger

    var isStateless: Bool { protocolVersion == MCPProtocolVersion.stateless }

    /// The call id of the `tools/call` request `id`. With an `Idempotency-Key` it is derived from
    /// the caller and the key (a `notifications/cancelled` sent in another request cannot name
    /// it then; closing the stream still cancels it). Within a session it is derived from the
    /// session (its nonce), the caller and the JSON-RPC id, so a `notifications/cancelled` that
    /// reaches another replica names the same call. Without a session nothing could correlate a
    /// cancellation, so the call gets a fresh id (it is cancelled by closing its stream).
    func callID(forRequest id: JSONValue) -> String? {
        if let idempotencyKey { return CallHeaders.callID(idempotencyKey: idempotencyKey, principal: principal) }
        guard let session, !isStateless else { return nil }
        return UUIDs.derived("mcp-call", session.nonce, session.principalBinding, Self.canonical(id))
    }

    /// `1` and `1.0` are the same id; `"1"` is another.
    static func canonical(_ id: JSONValue) -> String {
        switch id {
        case .string(let text): "s:" + text
        case .integer(let number): "n:\(number)"
        case .double(let number): Int64(exactly: number).map { "n:\($0)" } ?? "d:\(number)"
        default: "x"
        }
    }
}
