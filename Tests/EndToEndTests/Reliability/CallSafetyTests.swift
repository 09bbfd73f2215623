import Foundation
import Shared
import TestSupport
import Testing
import Worker

/// Safe retries and truthful answers, through the real ingress, broker, workers and a backend
/// whose tool records every execution: `Idempotency-Key`, `GET /calls/{callId}`, `X-Call-Id` on
/// every answer, checked `X-Timeout-Ms`, and the minimum start budget.
@Suite struct CallSafetyTests {
    /// The fixture over stdio with the side-effect tool, recording into `events`.
    static func effectsServer(events: String) throws -> ServerRecord {
        var record = try Fixtures.stdioServer("effects")
        record.arguments += ["--events", events]
        record.environment = ["FIXTURE_SIDE_EFFECTS": "1"]
        return record
    }

    static func executions(_ events: String, id: String) -> Int {
        let text = (try? String(contentsOfFile: events, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").filter { $0.contains(#""event": "side_effect""#) && $0.contains(#""id": "\#(id)""#) }.count
    }

    static func withGateway(_ configure: (inout GatewayHarness.Options) -> Void = { _ in }, _ body: @Sendable (GatewayHarness, String) async throws -> Void) async throws {
        let events = FileManager.default.temporaryDirectory.appendingPathComponent("effects-\(UUID().uuidString.prefix(8)).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: events) }
        var options = GatewayHarness.Options(servers: [try effectsServer(events: events)], groupGrants: [("Team", "effects")])
        configure(&options)
        try await GatewayHarness.run(options) { gateway in try await body(gateway, events) }
    }

    @Test func aRetryWithTheSameIdempotencyKeyGetsTheStoredReplyAndNeverRunsTheToolAgain() async throws {
        try await Self.withGateway { gateway, events in
            let token = gateway.token(groups: ["Team"])
            let key = "order-\(UUID().uuidString)"
            let first = try await gateway.post("/servers/effects/tools/side_effect", token: token, json: #"{"id":"a1"}"#, headers: ["Idempotency-Key": key])
            #expect(first.status == 200, "\(first.body)")
            let again = try await gateway.post("/servers/effects/tools/side_effect", token: token, json: #"{"id":"a1"}"#, headers: ["Idempotency-Key": "\"\(key)\""])
            #expect(again.status == 200, "\(again.body)")
            #expect(again.body == first.body)
            #expect(again.headers["x-call-id"] == first.headers["x-call-id"])
            #expect(Self.executions(events, id: "a1") == 1)

            // The same key for other arguments names another call: refused, not run.
            let other = try await gateway.post("/servers/effects/tools/side_effect", token: token, json: #"{"id":"a2"}"#, headers: ["Idempotency-Key": key])
            #expect(other.status == 422, "\(other.body)")
            #expect(other.errorCode == "idempotency_key_reused")
            #expect(Self.executions(events, id: "a2") == 0)

            // Another caller's key is another call, whatever its text.
            let stranger = gateway.token(subject: "bob", groups: ["Team"])
            let theirs = try await gateway.post("/servers/effects/tools/side_effect", token: stranger, json: #"{"id":"a1"}"#, headers: ["Idempotency-Key": key])
            #expect(theirs.status == 200)
            #expect(theirs.headers["x-call-id"] != first.headers["x-call-id"])
            #expect(Self.executions(events, id: "a1") == 2)

            // The caller can read the call back; the other caller cannot.
            let callID = try #require(first.headers["x-call-id"])
            let status = try await gateway.get("/calls/\(callID)", token: token)
            #expect(status.status == 200, "\(status.body)")
            #expect(status.body["state"]?.stringValue == "answered")
            #expect(status.body["result"]?.firstText == "a1")
            #expect(status.body["idempotencyKey"]?.stringValue == key)
            #expect(try await gateway.get("/calls/\(callID)", token: stranger).status == 404)
            #expect(try await gateway.get("/calls/\(UUID().uuidString)", token: token).status == 404)
            let malformed = try await gateway.get("/calls/not-a-uuid", token: token)
            #expect(malformed.status == 400)
            #expect(malformed.errorCode == "bad_request")
        }
    }

    @Test func aRetryWhileTheFirstAttemptRunsWaitsForItsReply() async throws {
        try await Self.withGateway({ $0.workers = 2 }) { gateway, events in
            let token = gateway.token(groups: ["Team"])
            let key = "slow-\(UUID().uuidString)"
            async let first = gateway.post("/servers/effects/tools/side_effect", token: token, json: #"{"id":"s1","seconds":1.5}"#, headers: ["Idempotency-Key": key])
            try await Task.sleep(for: .milliseconds(400))
            let second = try await gateway.post("/servers/effects/tools/side_effect", token: token, json: #"{"id":"s1","seconds":1.5}"#, headers: ["Idempotency-Key": key])
            let original = try await first
            #expect(original.status == 200, "\(original.body)")
            #expect(second.status == 200, "\(second.body)")
            #expect(second.body == original.body)
            #expect(Self.executions(events, id: "s1") == 1)
        }
    }

    @Test func anIdempotencyKeyMakesAnMCPToolsCallSafeToRetryAndTheCallIdIsTheAuditRecords() async throws {
        try await Self.withGateway { gateway, events in
            let token = gateway.token(groups: ["Team"])
            let request = #"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"effects__side_effect","arguments":{"id":"m1"}}}"#
            // JSON answers only (a first call that starts the backend may take longer than MCP_STREAM_AFTER_MS).
            let headers = ["Accept": "application/json", "MCP-Protocol-Version": "2025-06-18", "Idempotency-Key": "mcp-m1"]
            let first = try await gateway.post("/mcp", token: token, json: request, headers: headers)
            let second = try await gateway.post("/mcp", token: token, json: request, headers: headers)
            #expect(first.status == 200, "\(first.body)")
            #expect(first.body["result"]?.firstText == "m1", "\(first.body)")
            #expect(second.body == first.body)
            #expect(Self.executions(events, id: "m1") == 1)
            let callID = try #require(first.headers["x-call-id"])
            #expect(second.headers["x-call-id"] == callID)
            let rows = try await gateway.database.query("SELECT count(*) AS n FROM call_executions WHERE call_id = \(callID)::uuid AND tool = 'side_effect'")
            #expect(try rows[0].decode(Int.self, "n") == 1, "the answer's X-Call-Id is the ledger's (and the audit record's) call id")

            // Without a key, each tools/call is its own call, and its X-Call-Id still names it.
            let plain = try await gateway.post("/mcp", token: token, json: request, headers: headers.filter { $0.key != "Idempotency-Key" })
            let plainID = try #require(plain.headers["x-call-id"])
            let ledger = try await gateway.database.query("SELECT count(*) AS n FROM call_executions WHERE call_id = \(plainID)::uuid")
            #expect(try ledger[0].decode(Int.self, "n") == 1)
        }
    }

    @Test(arguments: ["0", "-5", "abc", "1e3", "2.5", "99999999999999999999", "86400001", ""])
    func anInvalidTimeoutHeaderIsABadRequestAndRunsNothing(value: String) async throws {
        try await Self.withGateway { gateway, events in
            let token = gateway.token(groups: ["Team"])
            let answer = try await gateway.post("/servers/effects/tools/side_effect", token: token, json: #"{"id":"t1"}"#, headers: ["X-Timeout-Ms": value])
            #expect(answer.status == 400, "X-Timeout-Ms '\(value)': \(answer.body)")
            #expect(answer.errorCode == "bad_request")
            #expect(answer.headers["x-call-id"] != nil)
            let mcp = try await gateway.post(
                "/mcp", token: token, json: #"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
                headers: ["Accept": "application/json", "X-Timeout-Ms": value]
            )
            #expect(mcp.status == 400)
            #expect(mcp.body["error"]?["code"]?.int64Value == -32600)
            #expect(Self.executions(events, id: "t1") == 0)
        }
    }

    @Test func anInvalidIdempotencyKeyIsABadRequest() async throws {
        try await Self.withGateway { gateway, events in
            let token = gateway.token(groups: ["Team"])
            for key in [String(repeating: "k", count: 256), "caf\u{e9}"] {
                let answer = try await gateway.post("/servers/effects/tools/side_effect", token: token, json: #"{"id":"k1"}"#, headers: ["Idempotency-Key": key])
                #expect(answer.status == 400, "\(answer.body)")
                #expect(answer.errorCode == "bad_request")
            }
            #expect(Self.executions(events, id: "k1") == 0)
        }
    }

    @Test func everyAnswerCarriesItsCallIdErrorsIncluded() async throws {
        try await Self.withGateway { gateway, _ in
            let token = gateway.token(groups: ["Team"])
            let unknownServer = try await gateway.post("/servers/nope/tools/x", token: token, json: "{}")
            #expect(unknownServer.status == 404)
            #expect(unknownServer.headers["x-call-id"] == unknownServer.body["error"]?["callId"]?.stringValue)
            let unauthenticated = try await gateway.get("/servers", token: nil)
            #expect(unauthenticated.status == 401)
            #expect(unauthenticated.headers["x-call-id"] != nil)
            let noRoute = try await gateway.get("/no/such/route", token: token)
            #expect(noRoute.headers["x-call-id"] != nil)
        }
    }

    /// A call that would reach the backend with less than the minimum budget left does not
    /// start: its caller learns it was not run, and the backend never sees it.
    @Test func aCallWithTooLittleTimeLeftIsNotStarted() async throws {
        // A budget larger than the whole deadline: the worker refuses the call when it is about to
        // start it (after the backend's tool list, however long a loaded machine takes for that).
        try await Self.withGateway({ options in options.worker = { $0.minimumStartBudget = .seconds(60) } }) { gateway, events in
            let token = gateway.token(groups: ["Team"])
            let answer = try await gateway.post("/servers/effects/tools/side_effect", token: token, json: #"{"id":"b1"}"#, headers: ["X-Timeout-Ms": "30000"])
            #expect(answer.status == 504, "\(answer.body)")
            #expect(answer.errorCode == "deadline_exceeded")
            #expect(answer.body["error"]?["mayHaveRun"] == nil)
            #expect(answer.body["error"]?["message"]?.stringValue?.contains("not run") == true)
            #expect(Self.executions(events, id: "b1") == 0)
        }
    }
}
