import Foundation
import NIOCore
import Shared
import Synchronization
import TestSupport
import Testing
import Worker

/// The distributed engine for real: a three-node RabbitMQ cluster on this machine, the server's
/// quorum queue replicated on all three, and the node leading it killed (`kill -9`) while calls
/// run. The fixture's events file, which the gateway does not control, says what ran and how often.
///
/// Opt-in (`MCPGW_CLUSTER_TESTS=1 scripts/test.sh --filter ClusterFailover`): on a loaded
/// machine the cluster sometimes stays unusable for minutes after the kill (docs/reliability.md),
/// which a CI run must not depend on until that is understood.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["MCPGW_CLUSTER_TESTS"] == "1"))
struct ClusterFailoverTests {
    static let calls = 150
    static let lanes = 8
    static let killAfterStarted = 40
    static let deadlineMilliseconds = 15_000

    @Test func killingTheQueueLeaderUnderLoadAnswersEveryCallAndRunsNoneTwice() async throws {
        let clock = ContinuousClock()
        let begin = clock.now
        let cluster = try await BrokerCluster.start("e2e-cluster")
        print("cluster failover: three nodes up after \((clock.now - begin).components.seconds) s")
        let events = FileManager.default.temporaryDirectory.appendingPathComponent("cluster-failover-\(UUID().uuidString.prefix(8)).jsonl").path
        do {
            try await failover(cluster, events: events)
        } catch {
            await cluster.destroy()
            try? FileManager.default.removeItem(atPath: events)
            throw error
        }
        await cluster.destroy()
        try? FileManager.default.removeItem(atPath: events)
    }

    private func failover(_ cluster: BrokerCluster, events: String) async throws {
        var server = try Fixtures.stdioServer("fx", timeoutMilliseconds: 10_000)
        server.arguments += ["--events", events]
        server.environment = ["FIXTURE_SIDE_EFFECTS": "1"]
        var options = GatewayHarness.Options(workers: 2, servers: [server], groupGrants: [("Team", "fx")])
        options.amqpURL = cluster.url
        options.amqpAddresses = cluster.addresses
        try await GatewayHarness.run(options) { gateway in
            let token = gateway.token(groups: ["Team"])
            let queue = gateway.topology.queue(forServer: "fx")
            #expect(try await cluster.members(of: queue) == [1, 2, 3], "the server's quorum queue is not replicated on all three nodes")
            let leader = try await cluster.leader(of: queue)
            let killed = AMQPAddress(host: "127.0.0.1", port: cluster.port(ofNode: leader))
            print("cluster failover: leader of \(queue) is node \(leader) (\(killed)); clients on \(Self.addresses(gateway).map { $0?.description ?? "none" })")

            let tally = Tally()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    let due = await MCPTestEnvironment.eventually(within: .seconds(60)) { tally.started.load(ordering: .relaxed) >= Self.killAfterStarted }
                    #expect(due, "the calls did not get going")
                    try await cluster.kill(node: leader)
                    let startedBefore = tally.started.load(ordering: .relaxed)
                    print("cluster failover: node \(leader) killed with \(startedBefore) of \(Self.calls) calls started")
                    #expect(startedBefore < Self.calls, "every call had started before the kill: none ran across it")
                }
                for _ in 0..<Self.lanes {
                    group.addTask {
                        while true {
                            let index = tally.next.wrappingAdd(1, ordering: .relaxed).oldValue
                            guard index < Self.calls else { return }
                            tally.started.wrappingAdd(1, ordering: .relaxed)
                            let outcome = await Self.call(gateway, token: token, id: "call-\(index)")
                            tally.record(outcome)
                            // A client told to come back later (503) pauses before its next call.
                            if outcome.status != 200 { try await Task.sleep(for: .seconds(1)) }
                        }
                    }
                }
                try await group.waitForAll()
            }

            // Serving again, with node `leader` still dead and nothing restarted.
            let back = try await eventually(timeout: .seconds(120)) { () -> Outcome? in
                let outcome = await Self.call(gateway, token: token, id: "after-\(tally.probes.wrappingAdd(1, ordering: .relaxed).oldValue)")
                tally.record(outcome)
                return outcome.status == 200 ? outcome : nil
            }
            #expect(back.text == back.id)
            // Every connection moves to a live node by itself (a publisher that had nothing to
            // send may still be in its reconnect backoff when the first 200 comes back).
            let moved = try? await eventually(timeout: .seconds(60)) { () -> [AMQPAddress?]? in
                let now = Self.addresses(gateway)
                return now.allSatisfy { $0 != nil && $0 != killed } ? now : nil
            }
            print("cluster failover: after the kill, clients on \((moved ?? Self.addresses(gateway)).map { $0?.description ?? "none" })")
            #expect(moved != nil, "a connection is still on the killed node or down: \(Self.addresses(gateway))")

            let ledger = try await Self.groundTruth(events, queue: queue, gateway: gateway)
            let outcomes = tally.outcomes.withLock { $0 }
            Self.check(outcomes, against: ledger)

            // A retry with the same Idempotency-Key never runs a call again.
            for outcome in outcomes.values where outcome.status != 200 {
                let retry = await Self.call(gateway, token: token, id: outcome.id)
                #expect([200, 409, 502].contains(retry.status ?? 0), "retry of \(outcome.id): \(retry.status ?? 0) \(retry.code ?? "")")
            }
            let afterRetries = try await Self.groundTruth(events, queue: queue, gateway: gateway)
            for (id, runs) in afterRetries { #expect(runs.started <= 1, "\(id) ran again on a retry") }

            // Every executed call has one outcome record of an attempt that ran it (read through a live node).
            var truth = FaultLoad.GroundTruth([])
            for (id, runs) in afterRetries { truth.started[id] = runs.started; truth.executed[id] = runs.finished }
            let live = cluster.port(ofNode: leader == 1 ? 2 : 1)
            var callIDs: [String: String] = [:]
            for outcome in outcomes.values { if let callID = outcome.callID { callIDs[outcome.id] = callID } }
            let records = try await AuditOutcomes.readSettled(
                stream: gateway.topology.auditStream, amqpURL: "amqp://guest:guest@127.0.0.1:\(live)/%2f", callIDs: callIDs, truth: truth
            )
            AuditOutcomes.check(records, callIDs: callIDs, truth: truth, label: "cluster failover")

            // The killed node comes back into the cluster (its replica catches up) while the gateway serves on.
            try await cluster.startNode(leader)
            let rejoined = await Self.call(gateway, token: token, id: "rejoined")
            #expect(rejoined.status == 200, "\(rejoined)")
        }
    }

    // MARK: Calls

    struct Outcome: Sendable {
        var id: String
        /// `nil`: no HTTP answer within the deadline and a grace (a hang).
        var status: Int?
        var code: String?
        var message: String?
        var text: String?
        var failure: String?
        /// The answer's own `mayHaveRun` (docs/reliability.md): every other error answer says the call did not run.
        var mayHaveRun = false
        var callID: String?

        /// An error answer in the gateway's shape: `{"error": {"code", "message", ...}}`.
        var hasErrorShape: Bool { code != nil && message != nil }

    }

    final class Tally: Sendable {
        let next = Atomic<Int>(0)
        let started = Atomic<Int>(0)
        let probes = Atomic<Int>(0)
        let outcomes = Mutex<[String: Outcome]>([:])

        func record(_ outcome: Outcome) {
            outcomes.withLock { $0[outcome.id] = outcome }
        }
    }

    static func call(_ gateway: GatewayHarness, token: String, id: String) async -> Outcome {
        do {
            let answer = try await gateway.post(
                "/servers/fx/tools/side_effect", token: token, json: #"{"id":"\#(id)","seconds":0.05}"#,
                headers: ["X-Timeout-Ms": "\(deadlineMilliseconds)", "Idempotency-Key": id], timeout: .milliseconds(Int64(deadlineMilliseconds) + 30_000)
            )
            return Outcome(
                id: id, status: answer.status, code: answer.errorCode, message: answer.body["error"]?["message"]?.stringValue,
                text: answer.body.firstText, mayHaveRun: answer.body["error"]?["mayHaveRun"]?.boolValue == true,
                callID: answer.headers["x-call-id"]
            )
        } catch {
            return Outcome(id: id, status: nil, failure: "\(error)")
        }
    }

    static func addresses(_ gateway: GatewayHarness) -> [AMQPAddress?] {
        [gateway.ingressAMQP.status.address] + gateway.workers.flatMap { [$0.components.consumer.status.address, $0.components.publisher.status.address] }
    }

    // MARK: Ground truth

    /// Executions per call id, from the events file, once the queue is empty and the file has
    /// stopped growing (redeliveries of the killed node's unacked requests are over).
    static func groundTruth(_ path: String, queue: String, gateway: GatewayHarness) async throws -> [String: (started: Int, finished: Int)] {
        var last = -1
        var quietRounds = 0
        var rounds = 0
        while quietRounds < 6 && rounds < 60 {
            rounds += 1
            try await Task.sleep(for: .milliseconds(500))
            let size = FileManager.default.contents(atPath: path)?.count ?? 0
            let ready = (try? await gateway.ingressAMQP.queueStatus(queue).messages) ?? 1
            quietRounds = size == last && ready == 0 ? quietRounds + 1 : 0
            last = size
        }
        #expect(quietRounds >= 6, "the events file or the queue did not settle")
        var ledger: [String: (started: Int, finished: Int)] = [:]
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        for line in text.split(separator: "\n") {
            guard let event = try? JSONDecoder().decode(JSONValue.self, from: Data(line.utf8)), let id = event["id"]?.stringValue else { continue }
            switch event["event"]?.stringValue {
            case "side_effect_started": ledger[id, default: (0, 0)].started += 1
            case "side_effect": ledger[id, default: (0, 0)].finished += 1
            default: continue
            }
        }
        return ledger
    }

    static func check(_ outcomes: [String: Outcome], against ledger: [String: (started: Int, finished: Int)]) {
        var byStatus: [String: Int] = [:]
        var once = 0, twice = 0, never = 0, unsure = 0, unsureRan = 0
        for outcome in outcomes.values {
            let runs = ledger[outcome.id]?.started ?? 0
            let answer = outcome.status.map { status in outcome.code.map { "\(status) \($0)" } ?? "\(status)" } ?? "no answer"
            byStatus[answer, default: 0] += 1
            switch runs {
            case 0: never += 1
            case 1: once += 1
            default: twice += 1
            }
            #expect(outcome.status != nil, "\(outcome.id) got no answer: \(outcome.failure ?? "")")
            #expect(runs <= 1, "\(outcome.id) ran \(runs) times (answer \(outcome.status ?? 0))")
            guard let status = outcome.status else { continue }
            if status == 200 {
                #expect(runs == 1 && ledger[outcome.id]?.finished == 1, "\(outcome.id) answered 200 but ran \(runs) times")
                #expect(outcome.text == outcome.id)
                continue
            }
            #expect([409, 502, 503, 504].contains(status) && outcome.hasErrorShape, "\(outcome.id): unexpected answer \(status) \(outcome.code ?? "") \(outcome.message ?? "")")
            if outcome.mayHaveRun {
                unsure += 1
                if runs > 0 { unsureRan += 1 }
            } else {
                #expect(runs == 0, "\(outcome.id) answered \(status) '\(outcome.message ?? "")' (not run) but ran \(runs) times")
            }
        }
        let stray = Set(ledger.keys).subtracting(outcomes.keys)
        #expect(stray.isEmpty, "executions of ids never sent: \(stray.sorted())")
        let statuses = byStatus.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
        print("cluster failover: \(outcomes.count) calls answered by status [\(statuses)]; executed once \(once), twice or more \(twice), never \(never); answers admitting an unknown outcome \(unsure) (of which ran: \(unsureRan))")
    }
}
