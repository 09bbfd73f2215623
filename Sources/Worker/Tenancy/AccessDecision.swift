import Foundation
import Shared

/// What ``Authorizer/decide(_:server:tool:)`` answers: allow or deny, in which tenant, with which
/// credential, and the rule that decided. Never holds a credential's value in its description.
public struct AccessDecision: Sendable, CustomStringConvertible {
    public var allowed: Bool
    public var server: String
    public var tool: String?
    /// The tenant whose context (and credentials) the call runs in; `nil` when denied for want of a grant.
    public var tenant: String?
    /// The grant that decided (allowed, or denied by one of its tool rules).
    public var grant: AccessGrant?
    /// The tool rule that decided, if one did.
    public var rule: AccessGrant.ToolRule?
    /// Why, in one sentence, for the caller and for `explain`.
    public var reason: String
    /// The error a denied call answers with.
    public var error: GatewayError?
    /// The grants of the principal that name this server (or `*`), in precedence order.
    public var candidates: [AccessGrant]
    /// The server, with `credential` set, for the executor. `nil` when denied.
    public var record: ServerRecord?

    public var credential: BackendCredential? { record?.credential }

    /// The rule that decided, for logs and `explain`: `tool rule #4 (deny 'delete_*') of grant #2`.
    public var decidingRule: String {
        switch (grant, rule) {
        case (let grant?, let rule?): "\(rule) of grant #\(grant.id)"
        case (let grant?, nil): "grant #\(grant.id)"
        default: "default deny (no grant)"
        }
    }

    public var description: String {
        "\(allowed ? "allow" : "deny") \(server)\(tool.map { "/\($0)" } ?? "") tenant=\(tenant ?? "-") rule=\(decidingRule)"
    }

    /// The lines `mcpgw explain` and the explain endpoint print.
    public var explanation: [String] {
        var lines = ["\(allowed ? "ALLOW" : "DENY"): \(reason)"]
        lines.append("decided by: \(decidingRule)")
        if let tenant { lines.append("tenant: \(tenant)") }
        if allowed {
            lines.append("credential: \(credential.map(\.description) ?? "none (the server needs none)")")
        }
        if candidates.isEmpty {
            lines.append("grants of this principal for '\(server)': none")
        } else {
            lines.append("grants of this principal for '\(server)', by precedence:")
            for grant in candidates {
                let rules = grant.rules.isEmpty ? "all tools" : grant.rules.map(\.description).joined(separator: ", ")
                lines.append("  \(grant) [\(rules)]\(grant.tenant == tenant ? "" : " (another tenant: not used)")")
            }
        }
        return lines
    }

    /// The answer as JSON, for the explain endpoint.
    public var json: JSONValue {
        var object: [String: JSONValue] = [
            "allowed": .bool(allowed), "server": .string(server), "reason": .string(reason), "decidedBy": .string(decidingRule),
            "explanation": .array(explanation.map(JSONValue.string)),
        ]
        if let tool { object["tool"] = .string(tool) }
        if let tenant { object["tenant"] = .string(tenant) }
        if let credential { object["credential"] = .string(credential.description) }
        return .object(object)
    }
}
