import Shared

/// A gateway failure on an MCP endpoint is a JSON-RPC error whose `data` carries the gateway's
/// stable error code and the call id; its message is the one the REST surface would show.
///
/// Codes: unknown tools (and servers) and bad arguments are the spec's -32602; the gateway's own
/// failures use the implementation-defined range: -32001 forbidden, -32003 deadline exceeded,
/// -32004 unavailable (broker, backend down, authorization unavailable: retry later), -32005
/// backend error, -32006 cancelled, -32007 outcome unknown (it may have run: look it up or retry
/// with the same `Idempotency-Key`), -32008 rate limited (`data.retryAfter` says when to try
/// again); anything else -32603. All of them lie in -32000..-32019, the range the 2026-07-28
/// revision leaves to implementations (-32020 and up are the specification's own).
enum MCPErrorMapping {
    static func jsonRPCError(_ error: GatewayError, callID: String) -> JSONRPCError {
        let code: Int =
            switch error.code {
            case .badRequest, .payloadTooLarge, .invalidEnvelope, .notFound, .idempotencyKeyReused: -32602
            case .forbidden, .unauthenticated: -32001
            case .deadlineExceeded: -32003
            case .unavailable, .authorizationUnavailable: -32004
            case .backendError: -32005
            case .cancelled: -32006
            case .outcomeUnknown: -32007
            case .rateLimited: -32008
            case .internal: -32603
            }
        var data: [String: JSONValue] = ["code": .string(error.code.rawValue), "callId": .string(callID)]
        if let seconds = error.retryAfter { data["retryAfter"] = .integer(Int64(seconds)) }
        if error.mayHaveRun == true { data["mayHaveRun"] = true }
        return JSONRPCError(code: code, message: error.message, data: .object(data))
    }
}
