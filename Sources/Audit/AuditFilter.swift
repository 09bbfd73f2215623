import Foundation

/// The filters of `mcpgw audit read|export|stats|tail`; every one set must match (AND).
///
/// - `user` matches the caller's subject, object id or user name;
/// - `outcome` is `ok`, `error` (any error code) or one code (`forbidden`, ...) and only outcome
///   records can match it;
/// - `since`/`until` compare the record's own time (the request's acceptance, the outcome's end).
public struct AuditFilter: Sendable, Equatable {
    public var callIDs: Set<String> = []
    public var user: String?
    public var tenant: String?
    public var server: String?
    public var tool: String?
    /// A call kind (`tools/call`, `tools/list`, `servers/list`, ...).
    public var kind: String?
    /// `request`, `outcome` or `unreadable`.
    public var type: AuditEntry.RecordType?
    public var outcome: String?
    public var since: Date?
    public var until: Date?

    public init() {}

    public var isEmpty: Bool { self == AuditFilter() }

    public func matches(_ entry: AuditEntry) -> Bool {
        if !callIDs.isEmpty, !callIDs.contains(entry.callID) { return false }
        if let type, entry.type != type { return false }
        if let user, entry.subject != user, entry.objectID != user, entry.userName != user { return false }
        if let tenant, entry.tenant != tenant { return false }
        if let server, entry.server != server { return false }
        if let tool, entry.tool != tool { return false }
        if let kind, entry.kind != kind { return false }
        if let outcome {
            guard let actual = entry.outcome else { return false }
            switch outcome {
            case "error": if actual == "ok" { return false }
            default: if actual != outcome { return false }
            }
        }
        if let since, entry.at < since { return false }
        if let until, entry.at > until { return false }
        return true
    }
}
