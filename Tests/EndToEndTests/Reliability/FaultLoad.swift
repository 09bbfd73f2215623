import Foundation
import Shared
import Synchronization
import TestSupport
import Testing

/// A bounded load of side-effecting calls with unique ids, made while a fault is injected, and
/// the checks of what became of each against ground truth the gateway does not control: the
/// backend's own record of every execution (the fixture's `side_effect` tool and events file).
struct FaultLoad: Sendable {
    /// One call as its caller saw it.
    struct Answer: Sendable {
        var id: String
        var status: Int
        var code: String?
        var mayHaveRun: Bool
        var callID: String?
        var elapsed: Duration
    }

    /// How many calls a fault test makes (`MCPGW_FAULT_CALLS`, default 60): small in CI, larger by hand.
    static var calls: Int { ProcessInfo.processInfo.environment["MCPGW_FAULT_CALLS"].flatMap(Int.init) ?? 60 }

    let server: String
    let token: String
    let concurrency: Int
    /// How long each call runs on the backend.
    let toolSeconds: Double
    let post: @Sendable (String, String, String, [String: String]) async throws -> GatewayHarness.Answer

    /// Calls `ids` (at most `concurrency` at a time); once a quarter of them are answered,
    /// runs `fault` alongside. Every call carries its id as its `Idempotency-Key`.
    func run(ids: [String], fault: @escaping @Sendable () async throws -> Void) async throws -> [Answer] {
        let progress = Progress()
        let load = self
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                while progress.answered < max(1, ids.count / 4) { try await Task.sleep(for: .milliseconds(20)) }
                try await fault()
            }
            for _ in 0..<concurrency {
                group.addTask {
                    while let index = progress.take(below: ids.count) {
                        let answer = await load.call(ids[index])
                        progress.record(answer)
                        // A refused call comes back at once; pace the load so it spans the fault.
                        if answer.status != 200 { try await Task.sleep(for: .milliseconds(100)) }
                    }
                }
            }
            try await group.waitForAll()
        }
        return progress.answers
    }

    /// The shared state of one load: the next id to call and the answers so far.
    private final class Progress: Sendable {
        private let state = Mutex<(next: Int, answers: [Answer])>((0, []))

        func take(below count: Int) -> Int? {
            state.withLock { state in
                guard state.next < count else { return nil }
                defer { state.next += 1 }
                return state.next
            }
        }

        func record(_ answer: Answer) { state.withLock { $0.answers.append(answer) } }
        var answered: Int { state.withLock { $0.answers.count } }
        var answers: [Answer] { state.withLock { $0.answers } }
    }

    /// One call; a connection the ingress dropped counts as status 0 (not an answer).
    func call(_ id: String) async -> Answer {
        let started = ContinuousClock.now
        let body = #"{"id":"\#(id)","seconds":\#(toolSeconds)}"#
        do {
            let answer = try await post("/servers/\(server)/tools/side_effect", token, body, ["Idempotency-Key": id, "X-Timeout-Ms": "20000"])
            return Answer(
                id: id, status: answer.status, code: answer.errorCode, mayHaveRun: answer.body["error"]?["mayHaveRun"]?.boolValue == true,
                callID: answer.headers["x-call-id"], elapsed: started.duration(to: .now)
            )
        } catch {
            return Answer(id: id, status: 0, code: "\(error)", mayHaveRun: true, callID: nil, elapsed: started.duration(to: .now))
        }
    }

    /// How many times the backend started and finished each id.
    struct GroundTruth {
        var started: [String: Int] = [:]
        var executed: [String: Int] = [:]

        init(_ events: [JSONValue]) {
            for event in events {
                guard let id = event["id"]?.stringValue else { continue }
                switch event["event"]?.stringValue {
                case "side_effect_started": started[id, default: 0] += 1
                case "side_effect": executed[id, default: 0] += 1
                default: break
                }
            }
        }

        func ran(_ id: String) -> Int { max(started[id] ?? 0, executed[id] ?? 0) }
    }

    /// The promises, checked from ground truth: every call answered; none run twice; every 200
    /// run exactly once; every answer that does not say "may have run" truly not run; every
    /// status one of `allowed`. Prints the counts.
    static func check(_ answers: [Answer], ids: [String], truth: GroundTruth, allowed: Set<Int>, label: String) {
        let byStatus = Dictionary(grouping: answers, by: \.status).mapValues(\.count)
        let twice = ids.filter { truth.ran($0) > 1 }
        let once = ids.filter { truth.ran($0) == 1 }.count
        let never = ids.filter { truth.ran($0) == 0 }.count
        print(
            "\(label): \(answers.count) answered of \(ids.count); by status \(byStatus.sorted { $0.key < $1.key }); executed once \(once), twice \(twice.count), never \(never)"
        )
        #expect(answers.count == ids.count, "\(label): every call is answered")
        #expect(Set(answers.map(\.id)) == Set(ids))
        #expect(twice.isEmpty, "\(label): executed twice: \(twice)")
        for answer in answers {
            #expect(allowed.contains(answer.status), "\(label): \(answer.id) answered \(answer.status) \(answer.code ?? "")")
            if answer.status == 200 {
                #expect(truth.executed[answer.id] == 1, "\(label): \(answer.id) answered 200 but executed \(truth.executed[answer.id] ?? 0) times")
            } else if !answer.mayHaveRun {
                #expect(truth.ran(answer.id) == 0, "\(label): \(answer.id) answered \(answer.status) \(answer.code ?? "") as not run, but it ran")
            }
            if answer.code == "outcome_unknown" { #expect(answer.mayHaveRun) }
        }
    }

    /// Retries every call that did not get a 200, with its `Idempotency-Key`: a call that ran is
    /// never run again (the retry answers from the ledger, or says the outcome is unknown); a
    /// call that never ran now runs once.
    func retryFailures(_ answers: [Answer], truthBefore: GroundTruth, events: () -> [JSONValue], label: String) async throws {
        let failed = answers.filter { $0.status != 200 }
        var retried: [Answer] = []
        for answer in failed { retried.append(await call(answer.id)) }
        let after = GroundTruth(events())
        let codes = Dictionary(grouping: retried, by: { "\($0.status) \($0.code ?? "")" }).mapValues(\.count)
        print("\(label) retries: \(retried.count) with the same Idempotency-Key: \(codes.sorted { $0.key < $1.key })")
        for retry in retried {
            #expect([200, 409].contains(retry.status), "\(label) retry of \(retry.id): \(retry.status) \(retry.code ?? "")")
            #expect(after.ran(retry.id) <= 1, "\(label) retry of \(retry.id) ran it again")
            if truthBefore.ran(retry.id) == 1 { #expect(after.ran(retry.id) == 1) }
            if retry.status == 200 { #expect(after.executed[retry.id] == 1) }
        }
    }
}
