import Foundation

/// A Swift type that a result column can be read as.
///
/// Results arrive in text format, so a conformance parses the type's text output. A failure is
/// reported by ``PostgresRow`` as ``PostgresError/Code-swift.struct/decoding`` naming the column
/// and the Swift type, so a schema drift shows up as a precise error rather than a wrong value.
public protocol PostgresDecodable: Sendable {
    /// Reads a non-NULL value. `type` is the column's type, for types whose text form depends on
    /// it (`Data` from `bytea` versus from `jsonb`).
    init(postgresText text: String, type: PostgresDataType) throws

    /// The value for SQL `NULL`. Only `Optional` has one; every other type refuses.
    static func postgresNull() throws -> Self
}

extension PostgresDecodable {
    public static func postgresNull() throws -> Self {
        throw PostgresTextFormat.Failure(reason: "the value is NULL; decode an Optional to accept NULL")
    }
}

extension String: PostgresDecodable {
    /// Any column reads as its text output.
    public init(postgresText text: String, type: PostgresDataType) { self = text }
}

extension Int: PostgresDecodable {
    public init(postgresText text: String, type: PostgresDataType) throws {
        guard let value = Int(text) else { throw PostgresTextFormat.Failure(reason: "the value is not an integer") }
        self = value
    }
}

extension Int64: PostgresDecodable {
    public init(postgresText text: String, type: PostgresDataType) throws {
        guard let value = Int64(text) else { throw PostgresTextFormat.Failure(reason: "the value is not an integer") }
        self = value
    }
}

extension Int32: PostgresDecodable {
    public init(postgresText text: String, type: PostgresDataType) throws {
        guard let value = Int32(text) else {
            throw PostgresTextFormat.Failure(reason: "the value is not a 32-bit integer")
        }
        self = value
    }
}

extension Bool: PostgresDecodable {
    public init(postgresText text: String, type: PostgresDataType) throws {
        switch text {
        case "t", "true": self = true
        case "f", "false": self = false
        default: throw PostgresTextFormat.Failure(reason: "the value is not a boolean")
        }
    }
}

extension Double: PostgresDecodable {
    public init(postgresText text: String, type: PostgresDataType) throws {
        switch text {
        case "NaN": self = .nan
        case "Infinity": self = .infinity
        case "-Infinity": self = -.infinity
        default:
            guard let value = Double(text) else { throw PostgresTextFormat.Failure(reason: "the value is not a number") }
            self = value
        }
    }
}

extension UUID: PostgresDecodable {
    public init(postgresText text: String, type: PostgresDataType) throws {
        guard let value = UUID(uuidString: text) else { throw PostgresTextFormat.Failure(reason: "the value is not a UUID") }
        self = value
    }
}

extension Date: PostgresDecodable {
    /// Reads `timestamptz`, `timestamp` (as UTC) and `date`; `infinity` reads as `distantFuture`.
    public init(postgresText text: String, type: PostgresDataType) throws {
        self = try PostgresTextFormat.parseTimestamp(text)
    }
}

extension Data: PostgresDecodable {
    /// A `bytea` column gives its bytes; any other column (`jsonb`, `json`, `text`) gives the
    /// UTF-8 bytes of its text, ready for `JSONDecoder`.
    public init(postgresText text: String, type: PostgresDataType) throws {
        self = type == .bytea ? try PostgresTextFormat.parseBytea(text) : Data(text.utf8)
    }
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public init(postgresText text: String, type: PostgresDataType) throws {
        self = .some(try Wrapped(postgresText: text, type: type))
    }

    public static func postgresNull() -> Self { nil }
}

extension Array: PostgresDecodable where Element: PostgresArrayElement {
    /// Reads a one-dimensional array; a `NULL` element needs an optional `Element`.
    public init(postgresText text: String, type: PostgresDataType) throws {
        self = try PostgresTextFormat.parseArray(text).map { element in
            guard let element else { return try Element.postgresNull() }
            return try Element(postgresText: element, type: .unspecified)
        }
    }
}
