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
            return Self.tableRow([
                String(entry.offset), AuditTime.format(entry.at), entry.type.rawValue, entry.callID, entry.server ?? "", entry.tool ?? "",
                entry.userName ?? entry.subject ?? "", entry.tenant ?? "", entry.outcome ?? (entry.type == .unreadable ? "unreadable" : ""),
                entry.durationMilliseconds.map(String.init) ?? "",
            ])
        case .json, .jsonl:
            var bytes: [UInt8] = []
            Self.writeJSON(entry, to: &bytes)
            return String(decoding: bytes, as: UTF8.self)
        case .csv:
            return Self.values(entry).map { Self.csvField($0 ?? "") }.joined(separator: ",")
        }
    }

    /// A JSON value as compact JSON text, keys sorted.
    public static func jsonText(_ value: JSONValue) -> String {
        var out: [UInt8] = []
        JSONText.write(value, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends one entry as one line (with its newline) to `bytes`: the export's path, with no
    /// intermediate `String`.
    public func write(_ entry: AuditEntry, to bytes: inout [UInt8]) {
        switch self {
        case .json, .jsonl: Self.writeJSON(entry, to: &bytes)
        default: bytes.append(contentsOf: line(entry).utf8)
        }
        bytes.append(0x0A)
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
            entry.arguments.map(jsonText), entry.detail,
        ]
    }

    static func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static func writeJSON(_ entry: AuditEntry, to out: inout [UInt8]) {
        var first = true
        func key(_ name: StaticString) {
            out.append(first ? UInt8(ascii: "{") : UInt8(ascii: ","))
            first = false
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
            out.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
        }
        func string(_ name: StaticString, _ value: String?) {
            guard let value else { return }
            key(name)
            JSONText.writeString(value, to: &out)
        }
        func integer(_ name: StaticString, _ value: Int64?) {
            guard let value else { return }
            key(name)
            out.append(contentsOf: String(value).utf8)
        }
        func bool(_ name: StaticString, _ value: Bool?) {
            guard let value else { return }
            key(name)
            out.append(contentsOf: (value ? "true" : "false").utf8)
        }
        // Keys in sorted order, as ContractJSON writes.
        if let arguments = entry.arguments {
            key("arguments")
            JSONText.write(arguments, to: &out)
        }
        integer("at", entry.at.millisecondsSince1970)
        string("callId", entry.callID)
        integer("deadline", entry.deadline?.millisecondsSince1970)
        string("detail", entry.detail)
        integer("durationMs", entry.durationMilliseconds)
        bool("fromLedger", entry.fromLedger)
        string("idempotencyKey", entry.idempotencyKey)
        string("kind", entry.kind)
        bool("mayHaveRun", entry.mayHaveRun)
        integer("offset", entry.offset)
        string("oid", entry.objectID)
        string("outcome", entry.outcome)
        string("server", entry.server)
        string("sub", entry.subject)
        string("tid", entry.tenant)
        string("tool", entry.tool)
        string("type", entry.type.rawValue)
        string("user", entry.userName)
        string("worker", entry.worker)
        out.append(UInt8(ascii: "}"))
    }
}

/// A small JSON writer for ``JSONValue`` into bytes (sorted keys, like ``ContractJSON``), fast
/// enough to export a stream at broker speed.
enum JSONText {
    static func write(_ value: JSONValue, to out: inout [UInt8]) {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let flag): out.append(contentsOf: (flag ? "true" : "false").utf8)
        case .integer(let number): out.append(contentsOf: String(number).utf8)
        case .double(let number): out.append(contentsOf: (number.isFinite ? "\(number)" : "null").utf8)
        case .string(let text): writeString(text, to: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                write(item, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (index, name) in members.keys.sorted().enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                writeString(name, to: &out)
                out.append(UInt8(ascii: ":"))
                write(members[name]!, to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    static func writeString(_ text: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { bytes in
            for byte in bytes {
                switch byte {
                case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
                case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
                case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
                case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
                case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
                case 0..<0x20:
                    out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
                default: out.append(byte)
                }
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
