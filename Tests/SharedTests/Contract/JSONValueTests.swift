import Foundation
import Testing

@testable import Shared

extension ContractTests {
    @Suite struct JSONValueTests {
        private func roundTrip(_ value: JSONValue) throws -> JSONValue {
            try ContractJSON.decoder.decode(JSONValue.self, from: ContractJSON.encoder.encode(value))
        }

        private func parse(_ text: String) throws -> JSONValue {
            try ContractJSON.decoder.decode(JSONValue.self, from: Data(text.utf8))
        }

        @Test func integerBeyondDoublePrecisionStaysExact() throws {
            let exact: Int64 = 9_007_199_254_740_993  // 2^53 + 1: no Double holds it
            let parsed = try parse("{\"id\":9007199254740993}")
            #expect(parsed["id"] == .integer(exact))
            let text = String(decoding: try ContractJSON.encoder.encode(parsed), as: UTF8.self)
            #expect(text == "{\"id\":9007199254740993}")
        }

        @Test(arguments: [Int64.max, Int64.min, 0, -1, 9_007_199_254_740_993, -9_007_199_254_740_993])
        func integerExtremesRoundTripExactly(value: Int64) throws {
            #expect(try roundTrip(.integer(value)) == .integer(value))
            #expect(try parse(String(value)) == .integer(value))
        }

        @Test(arguments: [
            ("1.5", JSONValue.double(1.5)),
            ("-0.25", .double(-0.25)),
            ("6.02e23", .double(6.02e23)),
            ("true", .bool(true)),
            ("false", .bool(false)),
            ("null", .null),
            ("\"x\"", .string("x")),
            ("\"\\u00e9\\n\"", .string("é\n")),
            ("[]", .array([])),
            ("{}", .object([:])),
        ])
        func scalarsAndEmptyContainersParse(text: String, expected: JSONValue) throws {
            #expect(try parse(text) == expected)
        }

        @Test func booleansAreNotNumbers() throws {
            #expect(try parse("[true, 1, 0, false]") == [true, 1, 0, false])
        }

        @Test func integerOutsideInt64BecomesDouble() throws {
            let value = try parse("123456789012345678901234567890")
            #expect(value == .double(1.2345678901234568e29))
        }

        @Test func nestedStructuresRoundTrip() throws {
            let value: JSONValue = [
                "content": [
                    ["type": "text", "text": "hello", "annotations": ["priority": 0.5]],
                    ["type": "resource", "resource": ["uri": "file:///a/b", "mimeType": nil]],
                ],
                "structuredContent": ["rows": [[1, 2, 3], [], [["deep": [true, false, nil]]]]],
                "isError": false,
                "count": 9_007_199_254_740_993,
            ]
            #expect(try roundTrip(value) == value)
            #expect(value.nestingDepth == 6)
        }

        @Test func helpersReadMembers() {
            let value: JSONValue = ["a": [10, "x", 2.5], "b": ["c": true], "n": nil]
            #expect(value["a"]?[0]?.int64Value == 10)
            #expect(value["a"]?[1]?.stringValue == "x")
            #expect(value["a"]?[2]?.doubleValue == 2.5)
            #expect(value["a"]?[2]?.int64Value == nil)
            #expect(value["a"]?[3] == nil)
            #expect(value["b"]?["c"]?.boolValue == true)
            #expect(value["n"]?.isNull == true)
            #expect(value["missing"] == nil)
            #expect(value.isObject)
            #expect(value["a"]?.arrayValue?.count == 3)
            #expect(JSONValue.double(4).int64Value == 4)
            #expect(JSONValue.string("1").int64Value == nil)
        }

        @Test func convertsToAndFromCodableTypes() throws {
            struct Point: Codable, Equatable {
                var x: Int
                var label: String
            }
            let value = try JSONValue(encoding: Point(x: 3, label: "p"))
            #expect(value == ["x": 3, "label": "p"])
            #expect(try value.decode(as: Point.self) == Point(x: 3, label: "p"))
        }

        @Test func descriptionIsCompactJSON() {
            #expect((["b": [1, "two"], "a": nil] as JSONValue).description == "{\"a\":null,\"b\":[1,\"two\"]}")
        }

        @Test func nestingDepthOfAVeryDeepValueDoesNotRecurse() {
            var value: JSONValue = .null
            for _ in 0..<10_000 { value = .array([value]) }
            #expect(value.nestingDepth == 10_000)
        }
    }
}
