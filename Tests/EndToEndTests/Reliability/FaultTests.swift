import Foundation
import Shared
import TestSupport
import Testing
import Worker

/// The gateway's promises under the faults production lives with, proven with the real
/// executables (`mcp-ingress`, `mcp-worker`), a real broker and database, and a streamable-HTTP
/// backend whose tool records every execution: a bounded load of calls with unique ids runs
/// while one fault is injected, then every answer is checked against the backend's record
/// (``FaultLoad/check(_:ids:truth:allowed:label:)``), every call that did not get a 200 is
/// retried with its `Idempotency-Key`, and every executed call must have exactly one outcome
/// on the audit stream. docs/reliability.md describes the guarantees and the figures.
@Suite(.serialized) struct FaultTests {
    static let server = "effects"

    /// The backend and the gateway around it; `body` gets the gateway, the backend and the load.
    static func withGateway(
        amqpURL: String? = nil, databaseURL: String? = nil, workers: Int = 2,
        _ body: @Sendable (GatewayProcesses, FixtureServer, FaultLoad) async throws -> Void
    ) async throws {
        let backend = try FixtureServer(.streamableHTTPJSON, environment: ["FIXTURE_SIDE_EFFECTS": "1"])
        try await backend.start()
        do {
            var options = GatewayProcesses.Options()
            options.workers = workers
            options.amqpURL = amqpURL
            options.databaseURL = databaseURL
            options.servers = [
                ServerRecord(id: server, displayName: "Side effects", transport: .streamableHTTP, url: "http://127.0.0.1:\(backend.port)/mcp")
            ]
            options.groupGrants = [("Team", server)]
            try await GatewayProcesses.run(options) { gateway in
                let token = gateway.token(groups: ["Team"])
                let load = FaultLoad(server: server, token: token, concurrency: 6, toolSeconds: 0.05) { path, token, json, headers in
                    try await gateway.post(path, token: token, json: json, headers: headers)
                }
                // Warm up: the backend session is open and the catalog known before the load.
                _ = await load.call("warm-\(UUID().uuidString)")
                try await body(gateway, backend, load)
            }
        } catch {
            await backend.stop()
            throw error
        }
        await backend.stop()
    }

    /// Every worker restarted in turn with SIGTERM (a rolling deploy, a scale-in) under load:
    /// in-flight calls finish on the stopping worker and are answered; no call fails.
    @Test func aRollingRestartOfEveryWorkerFailsNoCall() async throws {
        try await Self.withGateway { gateway, backend, load in
            let (ids, answers) = try await load.run(label: "rolling") {
                for index in 0..<2 {
                    let status = try await gateway.stopWorker(index, signal: SIGTERM)
                    #expect(status == 0, "worker-\(index) exited with \(status) after SIGTERM")
                    try await gateway.startWorker(index)
                }
            }
            let truth = FaultLoad.GroundTruth(backend.events())
            FaultLoad.check(answers, ids: ids, truth: truth, allowed: [200], label: "SIGTERM rolling restart")
            #expect(gateway.log("worker-0").contains("Stopped consuming"))
            let outcomes = try await AuditOutcomes.read(stream: gateway.topology.auditStream, amqpURL: gateway.amqpURL)
            AuditOutcomes.check(outcomes, callIDs: Self.callIDs(answers), truth: truth, label: "SIGTERM rolling restart")
        }
    }

    /// The ingress stopped with SIGTERM while calls run: each of them is answered before it
    /// exits (within `INGRESS_SHUTDOWN_GRACE_MS`), and it exits cleanly.
    @Test func anIngressStoppedWithSIGTERMAnswersTheCallsItHolds() async throws {
        try await Self.withGateway { gateway, backend, load in
            let ids = (0..<6).map { "ingress-term-\($0)-\(UUID().uuidString.prefix(8))" }
            let slow = FaultLoad(server: load.server, token: load.token, concurrency: 1, toolSeconds: 2, post: load.post)
            let answers = try await withThrowingTaskGroup(of: FaultLoad.Answer.self) { group in
                for id in ids { group.addTask { await slow.call(id) } }
                try await Task.sleep(for: .milliseconds(700))
                let status = try await gateway.stopIngress(signal: SIGTERM)
                #expect(status == 0, "the ingress exited with \(status) after SIGTERM")
                var answers: [FaultLoad.Answer] = []
                for try await answer in group { answers.append(answer) }
                return answers
            }
            let truth = FaultLoad.GroundTruth(backend.events())
            FaultLoad.check(answers, ids: ids, truth: truth, allowed: [200], label: "ingress SIGTERM")
        }
    }

    /// A worker killed with SIGKILL under load: its calls are answered truthfully (a result, or
    /// `outcome_unknown` when it may have run), none runs twice, and a retry never runs one again.
    @Test func aKilledWorkersCallsAreAnsweredTruthfullyAndNeverRunTwice() async throws {
        try await Self.withGateway { gateway, backend, load in
            let (ids, answers) = try await load.run(label: "sigkill") {
                try await gateway.stopWorker(0, signal: SIGKILL)
                try await gateway.startWorker(0)
            }
            let truth = FaultLoad.GroundTruth(backend.events())
            FaultLoad.check(answers, ids: ids, truth: truth, allowed: [200, 409, 502], label: "SIGKILL")
            try await load.retryFailures(answers, truthBefore: truth, events: { backend.events() }, label: "SIGKILL")
            let outcomes = try await AuditOutcomes.read(stream: gateway.topology.auditStream, amqpURL: gateway.amqpURL)
            AuditOutcomes.check(outcomes, callIDs: Self.callIDs(answers), truth: FaultLoad.GroundTruth(backend.events()), label: "SIGKILL")
        }
    }

    /// The broker restarts under load: calls it could not take are refused (503, not run), calls
    /// in flight are `outcome_unknown` or answered, none runs twice, and the gateway serves
    /// again without any process restarting.
    @Test func aBrokerRestartLosesNoAnswerAndRunsNothingTwice() async throws {
        let node = try await BrokerNode.start("fault-broker")
        do {
            try await Self.withGateway(amqpURL: node.url) { gateway, backend, load in
                let (ids, answers) = try await load.run(label: "broker", pacing: .milliseconds(300)) {
                    try await node.run("restart")
                }
                let truth = FaultLoad.GroundTruth(backend.events())
                FaultLoad.check(answers, ids: ids, truth: truth, allowed: [200, 409, 502, 503, 504], label: "broker restart")
                try await load.retryFailures(answers, truthBefore: truth, events: { backend.events() }, label: "broker restart")
                let outcomes = try await AuditOutcomes.read(stream: gateway.topology.auditStream, amqpURL: gateway.amqpURL)
                AuditOutcomes.check(outcomes, callIDs: Self.callIDs(answers), truth: FaultLoad.GroundTruth(backend.events()), label: "broker restart")
            }
        } catch {
            await node.destroy()
            throw error
        }
        await node.destroy()
    }

    /// PostgreSQL restarts under load: calls are refused while it is down (503, not run: the
    /// gateway fails closed), none runs twice, and service resumes by itself.
    @Test func aDatabaseRestartRefusesCallsClosedAndRunsNothingTwice() async throws {
        let name = "fault-pg-\(UUID().uuidString.prefix(8).lowercased())"
        let port = try FreePort.find()
        try await TestEnvironment.runScript("postgres-node.sh", ["start", name, "\(port)"])
        do {
            try await Self.withGateway(databaseURL: "postgresql://postgres@127.0.0.1:\(port)/mcpgw") { gateway, backend, load in
                let (ids, answers) = try await load.run(label: "postgres", pacing: .milliseconds(100)) {
                    try await TestEnvironment.runScript("postgres-node.sh", ["restart", name, "\(port)"])
                }
                let truth = FaultLoad.GroundTruth(backend.events())
                FaultLoad.check(answers, ids: ids, truth: truth, allowed: [200, 409, 502, 503], label: "database restart")
                try await load.retryFailures(answers, truthBefore: truth, events: { backend.events() }, label: "database restart")
                let outcomes = try await AuditOutcomes.read(stream: gateway.topology.auditStream, amqpURL: gateway.amqpURL)
                AuditOutcomes.check(outcomes, callIDs: Self.callIDs(answers), truth: FaultLoad.GroundTruth(backend.events()), label: "database restart")
            }
        } catch {
            _ = try? await TestEnvironment.runScript("postgres-node.sh", ["stop", name, "\(port)"])
            throw error
        }
        _ = try? await TestEnvironment.runScript("postgres-node.sh", ["stop", name, "\(port)"])
    }

    /// Each id's call id (the ingress derives it from the Idempotency-Key, so every answer has it).
    static func callIDs(_ answers: [FaultLoad.Answer]) -> [String: String] {
        var ids: [String: String] = [:]
        for answer in answers { if let callID = answer.callID { ids[answer.id] = callID } }
        return ids
    }
}
