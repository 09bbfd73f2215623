import Foundation
import Shared

/// The bulk path of ``AuditEntry/init(delivery:)``: reads a record's JSON straight from its bytes
/// into ``JSONValue`` and picks the fields an entry needs, several times faster than `Codable`
/// (what lets `audit export` keep up with the broker, docs/audit.md#benchmark).
///
/// It only ever accepts: anything it does not recognise exactly (another `v`, an unknown kind or
/// outcome, a missing field, invalid UTF-8, nesting past ``ContractJSON/maximumNestingDepth``)
/// returns `nil`, and the contract's own decoder then reads the message or says why it cannot.
enum AuditFastDecoding {
    static func request(_ body: [UInt8], offset: Int64) -> AuditEntry? {
        guard let (object, principal) = record(body), let issuedAt = object["issuedAt"]?.int64Value,
            let deadline = object["deadline"]?.int64Value, let arguments = object["arguments"],
            var entry = entry(object, principal, offset: offset, type: .request, at: issuedAt)
        else { return nil }
        entry.userName = principal["userName"]?.stringValue
        entry.arguments = arguments
        entry.idempotencyKey = object["idempotencyKey"]?.stringValue
        entry.deadline = Date(millisecondsSince1970: deadline)
        return entry
    }

    static func outcome(_ body: [UInt8], offset: Int64) -> AuditEntry? {
        guard let (object, principal) = record(body), let type = object["type"]?.stringValue,
            let recordType = AuditRecord.RecordType(rawValue: type), let at = object["at"]?.int64Value,
            var entry = entry(object, principal, offset: offset, type: recordType == .request ? .request : .outcome, at: at)
        else { return nil }
        if let outcome = object["outcome"] {
            guard let raw = outcome.stringValue, AuditRecord.Outcome(rawValue: raw) != nil else { return nil }
            entry.outcome = raw
        }
        entry.durationMilliseconds = object["durationMs"]?.int64Value
        entry.worker = object["worker"]?.stringValue
        entry.mayHaveRun = object["mayHaveRun"]?.boolValue
        entry.fromLedger = object["fromLedger"]?.boolValue
        return entry
    }

    /// A version-1 record's object and its principal.
    private static func record(_ body: [UInt8]) -> ([String: JSONValue], [String: JSONValue])? {
        guard case .object(let object)? = JSONBytes.parse(body), object["v"] == .integer(1),
            case .object(let principal)? = object["principal"]
        else { return nil }
        return (object, principal)
    }

    /// The fields both kinds of record have: the call, its kind, server and tool, and the caller.
    private static func entry(
        _ object: [String: JSONValue], _ principal: [String: JSONValue], offset: Int64, type: AuditEntry.RecordType, at milliseconds: Int64
    ) -> AuditEntry? {
        guard let callID = object["callId"]?.stringValue, let kind = object["kind"]?.stringValue, CallKind(rawValue: kind) != nil,
            let server = object["server"]?.stringValue, let subject = principal["sub"]?.stringValue, let tenant = principal["tid"]?.stringValue
        else { return nil }
        var entry = AuditEntry(offset: offset, type: type, callID: callID, at: Date(millisecondsSince1970: milliseconds))
        entry.kind = kind
        entry.server = server
        entry.tool = object["tool"]?.stringValue
        entry.subject = subject
        entry.tenant = tenant
        entry.objectID = principal["oid"]?.stringValue
        return entry
    }
}

/// A strict JSON reader over bytes (RFC 8259), into ``JSONValue`` with the contract's number rules:
/// integers that fit are `Int64`, anything else a `Double`. `nil` for anything malformed.
enum JSONBytes {
    static func parse(_ bytes: [UInt8]) -> JSONValue? {
        bytes.withUnsafeBufferPointer { buffer -> JSONValue? in
            var reader = Reader(bytes: buffer)
            reader.skipSpace()
            guard let value = reader.value(depth: 0) else { return nil }
            reader.skipSpace()
            return reader.position == buffer.count ? value : nil
        }
    }

    struct Reader {
        let bytes: UnsafeBufferPointer<UInt8>
        var position = 0

        init(bytes: UnsafeBufferPointer<UInt8>) {
            self.bytes = bytes
        }

        var current: UInt8? { position < bytes.count ? bytes[position] : nil }

        mutating func skipSpace() {
            while let byte = current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { position += 1 }
        }

        mutating func literal(_ text: StaticString, _ value: JSONValue) -> JSONValue? {
            let count = text.utf8CodeUnitCount
            guard position + count <= bytes.count else { return nil }
            for index in 0..<count where bytes[position + index] != text.utf8Start[index] { return nil }
            position += count
            return value
        }

        mutating func value(depth: Int) -> JSONValue? {
            guard depth < ContractJSON.maximumNestingDepth, let byte = current else { return nil }
            switch byte {
            case UInt8(ascii: "{"): return object(depth: depth + 1)
            case UInt8(ascii: "["): return array(depth: depth + 1)
            case UInt8(ascii: "\""): return string().map(JSONValue.string)
            case UInt8(ascii: "t"): return literal("true", .bool(true))
            case UInt8(ascii: "f"): return literal("false", .bool(false))
            case UInt8(ascii: "n"): return literal("null", .null)
            default: return number()
            }
        }

        mutating func object(depth: Int) -> JSONValue? {
            position += 1
            var members: [String: JSONValue] = [:]
            skipSpace()
            if current == UInt8(ascii: "}") {
                position += 1
                return .object(members)
            }
            while true {
                skipSpace()
                guard current == UInt8(ascii: "\""), let key = string() else { return nil }
                skipSpace()
                guard current == UInt8(ascii: ":") else { return nil }
                position += 1
                skipSpace()
                guard let value = value(depth: depth) else { return nil }
                members[key] = value
                skipSpace()
                switch current {
                case UInt8(ascii: ","): position += 1
                case UInt8(ascii: "}"):
                    position += 1
                    return .object(members)
                default: return nil
                }
            }
        }

        mutating func array(depth: Int) -> JSONValue? {
            position += 1
            var items: [JSONValue] = []
            skipSpace()
            if current == UInt8(ascii: "]") {
                position += 1
                return .array(items)
            }
            while true {
                skipSpace()
                guard let item = value(depth: depth) else { return nil }
                items.append(item)
                skipSpace()
                switch current {
                case UInt8(ascii: ","): position += 1
                case UInt8(ascii: "]"):
                    position += 1
                    return .array(items)
                default: return nil
                }
            }
        }

        mutating func string() -> String? {
            position += 1
            let start = position
            while let byte = current {
                if byte == UInt8(ascii: "\"") {
                    let text = String(validating: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
                    position += 1
                    return text
                }
                if byte == UInt8(ascii: "\\") { return escapedString(from: start) }
                if byte < 0x20 { return nil }
                position += 1
            }
            return nil
        }

        /// The slow path, for strings with escapes.
        mutating func escapedString(from start: Int) -> String? {
            var scalars: [UInt8] = Array(UnsafeBufferPointer(rebasing: bytes[start..<position]))
            while let byte = current {
                position += 1
                switch byte {
                case UInt8(ascii: "\""):
                    return String(validating: scalars, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    guard let escape = current else { return nil }
                    position += 1
                    switch escape {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scalars.append(escape)
                    case UInt8(ascii: "b"): scalars.append(0x08)
                    case UInt8(ascii: "f"): scalars.append(0x0C)
                    case UInt8(ascii: "n"): scalars.append(0x0A)
                    case UInt8(ascii: "r"): scalars.append(0x0D)
                    case UInt8(ascii: "t"): scalars.append(0x09)
                    case UInt8(ascii: "u"):
                        guard var code = hex4() else { return nil }
                        if (0xD800..<0xDC00).contains(code) {
                            guard current == UInt8(ascii: "\\"), position + 1 < bytes.count, bytes[position + 1] == UInt8(ascii: "u") else { return nil }
                            position += 2
                            guard let low = hex4(), (0xDC00..<0xE000).contains(low) else { return nil }
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00..<0xE000).contains(code) {
                            return nil
                        }
                        guard let scalar = Unicode.Scalar(code) else { return nil }
                        scalars.append(contentsOf: Array(String(Character(scalar)).utf8))
                    default: return nil
                    }
                default:
                    if byte < 0x20 { return nil }
                    scalars.append(byte)
                }
            }
            return nil
        }

        mutating func hex4() -> UInt32? {
            guard position + 4 <= bytes.count else { return nil }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[position]
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: return nil
                }
                value = value << 4 | UInt32(digit)
                position += 1
            }
            return value
        }

        mutating func number() -> JSONValue? {
            let start = position
            if current == UInt8(ascii: "-") { position += 1 }
            let digitsStart = position
            while let byte = current, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") { position += 1 }
            let digits = position - digitsStart
            guard digits > 0, digits == 1 || bytes[digitsStart] != UInt8(ascii: "0") else { return nil }
            var integral = true
            if current == UInt8(ascii: ".") {
                integral = false
                position += 1
                let fraction = position
                while let byte = current, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") { position += 1 }
                guard position > fraction else { return nil }
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                integral = false
                position += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
                let exponent = position
                while let byte = current, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") { position += 1 }
                guard position > exponent else { return nil }
            }
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
            if integral, let integer = Int64(text) { return .integer(integer) }
            guard let double = Double(text), double.isFinite else { return nil }
            return .double(double)
        }
    }
}
