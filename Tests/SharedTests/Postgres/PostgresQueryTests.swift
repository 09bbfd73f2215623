import Foundation
import Testing

@testable import Shared

@Suite struct PostgresQueryTests {
    @Test func interpolatedValuesBecomeNumberedParameters() {
        let id = "github"
        let enabled = true
        let query: PostgresQuery = "SELECT * FROM mcp_servers WHERE id = \(id) AND enabled = \(enabled) LIMIT \(10)"
        #expect(query.sql == "SELECT * FROM mcp_servers WHERE id = $1 AND enabled = $2 LIMIT $3")
        #expect(query.bindings.map(\.text) == ["github", "t", "10"])
        #expect(query.bindings.map(\.type) == [.unspecified, .bool, .int8])
    }

    @Test func hostileTextIsBoundNeverSpliced() {
        let hostile = "'); DROP TABLE mcp_servers; --"
        let query: PostgresQuery = "SELECT 1 WHERE name = \(hostile)"
        #expect(query.sql == "SELECT 1 WHERE name = $1")
        #expect(query.bindings.first?.text == hostile)
    }

    @Test func optionalNilBindsNull() {
        let missing: String? = nil
        let query: PostgresQuery = "UPDATE t SET note = \(missing)"
        #expect(query.sql == "UPDATE t SET note = $1")
        #expect(query.bindings == [PostgresQuery.Binding(type: .unspecified, text: nil)])
    }

    @Test func unescapedAndIdentifierAreTheOnlyWaysToWriteSQL() {
        let schema = "tenant \"a\""
        let query: PostgresQuery = "SET search_path TO \(identifier: schema); SELECT \(unescaped: "now()")"
        #expect(query.sql == "SET search_path TO \"tenant \"\"a\"\"\"; SELECT now()")
        #expect(query.bindings.isEmpty)
        #expect(PostgresQuery.quoteIdentifier("x\"; DROP TABLE y; --") == "\"x\"\"; DROP TABLE y; --\"")
    }

    @Test func descriptionNeverShowsBoundValues() {
        let secret = "s3cr3t-token"
        let query: PostgresQuery = "INSERT INTO credentials (value) VALUES (\(secret))"
        #expect(!query.description.contains(secret))
        #expect(query.description.contains("1 bound parameter"))
    }

    @Test func valuesUseTheirTextInputFormats() throws {
        let uuid = try #require(UUID(uuidString: "6F9619FF-8B86-D011-B42D-00CF4FC964FF"))
        let date = Date(timeIntervalSince1970: 1_709_210_096.789012)
        let query: PostgresQuery = """
            SELECT \(Int32(7)), \(Int64(-9_000_000_000)), \(2.5), \(uuid), \(date), \(Data([0x00, 0xAB, 0xFF])), \
            \(["a", "b,c", "\"q\"", "back\\slash", "NULL", ""]), \(PostgresJSON(["k": 1]))
            """
        #expect(
            query.bindings.map(\.text) == [
                "7", "-9000000000", "2.5", "6f9619ff-8b86-d011-b42d-00cf4fc964ff",
                "2024-02-29 12:34:56.789012+00", "\\x00abff",
                #"{"a","b,c","\"q\"","back\\slash","NULL",""}"#, #"{"k":1}"#,
            ]
        )
        #expect(
            query.bindings.map(\.type) == [.int4, .int8, .float8, .uuid, .timestamptz, .bytea, .textArray, .jsonb]
        )
    }

    @Test func arrayWithNilElementsBindsNullElements() {
        let values: [String?] = ["x", nil]
        let query: PostgresQuery = "SELECT \(values)"
        #expect(query.bindings.first?.text == #"{"x",NULL}"#)
    }

    @Test func specialDoublesUsePostgresSpelling() {
        let query: PostgresQuery = "SELECT \(Double.infinity), \(-Double.infinity), \(Double.nan)"
        #expect(query.bindings.map(\.text) == ["Infinity", "-Infinity", "NaN"])
    }

    @Test func unencodableJSONFailsWhenRunNotWhenWritten() {
        let query: PostgresQuery = "SELECT \(PostgresJSON(Double.nan))"
        #expect(query.encodingError?.code == .encoding)
    }
}

@Suite struct PostgresTextFormatTests {
    @Test(arguments: [
        ("2024-02-29 12:34:56.789012+00", 1_709_210_096.789012),
        ("2024-02-29 18:04:56.789012+05:30", 1_709_210_096.789012),
        ("2024-02-29 09:34:56.789012-03", 1_709_210_096.789012),
        ("1900-01-01 00:19:32+00:19:32", -2_208_988_800.0),
        ("2024-02-29T12:34:56Z", 1_709_210_096.0),
        ("2024-02-29 12:34:56.5", 1_709_210_096.5),
        ("2024-02-29", 1_709_164_800.0),
        ("1970-01-01 00:00:00+00", 0.0),
        ("0001-01-01 00:00:00+00 BC", -62_167_219_200.0),
    ])
    func timestampsParseToTheSameInstantWhateverTheOffset(text: String, epochSeconds: Double) throws {
        let date = try PostgresTextFormat.parseTimestamp(text)
        #expect(abs(date.timeIntervalSince1970 - epochSeconds) < 0.000_001)
    }

    @Test(arguments: [0.0, 1_709_210_096.789012, -2_208_988_800.5, 4_102_444_800.000001, -62_167_219_200.0])
    func timestampsRoundTripToTheMicrosecond(epochSeconds: Double) throws {
        let date = Date(timeIntervalSince1970: epochSeconds)
        let parsed = try PostgresTextFormat.parseTimestamp(PostgresTextFormat.timestamp(date))
        #expect(abs(parsed.timeIntervalSince(date)) < 0.000_001)
    }

    @Test func malformedTimestampIsRefused() {
        #expect(throws: PostgresTextFormat.Failure.self) { try PostgresTextFormat.parseTimestamp("yesterday") }
        #expect(throws: PostgresTextFormat.Failure.self) { try PostgresTextFormat.parseTimestamp("2024-13-01") }
    }

    @Test(arguments: [
        ("{}", [String?]()),
        ("{a,b}", ["a", "b"]),
        (#"{"a b","c\"d","e\\f",NULL,"NULL",""}"#, ["a b", "c\"d", "e\\f", nil, "NULL", ""]),
        ("[0:1]={x,y}", ["x", "y"]),
        (#"{"{braces}",",",日本}"#, ["{braces}", ",", "日本"]),
    ])
    func arrayLiteralsParse(text: String, expected: [String?]) throws {
        #expect(try PostgresTextFormat.parseArray(text) == expected)
    }

    @Test func arrayLiteralRoundTripsAnyElements() throws {
        let elements: [String?] = ["", " padded ", "NULL", nil, "{}", "a,b", "\"", "\\", "'; DROP TABLE x; --", "🧪"]
        #expect(try PostgresTextFormat.parseArray(PostgresTextFormat.arrayLiteral(elements)) == elements)
    }

    @Test func multiDimensionalArraysAreRefused() {
        #expect(throws: PostgresTextFormat.Failure.self) { try PostgresTextFormat.parseArray("{{1,2},{3,4}}") }
    }

    @Test func byteaReadsHexAndEscapeFormats() throws {
        #expect(try PostgresTextFormat.parseBytea("\\x00abff") == Data([0x00, 0xAB, 0xFF]))
        #expect(try PostgresTextFormat.parseBytea("a\\\\b\\000") == Data([0x61, 0x5C, 0x62, 0x00]))
    }
}
