/// A failed call, as a worker reports it in a ``Reply`` and the edge turns it into an HTTP answer.
///
/// `message` is written for the caller; `detail` carries what an operator needs (the backend's
/// error text, the PostgreSQL message) and the edge decides whether to show it.
public struct GatewayError: Error, Codable, Sendable, Equatable, Hashable, CustomStringConvertible {
    public var code: GatewayErrorCode
    public var message: String
    public var detail: String?
    /// `true` when the backend call had started when the call failed (a deadline or a
    /// cancellation raced with it, or the worker lost track of it), so the tool may have run.
    /// Absent (`nil`) means the gateway knows the backend call was not started, or the error
    /// is not about a backend call.
    public var mayHaveRun: Bool?
    /// Seconds after which trying again makes sense (a backend's open circuit breaker, a rate
    /// limit): the edge's `Retry-After`. Absent: the edge's default for the code, if any.
    public var retryAfter: Int?

    public init(_ code: GatewayErrorCode, _ message: String, detail: String? = nil, mayHaveRun: Bool? = nil, retryAfter: Int? = nil) {
        self.code = code
        self.message = message
        self.detail = detail
        self.mayHaveRun = mayHaveRun == true ? true : nil
        self.retryAfter = retryAfter
    }

    public var description: String {
        if let detail { return "\(code.rawValue): \(message) (\(detail))" }
        return "\(code.rawValue): \(message)"
    }
}
