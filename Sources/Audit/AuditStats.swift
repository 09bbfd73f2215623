/// `mcpgw audit stats`: counts of calls by server, tool, outcome and user (the caller's subject,
/// the identity every record carries), from the records read.
///
/// Calls are counted from request records (one per call), outcomes from outcome records (an
/// outcome answered from the ledger is counted too, and marked so in `fromLedger`).
public struct AuditStats: Sendable {
    public private(set) var calls = 0
    public private(set) var byServer: [String: Int] = [:]
    public private(set) var byTool: [String: Int] = [:]
    public private(set) var byUser: [String: Int] = [:]
    public private(set) var byOutcome: [String: Int] = [:]
    public private(set) var unreadable = 0

    public init() {}

    public mutating func add(_ entry: AuditEntry) {
        switch entry.type {
        case .request:
            calls += 1
            byServer[entry.server ?? "", default: 0] += 1
            if let tool = entry.tool { byTool["\(entry.server ?? "")/\(tool)", default: 0] += 1 }
            byUser[entry.subject ?? "", default: 0] += 1
        case .outcome:
            byOutcome[entry.outcome ?? "", default: 0] += 1
        case .unreadable:
            unreadable += 1
        }
    }

    /// `(dimension, key, count)` rows, each dimension by count (highest first), then by key.
    public var rows: [(dimension: String, key: String, count: Int)] {
        var rows: [(String, String, Int)] = [("calls", "all", calls)]
        for (dimension, counts) in [("server", byServer), ("tool", byTool), ("outcome", byOutcome), ("user", byUser)] {
            for (key, count) in counts.sorted(by: { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }) {
                rows.append((dimension, key, count))
            }
        }
        if unreadable > 0 { rows.append(("unreadable", "all", unreadable)) }
        return rows
    }
}
