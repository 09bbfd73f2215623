import Foundation
import Shared

/// One row of `access_grants` that matches a principal, with its tool rules.
public struct AccessGrant: Sendable, Hashable, Codable, CustomStringConvertible {
    public enum SubjectKind: String, Sendable, Hashable, Codable {
        case group, user, role
    }

    public struct ToolRule: Sendable, Hashable, Codable, CustomStringConvertible {
        public enum Effect: String, Sendable, Hashable, Codable {
            case allow, deny
        }

        public var id: Int64
        public var effect: Effect
        public var pattern: String

        public init(id: Int64, effect: Effect, pattern: String) {
            self.id = id
            self.effect = effect
            self.pattern = pattern
        }

        public func matches(_ tool: String) -> Bool { ToolPattern(pattern).matches(tool) }

        public var description: String { "tool rule #\(id) (\(effect.rawValue) '\(pattern)')" }
    }

    public var id: Int64
    public var tenant: String
    /// A server id, or `*` for every server.
    public var server: String
    public var kind: SubjectKind
    /// The group name or id, the role value, `tid/oid` or the user principal name.
    public var subject: String
    /// A user grant by Entra object id (rather than by user principal name).
    public var byObjectID: Bool
    public var rules: [ToolRule]

    public init(id: Int64, tenant: String, server: String, kind: SubjectKind, subject: String, byObjectID: Bool = false, rules: [ToolRule] = []) {
        self.id = id
        self.tenant = tenant
        self.server = server
        self.kind = kind
        self.subject = subject
        self.byObjectID = byObjectID
        self.rules = rules
    }

    public var description: String {
        let who: String
        switch kind {
        case .group: who = "group '\(subject)'"
        case .role: who = "app role '\(subject)'"
        case .user: who = "user '\(subject)'"
        }
        return "grant #\(id): \(who) may use '\(server)' in tenant '\(tenant)'"
    }

    /// Which grant names the tenant when several match: a grant of this very server beats `*`;
    /// then a user by object id, a user by name, a group, a role; then tenant id, then grant id.
    var precedence: (Int, Int, String, Int64) {
        let subjectRank: Int
        switch kind {
        case .user: subjectRank = byObjectID ? 0 : 1
        case .group: subjectRank = 2
        case .role: subjectRank = 3
        }
        return (server == "*" ? 1 : 0, subjectRank, tenant, id)
    }

    static func byPrecedence(_ a: AccessGrant, _ b: AccessGrant) -> Bool {
        a.precedence < b.precedence
    }

    init(row: PostgresRow) throws {
        guard let kind = SubjectKind(rawValue: try row.decode(String.self, "subject_kind")) else {
            throw PostgresError(code: .decoding, message: "unknown subject kind in access_grants", column: "subject_kind")
        }
        self.init(
            id: try row.decode(Int64.self, "id"), tenant: try row.decode(String.self, "tenant_id"), server: try row.decode(String.self, "server_id"),
            kind: kind, subject: try row.decode(String.self, "subject"), byObjectID: try row.decode(Bool.self, "by_object"),
            rules: try row.decodeJSON([ToolRule].self, "rules")
        )
    }
}
