import Foundation
import Testing

@testable import Shared

extension ContractTests {
    @Suite struct TraceContextTests {
        static let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

        @Test(arguments: [
            (valid, true),
            ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", true),
            ("00-00000000000000000000000000000001-0000000000000001-ff", true),
            ("", false),
            ("00", false),
            ("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false),  // only version 00
            ("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false),
            ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", false),  // zero trace id
            ("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false),  // zero parent id
            ("00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01", false),  // upper case
            ("00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01", false),  // short trace id
            ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01", false),  // short parent id
            ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1", false),  // short flags
            ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-", false),  // trailing
            ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g", false),  // not hex
            ("00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01", false),  // separators
            (" 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false),  // padding
            ("00-4bf92f3577b34da6a3ce929d0e0e473é-00f067aa0ba902b7-01", false),  // non-ASCII
        ])
        func traceparentIsParsedStrictly(traceparent: String, accepted: Bool) {
            #expect((TraceContext(traceparent: traceparent) != nil) == accepted)
        }

        @Test func partsAreReadable() throws {
            let context = try #require(TraceContext(traceparent: Self.valid))
            #expect(context.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
            #expect(context.parentID == "00f067aa0ba902b7")
            #expect(context.flags == "01")
            #expect(context.isSampled)
            #expect(TraceContext(traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")?.isSampled == false)
        }

        @Test(
            arguments: [
                ("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"),
                ("", nil),
                ("a=b\nc=d", nil),
                (String(repeating: "a", count: 513), nil),
                ("ü=1", nil),
            ] as [(String, String?)]
        )
        func invalidTracestateIsDroppedButParentKept(tracestate: String, kept: String?) throws {
            let context = try #require(TraceContext(traceparent: Self.valid, tracestate: tracestate))
            #expect(context.tracestate == kept)
        }

        @Test func freshContextIsValidAndUnique() throws {
            let first = TraceContext.fresh()
            let second = TraceContext.fresh()
            #expect(TraceContext(traceparent: first.traceparent) == first)
            #expect(first.traceID != second.traceID)
            #expect(first.isSampled)
            #expect(first.tracestate == nil)
        }

        @Test func childKeepsTraceAndStateWithNewParent() throws {
            let parent = try #require(TraceContext(traceparent: Self.valid, tracestate: "congo=t61rcWkgMzE"))
            let child = parent.child()
            #expect(child.traceID == parent.traceID)
            #expect(child.parentID != parent.parentID)
            #expect(child.flags == parent.flags)
            #expect(child.tracestate == parent.tracestate)
            #expect(TraceContext(traceparent: child.traceparent) != nil)
        }

        @Test func headersRoundTrip() throws {
            let context = try #require(TraceContext(traceparent: Self.valid, tracestate: "a=b"))
            #expect(context.headers == ["traceparent": Self.valid, "tracestate": "a=b"])
            #expect(TraceContext(headers: context.headers) == context)
            #expect(TraceContext(headers: [:]) == nil)
            #expect(TraceContext(headers: ["traceparent": "garbage", "tracestate": "a=b"]) == nil)
        }

        @Test func decodingAMalformedTraceparentFails() {
            let json = #"{"traceparent":"00-00000000000000000000000000000000-00f067aa0ba902b7-01"}"#
            #expect(throws: DecodingError.self) { try ContractJSON.decoder.decode(TraceContext.self, from: Data(json.utf8)) }
        }
    }
}
