import Foundation

/// Any JSON value, for the parts of the contract whose shape belongs to MCP and its servers:
/// tool arguments and results.
///
/// Integers and fractions are separate cases so that an integer argument such as an id of
/// 2^53 + 1 reaches the backend exactly: it decodes as ``integer(_:)`` (an `Int64`) and is
/// written back digit for digit. Only numbers with a fraction or exponent, or outside the
/// `Int64` range, become ``double(_:)``. JSON itself does not tell `2` from `2.0`, so a
/// `.double(2.0)` may read back as `.integer(2)`.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case integer(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])
}

extension JSONValue: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else if let value = try? container.decode([String: JSONValue].self) {
            self = .object(value)
        } else {
            throw DecodingError.dataCorruptedError(
                in: container,
                debugDescription: "not a JSON value this contract can represent (a number out of range?)"
            )
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}

// MARK: Reading

extension JSONValue {
    public var isNull: Bool { self == .null }

    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// The integer, also for a `.double` that holds a whole number exactly representable as `Int64`.
    public var int64Value: Int64? {
        switch self {
        case .integer(let value): return value
        case .double(let value): return Int64(exactly: value)
        default: return nil
        }
    }

    /// The number as a `Double` (an `.integer` beyond 2^53 loses precision here).
    public var doubleValue: Double? {
        switch self {
        case .integer(let value): return Double(value)
        case .double(let value): return value
        default: return nil
        }
    }

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    public var objectValue: [String: JSONValue]? {
        if case .object(let value) = self { return value }
        return nil
    }

    public var isObject: Bool { objectValue != nil }

    /// The member `key` of an object; `nil` for a missing key or a value that is not an object.
    public subscript(key: String) -> JSONValue? {
        objectValue?[key]
    }

    /// The element at `index` of an array; `nil` when out of range or not an array.
    public subscript(index: Int) -> JSONValue? {
        guard let array = arrayValue, array.indices.contains(index) else { return nil }
        return array[index]
    }

    /// How deeply arrays and objects nest: 0 for a scalar, 1 for `[]` or `{}`.
    /// Computed without recursion, so it is safe on values of any depth.
    public var nestingDepth: Int {
        var deepest = 0
        var pending: [(JSONValue, Int)] = [(self, 0)]
        while let (value, depth) = pending.popLast() {
            switch value {
            case .array(let elements):
                deepest = max(deepest, depth + 1)
                pending.append(contentsOf: elements.map { ($0, depth + 1) })
            case .object(let members):
                deepest = max(deepest, depth + 1)
                pending.append(contentsOf: members.values.map { ($0, depth + 1) })
            default:
                deepest = max(deepest, depth)
            }
        }
        return deepest
    }
}

// MARK: Converting

extension JSONValue {
    /// Any `Encodable` as a `JSONValue` (through the contract's JSON coding).
    public init(encoding value: some Encodable) throws {
        let data = try ContractJSON.encoder.encode(value)
        self = try ContractJSON.decoder.decode(JSONValue.self, from: data)
    }

    /// This value decoded as `T` (through the contract's JSON coding).
    public func decode<T: Decodable>(as type: T.Type = T.self) throws -> T {
        let data = try ContractJSON.encoder.encode(self)
        return try ContractJSON.decoder.decode(T.self, from: data)
    }
}

// MARK: Literals

extension JSONValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int64) { self = .integer(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}

extension JSONValue: CustomStringConvertible {
    /// Compact JSON text, for logs and test failures.
    public var description: String {
        guard let data = try? ContractJSON.encoder.encode(self) else { return "<unencodable JSON value>" }
        return String(decoding: data, as: UTF8.self)
    }
}
