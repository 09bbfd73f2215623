import Testing
@testable import Shared

@Suite struct EnvironmentReaderTests {
    @Test func malformedNumberNamesTheVariable() throws {
        let reader = EnvironmentReader(["AMQP_HEARTBEAT": "soon"])
        #expect(throws: ConfigurationError(variable: "AMQP_HEARTBEAT", reason: "must be a whole number, got 'soon'")) {
            try reader.int("AMQP_HEARTBEAT", default: 30)
        }
    }

    @Test func outOfRangeNumberIsRefused() {
        let reader = EnvironmentReader(["POOL": "0"])
        #expect(throws: ConfigurationError.self) { try reader.int("POOL", default: 4, range: 1...64) }
    }

    @Test func emptyValueMeansUnset() throws {
        let reader = EnvironmentReader(["A": ""])
        #expect(reader.string("A") == nil)
        #expect(try reader.int("A", default: 7) == 7)
    }

    @Test(arguments: [("true", true), ("0", false), ("Yes", true), ("off", false)])
    func booleansParse(raw: String, expected: Bool) throws {
        #expect(try EnvironmentReader(["B": raw]).bool("B", default: !expected) == expected)
    }
}
