import Foundation
import Shared

/// How entries are written: a table for people, one JSON object a line or CSV for programs.
/// Each entry is formatted on its own, so output streams in bounded memory.
public enum AuditFormat: String, Sendable, CaseIterable {
    case table, json, jsonl, csv

    /// The CSV columns, in order (also the JSON keys, besides `arguments`, `deadline`, `detail`).
    public static let columns = [
        "offset", "type", "callId", "at", "kind", "server", "tool", "sub", "tid", "oid", "user", "outcome", "durationMs", "worker", "mayHaveRun",
        "fromLedger", "idempotencyKey", "arguments", "detail",
    ]

    /// The header line, if the format has one.
    public var header: String? {
        switch self {
        case .table: Self.tableRow(["OFFSET", "TIME", "TYPE", "CALL ID", "SERVER", "TOOL", "USER", "TENANT", "OUTCOME", "MS"])
        case .csv: Self.columns.joined(separator: ",")
        case .json, .jsonl: nil
        }
    }

    /// One entry as one line (without the newline).
    public func line(_ entry: AuditEntry) -> String {
        switch self {
        case .table:
            Self.tableRow([
                String(entry.offset), AuditTime.format(entry.at), entry.type.rawValue, entry.callID, entry.server ?? "", entry.tool ?? "",
                entry.userName ?? entry.subject ?? "", entry.tenant ?? "", entry.outcome ?? (entry.type == .unreadable ? "unreadable" : ""),
                entry.durationMilliseconds.map(String.init) ?? "",
            ])
        case .json, .jsonl: Self.json(entry)
        case .csv: Self.values(entry).map { Self.csvField($0 ?? "") }.joined(separator: ",")
        }
    }

    /// A JSON value as compact JSON text, keys sorted.
    public static func jsonText(_ value: JSONValue) -> String {
        var out = ""
        JSONText.write(value, to: &out)
        return out
    }

    static let widths = [8, 24, 8, 36, 12, 20, 20, 10, 18, 6]

    static func tableRow(_ cells: [String]) -> String {
        var line = ""
        for (index, cell) in cells.enumerated() {
            let width = widths[index]
            var text = cell.replacingOccurrences(of: "\n", with: " ")
            if index < cells.count - 1 {
                if text.count > width { text = String(text.prefix(width - 1)) + "…" }
                line += text.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
            } else {
                line += text
            }
        }
        return line
    }

    /// The entry's fields as text, in ``columns`` order (`nil` for absent).
    static func values(_ entry: AuditEntry) -> [String?] {
        [
            String(entry.offset), entry.type.rawValue, entry.callID, AuditTime.format(entry.at), entry.kind, entry.server, entry.tool, entry.subject,
            entry.tenant, entry.objectID, entry.userName, entry.outcome, entry.durationMilliseconds.map(String.init), entry.worker,
            entry.mayHaveRun.map(String.init), entry.fromLedger.map(String.init), entry.idempotencyKey,
            entry.arguments.map { var out = ""; JSONText.write($0, to: &out); return out }, entry.detail,
        ]
    }

    static func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static func json(_ entry: AuditEntry) -> String {
        var out = "{"
        var first = true
        func key(_ name: String) {
            if !first { out += "," }
            first = false
            JSONText.writeString(name, to: &out)
            out += ":"
        }
        func string(_ name: String, _ value: String?) {
            guard let value else { return }
            key(name)
            JSONText.writeString(value, to: &out)
        }
        func raw(_ name: String, _ value: String?) {
            guard let value else { return }
            key(name)
            out += value
        }
        // Keys in sorted order, as ContractJSON writes.
        if let arguments = entry.arguments {
            key("arguments")
            JSONText.write(arguments, to: &out)
        }
        raw("at", String(entry.at.millisecondsSince1970))
        string("callId", entry.callID)
        raw("deadline", entry.deadline.map { String($0.millisecondsSince1970) })
        string("detail", entry.detail)
        raw("durationMs", entry.durationMilliseconds.map(String.init))
        raw("fromLedger", entry.fromLedger.map(String.init))
        string("idempotencyKey", entry.idempotencyKey)
        string("kind", entry.kind)
        raw("mayHaveRun", entry.mayHaveRun.map(String.init))
        raw("offset", String(entry.offset))
        string("oid", entry.objectID)
        string("outcome", entry.outcome)
        string("server", entry.server)
        string("sub", entry.subject)
        string("tid", entry.tenant)
        string("tool", entry.tool)
        string("type", entry.type.rawValue)
        string("user", entry.userName)
        string("worker", entry.worker)
        out += "}"
        return out
    }
}

/// A small JSON writer for ``JSONValue`` (sorted keys, like ``ContractJSON``), fast enough to
/// export a stream at broker speed.
enum JSONText {
    static func write(_ value: JSONValue, to out: inout String) {
        switch value {
        case .null: out += "null"
        case .bool(let flag): out += flag ? "true" : "false"
        case .integer(let number): out += String(number)
        case .double(let number): out += number.isFinite ? "\(number)" : "null"
        case .string(let text): writeString(text, to: &out)
        case .array(let items):
            out += "["
            for (index, item) in items.enumerated() {
                if index > 0 { out += "," }
                write(item, to: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (index, name) in members.keys.sorted().enumerated() {
                if index > 0 { out += "," }
                writeString(name, to: &out)
                out += ":"
                write(members[name]!, to: &out)
            }
            out += "}"
        }
    }

    static func writeString(_ text: String, to out: inout String) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}
