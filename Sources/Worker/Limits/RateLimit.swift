import Shared

/// One row of `rate_limits`: a rate and/or a concurrency quota for a user or a tenant (or, with
/// subject `*`, for each user or tenant without one of its own), on one server or all (`*`).
public struct RateLimit: Sendable, Hashable, Codable {
    public enum Scope: String, Sendable, Hashable, Codable, CaseIterable {
        case user, tenant
    }

    public static let everyone = "*"

    public var scope: Scope
    /// The user's token subject, the tenant id, or `*`.
    public var subject: String
    /// A server id or `*`.
    public var server: String
    public var requestsPerMinute: Int?
    /// The bucket's size: calls that may come at once (default: a minute's worth).
    public var burst: Int?
    public var maxConcurrent: Int?

    public init(
        scope: Scope, subject: String, server: String = RateLimit.everyone, requestsPerMinute: Int? = nil, burst: Int? = nil, maxConcurrent: Int? = nil
    ) {
        self.scope = scope
        self.subject = subject
        self.server = server
        self.requestsPerMinute = requestsPerMinute
        self.burst = burst
        self.maxConcurrent = maxConcurrent
    }

    /// The limit of `scope` that applies to `subject` on `server`: the most specific row (own
    /// subject before `*`, own server before `*`), or nil.
    static func applicable(_ limits: [RateLimit], scope: Scope, subject: String, server: String) -> RateLimit? {
        let candidates = [(subject, server), (subject, everyone), (everyone, server), (everyone, everyone)]
        for (who, where_) in candidates {
            if let limit = limits.first(where: { $0.scope == scope && $0.subject == who && $0.server == where_ }) { return limit }
        }
        return nil
    }

    /// How a user is named in `rate_limits`: `<tid>/<oid>` as in user grants (the token's
    /// subject when it has no object id).
    public static func userSubject(_ principal: Principal) -> String {
        "\(principal.tenantID)/\(principal.objectID ?? principal.subject)"
    }

    /// The bucket this limit counts `subject`'s calls in: a default limit still counts each
    /// user or tenant on its own.
    func bucketKey(subject: String) -> String {
        "\(scope.rawValue):\(subject):\(server)"
    }

    /// One line for people: `user 't/alice' (the default for every user) on every server: 60 calls a minute (bursts of 10)`.
    public func summary(for subject: String) -> String {
        var parts: [String] = []
        if let requestsPerMinute { parts.append("\(requestsPerMinute) calls a minute (bursts of \(burst ?? requestsPerMinute))") }
        if let maxConcurrent { parts.append("\(maxConcurrent) at once") }
        let whose = self.subject == Self.everyone ? " (the default for every \(scope.rawValue))" : ""
        return "\(scope.rawValue) '\(subject)'\(whose) on \(server == Self.everyone ? "every server" : "'\(server)'"): \(parts.joined(separator: ", "))"
    }

    var json: JSONValue {
        var object: [String: JSONValue] = ["scope": .string(scope.rawValue), "subject": .string(subject), "server": .string(server)]
        if let requestsPerMinute {
            object["requestsPerMinute"] = .integer(Int64(requestsPerMinute))
            object["burst"] = .integer(Int64(burst ?? requestsPerMinute))
        }
        if let maxConcurrent { object["maxConcurrent"] = .integer(Int64(maxConcurrent)) }
        return .object(object)
    }
}
