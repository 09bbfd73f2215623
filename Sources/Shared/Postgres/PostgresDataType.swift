/// A PostgreSQL type, by its OID.
///
/// Parameters declare one so that the server does not have to guess (`SELECT $1` with a jsonb
/// value stays jsonb); `.unspecified` leaves the choice to the server, which is what a string
/// wants: it then fits `text`, `varchar`, enums and domains alike. Result columns report theirs so
/// that decoding can tell a `bytea` from a `jsonb` column.
public struct PostgresDataType: Sendable, Hashable, CustomStringConvertible {
    public var oid: UInt32

    public init(oid: UInt32) { self.oid = oid }

    /// OID 0: the server infers the type from the statement.
    public static let unspecified = Self(oid: 0)
    public static let bool = Self(oid: 16)
    public static let bytea = Self(oid: 17)
    public static let int8 = Self(oid: 20)
    public static let int2 = Self(oid: 21)
    public static let int4 = Self(oid: 23)
    public static let text = Self(oid: 25)
    public static let json = Self(oid: 114)
    public static let float4 = Self(oid: 700)
    public static let float8 = Self(oid: 701)
    public static let varchar = Self(oid: 1043)
    public static let timestamp = Self(oid: 1114)
    public static let timestamptz = Self(oid: 1184)
    public static let numeric = Self(oid: 1700)
    public static let uuid = Self(oid: 2950)
    public static let jsonb = Self(oid: 3802)
    public static let boolArray = Self(oid: 1000)
    public static let int2Array = Self(oid: 1005)
    public static let int4Array = Self(oid: 1007)
    public static let textArray = Self(oid: 1009)
    public static let varcharArray = Self(oid: 1015)
    public static let int8Array = Self(oid: 1016)
    public static let float8Array = Self(oid: 1022)
    public static let timestamptzArray = Self(oid: 1185)
    public static let uuidArray = Self(oid: 2951)

    public var description: String {
        switch self {
        case .unspecified: "unspecified"
        case .bool: "bool"
        case .bytea: "bytea"
        case .int8: "int8"
        case .int2: "int2"
        case .int4: "int4"
        case .text: "text"
        case .json: "json"
        case .float4: "float4"
        case .float8: "float8"
        case .varchar: "varchar"
        case .timestamp: "timestamp"
        case .timestamptz: "timestamptz"
        case .numeric: "numeric"
        case .uuid: "uuid"
        case .jsonb: "jsonb"
        case .boolArray: "bool[]"
        case .int2Array: "int2[]"
        case .int4Array: "int4[]"
        case .textArray: "text[]"
        case .varcharArray: "varchar[]"
        case .int8Array: "int8[]"
        case .float8Array: "float8[]"
        case .timestamptzArray: "timestamptz[]"
        case .uuidArray: "uuid[]"
        default: "oid \(oid)"
        }
    }
}
