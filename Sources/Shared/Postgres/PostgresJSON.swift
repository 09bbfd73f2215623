import Foundation

/// A `Codable` value stored as `jsonb`: `"INSERT … VALUES (\(PostgresJSON(arguments)))"` binds
/// the JSON text as a jsonb parameter, and `row.decode(PostgresJSON<Arguments>.self, "col").value`
/// reads it back.
///
/// A wrapper rather than a blanket conformance of `Codable`, so that binding a JSON document is
/// always a visible choice and never an accident of a type happening to be `Encodable`.
public struct PostgresJSON<Value: Sendable>: Sendable {
    public var value: Value

    public init(_ value: Value) { self.value = value }
}

extension PostgresJSON: PostgresEncodable where Value: Encodable {
    public static var postgresDataType: PostgresDataType { .jsonb }

    /// Keys are sorted so that equal values produce equal text (stable checksums, diffs, logs).
    public func postgresText() throws -> String? {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}

extension PostgresJSON: PostgresDecodable where Value: Decodable {
    public init(postgresText text: String, type: PostgresDataType) throws {
        do {
            value = try JSONDecoder().decode(Value.self, from: Data(text.utf8))
        } catch {
            throw PostgresTextFormat.Failure(reason: "the JSON does not match \(Value.self): \(error)")
        }
    }
}

extension PostgresJSON: Equatable where Value: Equatable {}
extension PostgresJSON: Hashable where Value: Hashable {}
