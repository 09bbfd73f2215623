import Foundation
import Testing

@testable import Shared

extension ContractTests {
    @Suite struct ContractHeadersTests {
        @Test func headerNamesAreTheContractsOwn() {
            #expect(ContractHeaders.signature == "x-signature")
            #expect(ContractHeaders.signatureKeyID == "x-signature-key-id")
            #expect(ContractHeaders.deadline == "x-deadline-ms")
            #expect(ContractHeaders.traceparent == "traceparent")
            #expect(ContractHeaders.tracestate == "tracestate")
            #expect(ContractHeaders.server == "x-mcp-server")
            #expect(ContractHeaders.tool == "x-mcp-tool")
        }

        static let now = Date(millisecondsSince1970: 1_767_225_600_000)

        @Test(arguments: [
            (30_000.0, "30000"),
            (1.0, "1"),
            (0.9, "1"),  // under one millisecond still gets one
            (1.9, "1"),  // rounded down: never outlive the deadline
            (0.0, "1"),
            (-5_000.0, "1"),  // already past
            (86_400_000.0 * 365, "2147483647"),  // capped
        ])
        func expirationIsMillisecondsLeftAtLeastOne(millisecondsLeft: Double, expected: String) {
            let deadline = Self.now.addingTimeInterval(millisecondsLeft / 1000)
            #expect(ContractHeaders.expiration(deadline: deadline, now: Self.now) == expected)
        }

        @Test func deadlineHeaderIsRead() {
            #expect(ContractHeaders.deadline(in: ["x-deadline-ms": "1767225630123"]) == Date(millisecondsSince1970: 1_767_225_630_123))
            #expect(ContractHeaders.deadline(in: ["x-deadline-ms": "soon"]) == nil)
            #expect(ContractHeaders.deadline(in: [:]) == nil)
        }

        @Test(arguments: [Int64(0), 1, 1_767_225_600_123, -1_000, 253_402_300_799_999])
        func millisecondDatesRoundTripExactly(milliseconds: Int64) {
            #expect(Date(millisecondsSince1970: milliseconds).millisecondsSince1970 == milliseconds)
        }
    }
}
