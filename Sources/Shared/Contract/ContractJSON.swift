import Foundation

/// The one JSON configuration every contract message is written and read with, so that the
/// ingress, the workers and the audit tools agree byte for byte on how a message looks.
///
/// - Dates are integer milliseconds since 1970-01-01 UTC: every language reads them without a
///   date parser, and they compare as numbers. Sub-millisecond precision is dropped on writing.
/// - Keys are sorted, so encoding the same value twice gives the same bytes.
/// - Non-finite numbers cannot be written (JSON has none) and make encoding fail.
public enum ContractJSON {
    /// Deepest nesting of arrays and objects in any contract message, counted over the whole
    /// document (the envelope or reply object is the first level).
    ///
    /// Readers check it with ``isNestingWithinLimit(_:limit:)`` before the JSON parser runs, so
    /// a hostile document of a million `[` is refused in one cheap pass whatever the parser's own
    /// limits are (Foundation's are undocumented). Writers check it too, so that nothing we write
    /// is refused by our own readers.
    public static let maximumNestingDepth = 128

    public static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(date.millisecondsSince1970)
        }
        return encoder
    }()

    public static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            return Date(millisecondsSince1970: try container.decode(Int64.self))
        }
        return decoder
    }()

    /// Whether arrays and objects in `bytes` nest at most `limit` deep, counting only brackets
    /// outside strings. One pass, no allocation; does not otherwise check the JSON.
    public static func isNestingWithinLimit(_ bytes: some Sequence<UInt8>, limit: Int = maximumNestingDepth) -> Bool {
        var depth = 0
        var inString = false
        var escaped = false
        for byte in bytes {
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""):
                inString = true
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                if depth > limit { return false }
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                depth -= 1
            default:
                break
            }
        }
        return true
    }
}

extension Date {
    /// The date `milliseconds` after 1970-01-01 UTC.
    public init(millisecondsSince1970 milliseconds: Int64) {
        self.init(timeIntervalSince1970: Double(milliseconds) / 1000)
    }

    /// Whole milliseconds since 1970-01-01 UTC, rounded to the nearest; clamped to the `Int64`
    /// range for dates no one will send.
    public var millisecondsSince1970: Int64 {
        let milliseconds = (timeIntervalSince1970 * 1000).rounded()
        guard milliseconds.isFinite else { return 0 }
        return Int64(max(Double(Int64.min), min(milliseconds, Double(Int64.max).nextDown)))
    }

    /// This date rounded to whole milliseconds: what survives a trip through the contract.
    public var roundedToMilliseconds: Date { Date(millisecondsSince1970: millisecondsSince1970) }
}

// MARK: Reading and writing messages

extension ContractJSON {
    /// Writes one contract message, refusing (`.malformed`) what ``decodeMessage(_:from:)``
    /// would refuse: non-finite numbers, nesting deeper than ``maximumNestingDepth``.
    public static func encodeMessage(_ message: some Encodable, what: String) throws(EnvelopeError) -> [UInt8] {
        let body: [UInt8]
        do {
            body = Array(try encoder.encode(message))
        } catch {
            throw .malformed("\(what) cannot be encoded as JSON: \(error)")
        }
        guard isNestingWithinLimit(body) else {
            throw .malformed("\(what) nests deeper than \(maximumNestingDepth) levels")
        }
        return body
    }

    /// Reads one contract message (``RequestEnvelope``, ``Reply``, ``AuditRecord``) from its
    /// body bytes. Never traps on hostile input: empty, non-JSON, invalid UTF-8, too deep, wrong
    /// shape and out-of-range numbers are all `.malformed`; another `v` is `.unsupportedVersion`.
    public static func decodeMessage<Message: Decodable>(
        _ type: Message.Type,
        from body: [UInt8]
    ) throws(EnvelopeError) -> Message {
        guard !body.isEmpty else { throw .malformed("empty body") }
        guard isNestingWithinLimit(body) else {
            throw .malformed("JSON nests deeper than \(maximumNestingDepth) levels")
        }
        do {
            return try decoder.decode(Message.self, from: Data(body))
        } catch let error as UnsupportedContractVersion {
            throw .unsupportedVersion(error.version)
        } catch let error as DecodingError {
            throw .malformed(describe(error))
        } catch {
            throw .malformed(String(describing: error))
        }
    }

    /// A one-line account of a decoding failure: where in the document and what was wrong.
    /// Names keys and types, never echoes values of the message.
    static func describe(_ error: DecodingError) -> String {
        func path(_ codingPath: [any CodingKey]) -> String {
            let rendered = codingPath.map { key in key.intValue.map { "[\($0)]" } ?? ".\(key.stringValue)" }.joined()
            return rendered.isEmpty ? "document" : String(rendered.drop { $0 == "." })
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "\(path(context.codingPath + [key])): required but missing"
        case .valueNotFound(let type, let context):
            return "\(path(context.codingPath)): expected \(type), found null"
        case .typeMismatch(let type, let context):
            return "\(path(context.codingPath)): expected \(type)"
        case .dataCorrupted(let context):
            var text = "\(path(context.codingPath)): \(context.debugDescription)"
            if let underlying = context.underlyingError { text += " (\(underlying))" }
            return text
        @unknown default:
            return String(describing: error)
        }
    }
}
