import Foundation
import Logging
import ServiceLifecycle
import Shared

/// The call ledger's upkeep, run by every worker every `interval` (competing workers do the same
/// idempotent work, in small batches):
///
/// - **Missing audit outcomes.** A call that has a reply but whose outcome record was never
///   confirmed on the audit stream (the broker refused it for longer than the worker retried)
///   gets it now, from the ledger, and is marked audited.
/// - **Retention.** Rows older than `retention` are deleted. A call id, its stored reply and its
///   `Idempotency-Key` are honoured for that long: a retry after it runs as a new call.
public final class LedgerMaintenance: Service, Sendable {
    private let database: PostgresClient
    private let publisher: AMQPConnection
    private let topology: GatewayTopology
    private let retention: Duration
    private let interval: Duration
    private let logger: Logger

    public init(
        database: PostgresClient, publisher: AMQPConnection, topology: GatewayTopology, retention: Duration, interval: Duration = .seconds(60),
        logger: Logger
    ) {
        self.database = database
        self.publisher = publisher
        self.topology = topology
        self.retention = retention
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            guard (try? await cancelWhenGracefulShutdown({ try await Task.sleep(for: self.interval) })) != nil else { return }
            do {
                let published = try await publishMissingOutcomes()
                let pruned = try await prune()
                if published + pruned > 0 {
                    logger.info("Call ledger maintained", metadata: ["outcomes_published": "\(published)", "rows_pruned": "\(pruned)"])
                }
            } catch {
                logger.warning("Call ledger maintenance failed; trying again later", metadata: [LogKeys.error: "\(error)"])
            }
        }
    }

    /// Publishes the outcome of up to 100 answered calls whose outcome record was never confirmed.
    func publishMissingOutcomes() async throws -> Int {
        let rows = try await database.query(
            """
            SELECT call_id::text AS call_id, server_id, tool, caller_tid, caller_sub, reply::text AS reply
            FROM call_executions
            WHERE reply IS NOT NULL AND audited_at IS NULL AND caller_sub IS NOT NULL AND finished_at < now() - interval '1 minute'
            ORDER BY finished_at LIMIT 100
            """
        )
        var published = 0
        for row in rows {
            let callID = try row.decode(String.self, "call_id")
            guard let reply = try? Reply(decoding: Array(try row.decode(String.self, "reply").utf8)) else { continue }
            let record = AuditRecord.outcome(
                callID: callID, kind: .callTool, server: try row.decode(String.self, "server_id"), tool: try row.decode(String?.self, "tool"),
                principal: .init(subject: try row.decode(String.self, "caller_sub"), tenantID: try row.decode(String?.self, "caller_tid") ?? ""),
                reply: reply, at: reply.finishedAt
            )
            try await publisher.publish(
                try record.encoded(), exchange: "", routingKey: topology.auditStream,
                properties: AMQPProperties(contentType: "application/json", persistent: true, correlationID: callID, type: "outcome"),
                mandatory: true
            )
            try await database.execute("UPDATE call_executions SET audited_at = now() WHERE call_id = \(callID)::uuid AND audited_at IS NULL")
            published += 1
        }
        return published
    }

    /// Deletes up to 10,000 rows past the retention.
    func prune() async throws -> Int {
        try await Self.prune(database, olderThan: retention)
    }

    /// Deletes up to 10,000 rows of calls started more than `age` ago (also `mcpgw ledger prune`).
    public static func prune(_ database: PostgresClient, olderThan age: Duration) async throws -> Int {
        let seconds = Double(age.components.seconds) + Double(age.components.attoseconds) / 1e18
        return try await database.execute(
            """
            DELETE FROM call_executions WHERE call_id IN (
                SELECT call_id FROM call_executions WHERE started_at < now() - make_interval(secs => \(seconds)) LIMIT 10000
            )
            """
        )
    }
}
