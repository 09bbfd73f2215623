/// One SQL statement and its bound parameters.
///
/// Written as a string literal, every interpolated value becomes a parameter:
/// `"SELECT * FROM mcp_servers WHERE id = \(id) AND enabled = \(true)"` is sent as
/// `… WHERE id = $1 AND enabled = $2` with the two values alongside, so a value can never change
/// the statement. Text that must become SQL (an identifier chosen at run time) goes in only
/// through the explicit `\(identifier:)` (quoted) or `\(unescaped:)` (verbatim: trusted text only).
public struct PostgresQuery: Sendable, CustomStringConvertible, ExpressibleByStringInterpolation {
    /// One `$n` parameter: its declared type and text, `nil` for SQL `NULL`.
    public struct Binding: Sendable, Hashable {
        public var type: PostgresDataType
        public var text: String?
    }

    /// The statement text, with `$1`, `$2`, … where the values go.
    public private(set) var sql: String
    public private(set) var bindings: [Binding]
    /// A value that failed to encode (JSON); the query then fails when run, as `encoding`.
    private(set) var encodingError: PostgresError?

    /// A statement built from trusted text, for SQL assembled by code rather than written as a
    /// literal. Never build `sql` from values: bind them with ``bind(_:)`` instead.
    public init(unsafeSQL sql: String) {
        self.sql = sql
        self.bindings = []
    }

    public init(stringLiteral value: String) {
        self.init(unsafeSQL: value)
    }

    public init(stringInterpolation: StringInterpolation) {
        sql = stringInterpolation.sql
        bindings = stringInterpolation.bindings
        encodingError = stringInterpolation.encodingError
    }

    /// Appends a parameter and returns its placeholder (`$3`), for queries built in steps.
    public mutating func bind(_ value: some PostgresEncodable) -> String {
        append(value, to: &bindings, error: &encodingError)
    }

    /// The SQL and how many values are bound; the values themselves are never shown, as they may
    /// be credentials.
    public var description: String {
        bindings.isEmpty ? sql : "\(sql) [\(bindings.count) bound parameter\(bindings.count == 1 ? "" : "s")]"
    }

    /// `"name"` with embedded quotes doubled, safe to place in SQL text as an identifier (a schema
    /// or table name chosen at run time). Identifiers cannot be bound as parameters.
    public static func quoteIdentifier(_ name: String) -> String {
        PostgresTextFormat.quoteIdentifier(name)
    }

    public struct StringInterpolation: StringInterpolationProtocol, Sendable {
        var sql: String
        var bindings: [Binding]
        var encodingError: PostgresError?

        public init(literalCapacity: Int, interpolationCount: Int) {
            sql = ""
            sql.reserveCapacity(literalCapacity + interpolationCount * 3)
            bindings = []
            bindings.reserveCapacity(interpolationCount)
        }

        public mutating func appendLiteral(_ literal: String) {
            sql += literal
        }

        /// Binds `value` as the next parameter.
        public mutating func appendInterpolation(_ value: some PostgresEncodable) {
            sql += append(value, to: &bindings, error: &encodingError)
        }

        /// Binds `value`, or SQL `NULL` when it is `nil`.
        public mutating func appendInterpolation<Value: PostgresEncodable>(_ value: Value?) {
            sql += append(value, to: &bindings, error: &encodingError)
        }

        /// An identifier, quoted (`\(identifier: schema)` → `"t_1f3a"`).
        public mutating func appendInterpolation(identifier: String) {
            sql += PostgresTextFormat.quoteIdentifier(identifier)
        }

        /// Trusted SQL text, inserted verbatim. Never pass a value from a request here.
        public mutating func appendInterpolation(unescaped text: String) {
            sql += text
        }
    }
}

private func append<Value: PostgresEncodable>(
    _ value: Value,
    to bindings: inout [PostgresQuery.Binding],
    error: inout PostgresError?
) -> String {
    let text: String?
    do {
        text = try value.postgresText()
    } catch let failure {
        text = nil
        if error == nil {
            error = PostgresError(
                code: .encoding,
                message: "parameter $\(bindings.count + 1) (\(Value.self)) could not be encoded: \(failure)"
            )
        }
    }
    bindings.append(PostgresQuery.Binding(type: Value.postgresDataType, text: text))
    return "$\(bindings.count)"
}
