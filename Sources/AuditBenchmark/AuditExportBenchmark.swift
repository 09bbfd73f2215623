import ArgumentParser
import Audit
import Foundation
import Logging
import Shared

/// `mcpgw-audit-benchmark`: how fast `mcpgw audit export` reads a large audit stream,
/// next to a bare consumer of the same stream with the same client (AMQP 0-9-1, the same prefetch
/// and batched acks, nothing decoded or written), in the same run. Rounds alternate the two.
@main
struct AuditExportBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcpgw-audit-benchmark",
        abstract: "Export a stream of --records audit records (filled if short) as JSON lines, next to a bare consumer.",
        discussion: "Needs AMQP_URL. The stream is the benchmark's own and is deleted afterwards unless --keep."
    )

    @Option(help: "Records in the stream (half requests, half outcomes).") var records = 1_000_000
    @Option(help: "Passes of (bare, export); figures are medians.") var passes = 3
    @Option(help: "The stream (default: a new one).") var stream: String?
    @Option(help: "Consumer prefetch of both readers.") var prefetch: UInt16 = 2000
    @Option(help: "Publishes in flight while filling.") var inFlight = 256
    @Option(help: "Where the export goes (deleted after each round).") var output = FileManager.default.temporaryDirectory.appendingPathComponent("audit-export-bench.jsonl").path
    @Flag(help: "Keep the stream for another run.") var keep = false

    func run() async throws {
        var logger = Logger(label: "mcpgw-benchmark")
        logger.logLevel = .warning
        let configuration = try AMQPConfiguration(environment: EnvironmentReader(), connectionName: "mcpgw-benchmark-audit")
        let name = stream ?? "bench.audit.\(UUID().uuidString.prefix(8).lowercased())"
        let (records, rounds, prefetch, inFlight, output, keep) = (self.records, self.passes, self.prefetch, self.inFlight, self.output, self.keep)
        try await BrokerSession.with(configuration, logger: logger) { connection in
            try await connection.declare(
                AMQPTopology(queues: [
                    .init(
                        name: name,
                        arguments: ["x-queue-type": "stream", "x-max-length-bytes": .int(4_000_000_000), "x-stream-max-segment-size-bytes": .int(100_000_000)]
                    )
                ])
            )
            var reader = AuditStreamReader(connection: connection, stream: name)
            reader.prefetch = prefetch
            let present = (try await reader.lastOffset()).map { $0 + 1 } ?? 0
            if present < records {
                let filled = ContinuousClock.now
                try await Self.fill(connection, stream: name, count: records - Int(present), inFlight: inFlight)
                print("filled \(records - Int(present)) records in \(Self.seconds(ContinuousClock.now - filled)) s")
            }
            guard let end = try await reader.lastOffset() else { throw ValidationError("the stream \(name) is empty") }
            print("stream \(name): newest offset \(end), prefetch \(prefetch)")
            var bare: [Double] = []
            var export: [Double] = []
            for round in 1...rounds {
                var count = 0
                var started = ContinuousClock.now
                try await reader.readDeliveries(start: "first", through: end) { _ in
                    count += 1
                    return true
                }
                bare.append(Double(count) / Self.seconds(ContinuousClock.now - started))
                try? FileManager.default.removeItem(atPath: output)
                started = ContinuousClock.now
                let file = try AuditExportFile(path: output, format: .jsonl, resume: false, overwrite: true)
                var query = AuditQuery()
                query.to = .offset(end)
                let (exported, _) = try await query.run(reader) { try file.write($0) }
                try file.close()
                export.append(Double(exported) / Self.seconds(ContinuousClock.now - started))
                let size = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0
                print(String(format: "round %d: bare %.0f rec/s (%d), export %.0f rec/s (%d, %.0f MB)", round, bare.last!, count, export.last!, exported, Double(size) / 1e6))
                try? FileManager.default.removeItem(atPath: output)
            }
            let (bareMedian, exportMedian) = (Self.median(bare), Self.median(export))
            print(String(format: "median: bare consumer %.0f records/s, export (jsonl) %.0f records/s, ratio %.2f", bareMedian, exportMedian, exportMedian / bareMedian))
            if !keep { try await connection.deleteQueue(name) }
        }
    }

    /// Publishes `count` records like the gateway's: a request envelope and its outcome record.
    static func fill(_ connection: AMQPConnection, stream: String, count: Int, inFlight: Int) async throws {
        let principal = Principal(
            subject: "00000000-0000-0000-0000-00000000a11c", objectID: "00000000-0000-0000-0000-00000000a11c", tenantID: "72f988bf-86f1-41af-91ab-2d7cd011db47",
            userName: "alice@example.com", groups: ["MCP-Users"], authenticationMethod: .localDev
        )
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<count {
                if index >= inFlight { try await group.next() }
                group.addTask {
                    let callID = UUID().uuidString.lowercased()
                    let now = Date.now
                    let body: [UInt8]
                    var properties = AMQPProperties(contentType: "application/json", persistent: true, correlationID: callID, messageID: callID)
                    if index % 2 == 0 {
                        let envelope = RequestEnvelope(
                            callID: callID, kind: .callTool, server: "github", tool: "search_issues",
                            arguments: ["query": .string("is:open label:bug \(index)"), "page": .integer(Int64(index % 10))], principal: principal,
                            issuedAt: now, deadline: now.addingTimeInterval(30)
                        )
                        body = try ContractJSON.encodeMessage(envelope, what: "envelope")
                        properties.type = CallKind.callTool.rawValue
                    } else {
                        let reply = Reply(callID: callID, outcome: .result(.object(["content": .array([])])), worker: "worker-7f9c", startedAt: now, finishedAt: now)
                        body = try AuditRecord.outcome(
                            callID: callID, kind: .callTool, server: "github", tool: "search_issues", principal: .init(principal), reply: reply, at: now
                        ).encoded()
                        properties.type = "outcome"
                    }
                    try await connection.publish(body, exchange: "", routingKey: stream, properties: properties)
                }
            }
            try await group.waitForAll()
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
    }
}
