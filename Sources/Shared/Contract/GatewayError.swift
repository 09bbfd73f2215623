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
    /// For ``GatewayErrorCode/rateLimited``: the limit that refused the call, for the edge's
    /// `RateLimit-Policy` and `RateLimit` headers.
    public var rateLimit: RateLimitState?

    public init(
        _ code: GatewayErrorCode, _ message: String, detail: String? = nil, mayHaveRun: Bool? = nil, retryAfter: Int? = nil,
        rateLimit: RateLimitState? = nil
    ) {
        self.code = code
        self.message = message
        self.detail = detail
        self.mayHaveRun = mayHaveRun == true ? true : nil
        self.retryAfter = retryAfter
        self.rateLimit = rateLimit
    }

    public var description: String {
        if let detail { return "\(code.rawValue): \(message) (\(detail))" }
        return "\(code.rawValue): \(message)"
    }
}

/// Where a caller stands against the limit that refused a call (the IETF RateLimit fields).
public struct RateLimitState: Codable, Sendable, Equatable, Hashable {
    /// The policy's name: `user`, `tenant`, `user-concurrency` or `tenant-concurrency`.
    public var policy: String
    /// Calls allowed per window (for a concurrency quota: calls at once).
    public var quota: Int
    /// The window in seconds (absent for a concurrency quota).
    public var windowSeconds: Int?
    public var remaining: Int
    /// Seconds until a call fits again.
    public var resetSeconds: Int

    public init(policy: String, quota: Int, windowSeconds: Int?, remaining: Int, resetSeconds: Int) {
        self.policy = policy
        self.quota = quota
        self.windowSeconds = windowSeconds
        self.remaining = remaining
        self.resetSeconds = resetSeconds
    }
}
