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
        var message: String?
        var mayHaveRun: Bool
        var callID: String?
        var elapsed: Duration
    }

    /// The fewest calls a fault test makes (`MCPGW_FAULT_CALLS`, default 60): small in CI, larger
    /// by hand. It makes more while the fault lasts, ten times this at most.
    static var calls: Int { ProcessInfo.processInfo.environment["MCPGW_FAULT_CALLS"].flatMap(Int.init) ?? 60 }

    let server: String
    let token: String
    let concurrency: Int
    /// How long each call runs on the backend.
    let toolSeconds: Double
    let post: @Sendable (String, String, String, [String: String]) async throws -> GatewayHarness.Answer

    /// Calls with fresh ids named after `label` (at most `concurrency` at a time, each caller
    /// pausing `pacing` between its calls) from before `fault` starts (once a few are answered)
    /// until it has ended: at least ``calls`` and at most ten times that. Every call carries its
    /// id as its `Idempotency-Key`. Returns every id called and every answer.
    func run(
        label: String, pacing: Duration = .milliseconds(50), fault: @escaping @Sendable () async throws -> Void
    ) async throws -> (ids: [String], answers: [Answer]) {
        let progress = Progress(label: label, minimum: Self.calls, maximum: Self.calls * 10)
        let load = self
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                while progress.answered < max(1, Self.calls / 4) { try await Task.sleep(for: .milliseconds(20)) }
                try await fault()
                progress.faultEnded()
            }
            for _ in 0..<concurrency {
                group.addTask {
                    while let id = progress.nextID() {
                        let answer = await load.call(id)
                        progress.record(answer)
                        try await Task.sleep(for: pacing)
                    }
                }
            }
            try await group.waitForAll()
        }
        return (progress.ids, progress.answers)
    }

    /// The shared state of one load: which ids were handed out, the answers, the fault's end.
    private final class Progress: Sendable {
        private struct State {
            var ids: [String] = []
            var answers: [Answer] = []
            var faultEndedAt: ContinuousClock.Instant?
        }

        private let state = Mutex(State())
        private let label: String
        private let minimum: Int
        private let maximum: Int

        init(label: String, minimum: Int, maximum: Int) {
            self.label = label
            self.minimum = minimum
            self.maximum = maximum
        }

        /// The next id to call, or `nil` once enough were made and the fault ended a second ago.
        func nextID() -> String? {
            state.withLock { state in
                let settled = state.faultEndedAt.map { $0.duration(to: .now) > .seconds(1) } ?? false
                guard state.ids.count < maximum, state.ids.count < minimum || !settled else { return nil }
                let id = "\(label)-\(state.ids.count)-\(UUID().uuidString.prefix(8))"
                state.ids.append(id)
                return id
            }
        }

        func faultEnded() { state.withLock { $0.faultEndedAt = .now } }
        func record(_ answer: Answer) { state.withLock { $0.answers.append(answer) } }
        var answered: Int { state.withLock { $0.answers.count } }
        var answers: [Answer] { state.withLock { $0.answers } }
        var ids: [String] { state.withLock { $0.ids } }
    }

    /// One call; a connection the ingress dropped counts as status 0 (not an answer).
    func call(_ id: String) async -> Answer {
        let started = ContinuousClock.now
        let body = #"{"id":"\#(id)","seconds":\#(toolSeconds)}"#
        do {
            let answer = try await post("/servers/\(server)/tools/side_effect", token, body, ["Idempotency-Key": id, "X-Timeout-Ms": "20000"])
            return Answer(
                id: id, status: answer.status, code: answer.errorCode, message: answer.body["error"]?["message"]?.stringValue,
                mayHaveRun: answer.body["error"]?["mayHaveRun"]?.boolValue == true,
                callID: answer.headers["x-call-id"], elapsed: started.duration(to: .now)
            )
        } catch {
            return Answer(id: id, status: 0, code: "\(error)", message: nil, mayHaveRun: true, callID: nil, elapsed: started.duration(to: .now))
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
            #expect(allowed.contains(answer.status), "\(label): \(answer.id) answered \(answer.status) \(answer.code ?? ""): \(answer.message ?? "")")
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
            // A retry answers what the first attempt came to (a stored error included), or runs a call
            // that never ran: never a second execution.
            #expect([200, 409, 502].contains(retry.status), "\(label) retry of \(retry.id): \(retry.status) \(retry.code ?? ""): \(retry.message ?? "")")
            #expect(after.ran(retry.id) <= 1, "\(label) retry of \(retry.id) ran it again")
            if truthBefore.ran(retry.id) == 1 { #expect(after.ran(retry.id) == 1) }
            if retry.status == 200 { #expect(after.executed[retry.id] == 1) }
        }
    }
}
