import Foundation
import Shared
import Synchronization
import TestSupport
import Testing

/// The outcome records of an audit stream, read from its first offset until it stays quiet.
enum AuditOutcomes {
    /// Outcome records by call id (records a worker re-sent from the call ledger left out).
    static func read(stream: String, amqpURL: String, quiet: Duration = .seconds(3)) async throws -> [String: [AuditRecord]] {
        try await AMQPTest.withConnection(try AMQPTest.configuration(url: amqpURL)) { amqp in
            let consumer = try await amqp.consume(queue: stream, prefetch: 500, arguments: ["x-stream-offset": "first"])
            let collected = Mutex<(records: [AuditRecord], last: ContinuousClock.Instant)>(([], .now))
            let reader = Task {
                for await delivery in consumer {
                    try? await amqp.ack(delivery)
                    let record = delivery.properties.type == "outcome" ? try? AuditRecord(decoding: delivery.body) : nil
                    collected.withLock { state in
                        if let record, record.fromLedger != true { state.records.append(record) }
                        state.last = .now
                    }
                }
            }
            while collected.withLock({ $0.last }).duration(to: .now) < quiet {
                try await Task.sleep(for: .milliseconds(200))
            }
            reader.cancel()
            try? await consumer.cancel()
            return Dictionary(grouping: collected.withLock { $0.records }, by: \.callID)
        }
    }

    /// Reads the stream again (a few seconds apart, for up to `limit`) until every executed call
    /// has an outcome record: a worker retries an outcome the broker could not take yet (a node
    /// failing over) for up to 30 s.
    static func readSettled(
        stream: String, amqpURL: String, callIDs: [String: String], truth: FaultLoad.GroundTruth, limit: Duration = .seconds(60)
    ) async throws -> [String: [AuditRecord]] {
        let end = ContinuousClock.now + limit
        while true {
            let outcomes = try await read(stream: stream, amqpURL: amqpURL)
            let complete = callIDs.allSatisfy { truth.ran($0.key) == 0 || outcomes[$0.value] != nil }
            if complete || ContinuousClock.now > end { return outcomes }
            try await Task.sleep(for: .seconds(2))
        }
    }

    /// Every call the backend ran has exactly one outcome record of an attempt that ran it (or
    /// may have): `ok`, or an error with `mayHaveRun`. Records of attempts refused before running
    /// (a retry's earlier `authorization_unavailable`, say) are about those attempts, not the run.
    static func check(_ outcomes: [String: [AuditRecord]], callIDs: [String: String], truth: FaultLoad.GroundTruth, label: String) {
        let ran = callIDs.filter { truth.ran($0.key) > 0 }
        // A record re-sent after its confirm was lost with the connection is an exact copy (same
        // call, outcome and time): one outcome, which readers deduplicate (docs/reliability.md).
        func runs(_ callID: String) -> Int {
            Set((outcomes[callID] ?? []).filter { $0.outcome?.rawValue == "ok" || $0.mayHaveRun == true }).count
        }
        let missing = ran.filter { runs($0.value) == 0 }.map(\.key)
        let duplicated = ran.filter { runs($0.value) > 1 }.map(\.key)
        print("\(label) audit: \(ran.count) executed calls; outcome records missing \(missing.count), more than one \(duplicated.count)")
        #expect(missing.isEmpty, "\(label): executed calls without an outcome record: \(missing)")
        #expect(duplicated.isEmpty, "\(label): executed calls with several outcome records: \(duplicated)")
    }
}
