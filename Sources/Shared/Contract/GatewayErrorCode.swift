/// The stable error codes of the gateway. They travel in replies, land in audit records and are
/// what a client sees in the JSON error body, so a raw value never changes once published.
public enum GatewayErrorCode: String, Codable, Sendable, CaseIterable, Hashable {
    /// No valid credentials (missing, expired or forged token).
    case unauthenticated
    /// Authenticated, but PostgreSQL grants this caller no access to the server or tool.
    case forbidden
    /// The server or tool does not exist.
    case notFound = "not_found"
    /// The request is not a valid MCP request (arguments, tool name, JSON).
    case badRequest = "bad_request"
    /// The request or the backend's answer is larger than allowed.
    case payloadTooLarge = "payload_too_large"
    /// The gateway cannot take the call now: broker blocked, no worker, backend down.
    case unavailable
    /// The caller's deadline passed before an answer was ready.
    case deadlineExceeded = "deadline_exceeded"
    /// The MCP backend failed (protocol error, crash, bad answer).
    case backendError = "backend_error"
    /// Authorization could not be decided (PostgreSQL or the signing keys unreachable).
    /// The gateway fails closed: nothing runs.
    case authorizationUnavailable = "authorization_unavailable"
    /// The worker refused the request envelope (signature, version, shape).
    case invalidEnvelope = "invalid_envelope"
    /// A bug or an unexpected state in the gateway.
    case `internal`
    /// The client cancelled the call (MCP `notifications/cancelled`, or it closed the stream).
    case cancelled
    /// The call may have run: the worker running it stopped, or the broker connection carrying
    /// its reply broke, before an answer was recorded. It is never run again by the gateway;
    /// `GET /calls/{callId}` tells the outcome once it is known, and a retry with the same
    /// `Idempotency-Key` never runs the tool a second time.
    case outcomeUnknown = "outcome_unknown"
    /// The `Idempotency-Key` was already used by this caller for a different call (another
    /// server, tool or arguments).
    case idempotencyKeyReused = "idempotency_key_reused"
    /// The caller (or its tenant) is over a rate limit or a concurrency quota; nothing ran.
    /// `retryAfter` says when a call fits again. Added within contract version 1: upgrade
    /// ingresses before workers, since an older ingress cannot read this code.
    case rateLimited = "rate_limited"

    /// The HTTP status the edge answers with for this code.
    public var httpStatus: Int {
        switch self {
        case .unauthenticated: 401
        case .forbidden: 403
        case .notFound: 404
        case .badRequest: 400
        case .payloadTooLarge: 413
        case .unavailable: 503
        case .deadlineExceeded: 504
        case .backendError: 502
        case .authorizationUnavailable: 503
        case .invalidEnvelope: 400
        case .internal: 500
        // nginx's "client closed request": nobody reads it, but logs and metrics can tell it apart.
        case .cancelled: 499
        // Conflict: the call's state is not known to be either done or not done; retrying it
        // blindly could run it twice (see the case's documentation for what to do instead).
        case .outcomeUnknown: 409
        case .idempotencyKeyReused: 422
        case .rateLimited: 429
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let raw = try container.decode(String.self)
        guard let code = GatewayErrorCode(rawValue: raw) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "unknown gateway error code '\(raw)'")
        }
        self = code
    }
}
