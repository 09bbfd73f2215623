import Foundation

/// A Swift value that can be bound to a query parameter (`$n`).
///
/// Values travel in PostgreSQL's text format and are never spliced into the SQL text, so no value
/// can change the statement; conform a type of your own by giving its text input form.
public protocol PostgresEncodable: Sendable {
    /// The type the server should assume for the parameter.
    static var postgresDataType: PostgresDataType { get }

    /// The value in the type's text input format; `nil` binds SQL `NULL`.
    ///
    /// Throwing is reserved for values that can fail to serialize (JSON); the error surfaces
    /// when the query runs, as ``PostgresError/Code-swift.struct/encoding``.
    func postgresText() throws -> String?
}

/// A value that can also be an element of a bound or decoded one-dimensional array.
public protocol PostgresArrayElement: PostgresEncodable, PostgresDecodable {
    /// The array type whose elements are `Self` (`text[]` for `String`).
    static var postgresArrayDataType: PostgresDataType { get }
}

extension String: PostgresArrayElement {
    /// Unspecified, so that a string fits a `text`, `varchar`, enum or domain column alike.
    public static var postgresDataType: PostgresDataType { .unspecified }
    public static var postgresArrayDataType: PostgresDataType { .textArray }
    public func postgresText() -> String? { self }
}

extension Int: PostgresArrayElement {
    public static var postgresDataType: PostgresDataType { .int8 }
    public static var postgresArrayDataType: PostgresDataType { .int8Array }
    public func postgresText() -> String? { String(self) }
}

extension Int64: PostgresArrayElement {
    public static var postgresDataType: PostgresDataType { .int8 }
    public static var postgresArrayDataType: PostgresDataType { .int8Array }
    public func postgresText() -> String? { String(self) }
}

extension Int32: PostgresArrayElement {
    public static var postgresDataType: PostgresDataType { .int4 }
    public static var postgresArrayDataType: PostgresDataType { .int4Array }
    public func postgresText() -> String? { String(self) }
}

extension Bool: PostgresArrayElement {
    public static var postgresDataType: PostgresDataType { .bool }
    public static var postgresArrayDataType: PostgresDataType { .boolArray }
    public func postgresText() -> String? { self ? "t" : "f" }
}

extension Double: PostgresArrayElement {
    public static var postgresDataType: PostgresDataType { .float8 }
    public static var postgresArrayDataType: PostgresDataType { .float8Array }
    /// Swift's shortest round-tripping form; `float8in` reads it back to the same bits.
    public func postgresText() -> String? {
        if isNaN { return "NaN" }
        if isInfinite { return self < 0 ? "-Infinity" : "Infinity" }
        return String(self)
    }
}

extension UUID: PostgresArrayElement {
    public static var postgresDataType: PostgresDataType { .uuid }
    public static var postgresArrayDataType: PostgresDataType { .uuidArray }
    public func postgresText() -> String? { uuidString.lowercased() }
}

extension Date: PostgresArrayElement {
    public static var postgresDataType: PostgresDataType { .timestamptz }
    public static var postgresArrayDataType: PostgresDataType { .timestamptzArray }
    /// UTC with microseconds (timestamptz's precision); finer fractions are rounded.
    public func postgresText() -> String? { PostgresTextFormat.timestamp(self) }
}

extension Data: PostgresEncodable {
    public static var postgresDataType: PostgresDataType { .bytea }
    public func postgresText() -> String? { PostgresTextFormat.byteaHex(self) }
}

extension Optional: PostgresEncodable where Wrapped: PostgresEncodable {
    public static var postgresDataType: PostgresDataType { Wrapped.postgresDataType }
    public func postgresText() throws -> String? { try self?.postgresText() }
}

extension Optional: PostgresArrayElement where Wrapped: PostgresArrayElement {
    public static var postgresArrayDataType: PostgresDataType { Wrapped.postgresArrayDataType }
}

extension Array: PostgresEncodable where Element: PostgresArrayElement {
    public static var postgresDataType: PostgresDataType { Element.postgresArrayDataType }
    /// An array literal with every element quoted and escaped; `nil` elements become `NULL`.
    public func postgresText() throws -> String? {
        PostgresTextFormat.arrayLiteral(try map { try $0.postgresText() })
    }
}
