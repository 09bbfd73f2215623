import Foundation
import Shared
import TestSupport
import Testing
import Worker

/// Rate limits hold across replicas: two ingress and two worker processes share one limit kept in
/// PostgreSQL. One user far over the limit gets 429s; another user, under it, gets none. What ran
/// is counted from the backend's own record of executions.
@Suite struct RateLimitTests {
    @Test func aUserOverTheLimitGets429sAcrossReplicasAndAnotherUserNone() async throws {
        let events = FileManager.default.temporaryDirectory.appendingPathComponent("limits-\(UUID().uuidString.prefix(8)).jsonl")
        defer { try? FileManager.default.removeItem(at: events) }
        var server = try Fixtures.stdioServer("effects")
        server.arguments += ["--events", events.path]
        server.environment["FIXTURE_SIDE_EFFECTS"] = "1"
        var options = GatewayProcesses.Options(servers: [server], groupGrants: [("Team", "effects")])
        options.ingresses = 2
        options.workers = 2
        try await GatewayProcesses.run(options) { gateway in
            // Every user: 60 calls a minute, at most 5 at once (a bucket of 5, one more each second).
            try await gateway.database.execute(
                "INSERT INTO rate_limits (scope, subject, server_id, requests_per_minute, burst) VALUES ('user', '*', '*', 60, 5)")
            let alice = gateway.token(subject: "alice", groups: ["Team"])
            let bob = gateway.token(subject: "bob", groups: ["Team"])
            // Warm the backend (Bob's first call; his bucket has 5).
            #expect(try await gateway.post("/servers/effects/tools/side_effect", token: bob, json: #"{"id":"bob-0"}"#).status == 200)

            let started = ContinuousClock.now
            let aliceAnswers = try await withThrowingTaskGroup(of: (String, GatewayHarness.Answer).self) { group in
                // Alice: 40 calls at once, far over her bucket, through both ingresses.
                for index in 0..<40 {
                    group.addTask {
                        let id = "alice-\(index)"
                        return (id, try await gateway.post("/servers/effects/tools/side_effect", token: alice, json: #"{"id":"\#(id)"}"#, ingress: index % 2))
                    }
                }
                var answers: [(String, GatewayHarness.Answer)] = []
                for try await answer in group { answers.append(answer) }
                return answers
            }
            let elapsed = started.duration(to: .now)
            // Bob: three calls, well under his own limit, while Alice is limited.
            var bobStatuses: [Int] = []
            for index in 1...3 {
                bobStatuses.append(try await gateway.post("/servers/effects/tools/side_effect", token: bob, json: #"{"id":"bob-\#(index)"}"#, ingress: index % 2).status)
            }
            #expect(bobStatuses == [200, 200, 200])

            let allowed = aliceAnswers.filter { $0.1.status == 200 }
            let limited = aliceAnswers.filter { $0.1.status == 429 }
            #expect(allowed.count + limited.count == 40, "\(aliceAnswers.map { $0.1.status })")
            // The bucket's 5, plus at most one a second while the calls came, plus one for rounding.
            let refill = Int(elapsed.components.seconds) + 1
            #expect(allowed.count >= 5 && allowed.count <= 5 + refill + 1, "allowed \(allowed.count) in \(elapsed)")
            for (_, answer) in limited.prefix(3) {
                #expect(answer.errorCode == "rate_limited")
                #expect(answer.headers["retry-after"].flatMap(Int.init).map { $0 >= 1 } == true, "\(answer.headers)")
                #expect(answer.headers["ratelimit-policy"] == #""user";q=5;w=5"#, "\(answer.headers)")
                #expect(answer.headers["ratelimit"]?.hasPrefix(#""user";r=0;t="#) == true)
                #expect(answer.body["error"]?["mayHaveRun"] == nil)
            }

            // Ground truth: the backend ran exactly the calls answered 200, once each, and none of the 429s.
            let executed = ((try? String(contentsOf: events, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { line -> String? in
                guard let event = try? JSONDecoder().decode(JSONValue.self, from: Data(line.utf8)), event["event"]?.stringValue == "side_effect" else { return nil }
                return event["id"]?.stringValue
            }
            let aliceExecuted = executed.filter { $0.hasPrefix("alice-") }
            #expect(aliceExecuted.count == Set(aliceExecuted).count, "executed twice: \(aliceExecuted)")
            #expect(Set(aliceExecuted) == Set(allowed.map(\.0)))
            #expect(Set(executed.filter { $0.hasPrefix("bob-") }) == ["bob-0", "bob-1", "bob-2", "bob-3"])
            // A refused call is not kept in the ledger: retrying it later is a call of its own.
            let kept = try await gateway.database.query("SELECT count(*) AS n FROM call_executions WHERE tool = 'side_effect' AND caller_sub = 'alice'")
            #expect(try kept[0].decode(Int.self, "n") == allowed.count)
        }
    }

    @Test func aConcurrencyQuotaRefusesTheCallOverItAndLetsTheNextOneIn() async throws {
        var options = GatewayProcesses.Options(servers: [try Fixtures.stdioServer("slow")], groupGrants: [("Team", "slow")])
        options.workers = 2
        try await GatewayProcesses.run(options) { gateway in
            try await gateway.database.execute("INSERT INTO rate_limits (scope, subject, server_id, max_concurrent) VALUES ('user', '*', '*', 2)")
            let alice = gateway.token(subject: "alice", groups: ["Team"])
            #expect(try await gateway.post("/servers/slow/tools/echo", token: alice, json: #"{"text":"warm"}"#).status == 200)
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<2 {
                    group.addTask { try await gateway.post("/servers/slow/tools/sleep", token: alice, json: #"{"seconds":3}"#).status }
                }
                // The third while two run: refused at once.
                try await Task.sleep(for: .seconds(1))
                let third = try await gateway.post("/servers/slow/tools/echo", token: alice, json: #"{"text":"third"}"#)
                #expect(third.status == 429, "\(third.body)")
                #expect(third.headers["ratelimit-policy"] == #""user-concurrency";q=2"#)
                var statuses: [Int] = []
                for try await status in group { statuses.append(status) }
                return statuses
            }
            #expect(statuses == [200, 200])
            #expect(try await gateway.post("/servers/slow/tools/echo", token: alice, json: #"{"text":"after"}"#).status == 200)
        }
    }
}
