import Foundation
import Testing

@testable import Shared

extension ContractTests {
    @Suite struct RequestEnvelopeTests {
        @Test func callEnvelopeRoundTripsEveryField() throws {
            let envelope = ContractFixtures.callEnvelope()
            let decoded = try ContractJSON.decoder.decode(RequestEnvelope.self, from: ContractJSON.encoder.encode(envelope))
            #expect(decoded == envelope)
            #expect(decoded.callID == "6f1c2a7e-3d0b-4f7a-9a59-2f4d8c1e0b11")
            #expect(decoded.kind == .callTool)
            #expect(decoded.server == "github")
            #expect(decoded.tool == "search_issues")
            #expect(decoded.arguments["exact"] == .integer(9_007_199_254_740_993))
            #expect(decoded.principal == ContractFixtures.principal)
            #expect(decoded.issuedAt == ContractFixtures.issuedAt)
            #expect(decoded.deadline == ContractFixtures.deadline)
            #expect(decoded.trace == ContractFixtures.trace)
            #expect(decoded.idempotencyKey == "retry-7")
        }

        @Test func listEnvelopeRoundTripsWithoutOptionalFields() throws {
            let envelope = ContractFixtures.listEnvelope()
            let decoded = try ContractJSON.decoder.decode(RequestEnvelope.self, from: ContractJSON.encoder.encode(envelope))
            #expect(decoded == envelope)
            #expect(decoded.tool == nil && decoded.trace == nil && decoded.idempotencyKey == nil)
            #expect(decoded.arguments == .object([:]))
        }

        @Test func nestedObjectFixtureHasTheDepthItSays() {
            #expect(ContractFixtures.nestedObject(depth: 2).nestingDepth == 2)
            #expect(ContractFixtures.nestedObject(depth: 127).nestingDepth == 127)
        }

        @Test func wireFormUsesTheDocumentedKeysAndMillisecondDates() throws {
            let object = try #require(try JSONValue(encoding: ContractFixtures.callEnvelope()).objectValue)
            #expect(
                Set(object.keys) == [
                    "v", "callId", "kind", "server", "tool", "arguments", "principal", "issuedAt", "deadline", "trace",
                    "idempotencyKey",
                ]
            )
            #expect(object["v"] == 1)
            #expect(object["kind"] == "tools/call")
            #expect(object["issuedAt"] == .integer(1_767_225_600_123))
            #expect(object["deadline"] == .integer(1_767_225_630_123))
            #expect(object["trace"]?["traceparent"] == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            let principal = try #require(object["principal"]?.objectValue)
            #expect(
                Set(principal.keys) == [
                    "sub", "oid", "tid", "userName", "groups", "roles", "scopes", "authenticationMethod", "groupsOverage",
                ]
            )
            #expect(principal["authenticationMethod"] == "entra-v2")
        }

        @Test func encodingTheSameEnvelopeTwiceGivesTheSameBytes() throws {
            let envelope = ContractFixtures.callEnvelope()
            #expect(try ContractJSON.encoder.encode(envelope) == ContractJSON.encoder.encode(envelope))
        }

        @Test func datesAreRoundedToWholeMilliseconds() {
            let envelope = RequestEnvelope(
                kind: .listTools,
                server: "time",
                principal: ContractFixtures.principal,
                issuedAt: Date(timeIntervalSince1970: 1_767_225_600.123_4),
                deadline: Date(timeIntervalSince1970: 1_767_225_601.999_6)
            )
            #expect(envelope.issuedAt.millisecondsSince1970 == 1_767_225_600_123)
            #expect(envelope.deadline.millisecondsSince1970 == 1_767_225_602_000)
        }

        @Test func defaultCallIDIsALowercaseUUID() throws {
            let envelope = RequestEnvelope(
                kind: .listTools,
                server: "time",
                principal: ContractFixtures.principal,
                issuedAt: .now,
                deadline: .now
            )
            #expect(UUID(uuidString: envelope.callID) != nil)
            #expect(envelope.callID == envelope.callID.lowercased())
        }

        @Test func principalWithOnlyRequiredClaimsDecodes() throws {
            let json = #"{"sub":"s","tid":"t","authenticationMethod":"local-dev"}"#
            let principal = try ContractJSON.decoder.decode(Principal.self, from: Data(json.utf8))
            #expect(principal == Principal(subject: "s", tenantID: "t", authenticationMethod: .localDev))
            #expect(principal.groups.isEmpty && principal.groupsOverage == nil && principal.objectID == nil)
        }

        @Test func unknownCallKindFailsDecodingNamingTheValue() throws {
            let body = try ContractFixtures.editedBody(ContractFixtures.callEnvelope()) { $0["kind"] = "tools/delete" }
            #expect(CallKind(rawValue: "tools/delete") == nil)
            let error = #expect(throws: DecodingError.self) {
                try ContractJSON.decoder.decode(RequestEnvelope.self, from: Data(body))
            }
            #expect(String(describing: error).contains("tools/delete"))
        }

        @Test func invalidTraceContextIsDroppedNotFatal() throws {
            let body = try ContractFixtures.editedBody(ContractFixtures.callEnvelope()) {
                $0["trace"] = ["traceparent": "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "tracestate": "a=b"]
            }
            let decoded = try ContractJSON.decoder.decode(RequestEnvelope.self, from: Data(body))
            #expect(decoded.trace == nil)
        }

        @Test func headersRepeatRoutingAndTraceFields() {
            let headers = ContractFixtures.callEnvelope().headers
            #expect(headers[ContractHeaders.server] == "github")
            #expect(headers[ContractHeaders.tool] == "search_issues")
            #expect(headers[ContractHeaders.deadline] == "1767225630123")
            #expect(headers[ContractHeaders.traceparent] == ContractFixtures.trace.traceparent)
            #expect(headers[ContractHeaders.tracestate] == "congo=t61rcWkgMzE")
            #expect(ContractFixtures.listEnvelope().headers[ContractHeaders.tool] == nil)
        }

        @Test func remainingTimeAndExpiry() {
            let envelope = ContractFixtures.callEnvelope()
            let now = Date(millisecondsSince1970: 1_767_225_620_123)
            #expect(envelope.remaining(now: now) == .seconds(10))
            #expect(!envelope.isExpired(now: now))
            #expect(envelope.isExpired(now: ContractFixtures.deadline))
        }
    }

    @Suite struct EnvelopeValidationTests {
        typealias Edit = @Sendable (inout RequestEnvelope) -> Void

        static let cases: [(String, Edit, EnvelopeValidationError)] = [
            ("call id not a UUID", { $0.callID = "42" }, .invalidCallID("42")),
            ("tools/call without tool", { $0.tool = nil }, .missingTool),
            ("tools/list with tool", { $0.kind = .listTools }, .unexpectedTool("search_issues")),
            ("arguments an array", { $0.arguments = [1, 2] }, .argumentsNotObject),
            ("arguments a string", { $0.arguments = "x" }, .argumentsNotObject),
            ("arguments null", { $0.arguments = nil }, .argumentsNotObject),
            ("arguments too deep", { $0.arguments = ContractFixtures.nestedObject(depth: 128) }, .argumentsTooDeep),
            ("deadline before issuedAt", { $0.deadline = $0.issuedAt.addingTimeInterval(-0.001) }, .deadlineBeforeIssuedAt),
            ("server upper case", { $0.server = "GitHub" }, .invalidServerID("GitHub")),
            ("server empty", { $0.server = "" }, .invalidServerID("")),
            ("server leading dash", { $0.server = "-github" }, .invalidServerID("-github")),
            ("server leading underscore", { $0.server = "_x" }, .invalidServerID("_x")),
            ("server with dot", { $0.server = "git.hub" }, .invalidServerID("git.hub")),
            ("server with slash", { $0.server = "a/b" }, .invalidServerID("a/b")),
            ("server 64 chars", { $0.server = String(repeating: "a", count: 64) }, .invalidServerID(String(repeating: "a", count: 64))),
            ("server non-ASCII", { $0.server = "gíthub" }, .invalidServerID("gíthub")),
            ("tool empty", { $0.tool = "" }, .invalidToolName("", reason: "is empty")),
            (
                "tool 129 chars", { $0.tool = String(repeating: "t", count: 129) },
                .invalidToolName(String(repeating: "t", count: 129), reason: "is longer than 128 characters")
            ),
            ("tool with newline", { $0.tool = "run\nrm" }, .invalidToolName("run\nrm", reason: "contains a control character")),
            ("tool with NUL", { $0.tool = "a\u{0}" }, .invalidToolName("a\u{0}", reason: "contains a control character")),
            ("tool with DEL", { $0.tool = "a\u{7F}" }, .invalidToolName("a\u{7F}", reason: "contains a control character")),
            ("tool with C1 control", { $0.tool = "a\u{85}" }, .invalidToolName("a\u{85}", reason: "contains a control character")),
            ("idempotency key empty", { $0.idempotencyKey = "" }, .invalidIdempotencyKey),
            ("idempotency key too long", { $0.idempotencyKey = String(repeating: "k", count: 257) }, .invalidIdempotencyKey),
        ]

        @Test(arguments: cases)
        func brokenRuleIsReported(name: String, edit: Edit, expected: EnvelopeValidationError) {
            var envelope = ContractFixtures.callEnvelope()
            edit(&envelope)
            #expect(throws: expected, "\(name)") { try envelope.validate() }
        }

        static let acceptable: [(String, Edit)] = [
            ("the fixture", { _ in }),
            (
                "tools/list without tool",
                {
                    $0.kind = .listTools
                    $0.tool = nil
                }
            ),
            ("server of one character", { $0.server = "a" }),
            ("server of 63 characters", { $0.server = "a" + String(repeating: "-", count: 61) + "_" }),
            ("server with digits first", { $0.server = "0x_mcp-1" }),
            ("tool of 128 characters", { $0.tool = String(repeating: "t", count: 128) }),
            ("tool with spaces, dots and unicode", { $0.tool = "Search issues.v2 – ü" }),
            ("deadline equal to issuedAt", { $0.deadline = $0.issuedAt }),
            ("upper-case UUID", { $0.callID = "6F1C2A7E-3D0B-4F7A-9A59-2F4D8C1E0B11" }),
            ("empty arguments", { $0.arguments = [:] }),
            ("arguments as deep as allowed", { $0.arguments = ContractFixtures.nestedObject(depth: 127) }),
        ]

        @Test(arguments: acceptable)
        func validEnvelopePasses(name: String, edit: Edit) throws {
            var envelope = ContractFixtures.callEnvelope()
            edit(&envelope)
            try envelope.validate()
        }
    }
}
