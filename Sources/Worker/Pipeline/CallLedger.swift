import Foundation
import Shared

/// Makes tool calls run at most once per call id. The first delivery of a call claims it; a
/// redelivery (the broker requeued it after a worker died or lost its connection) finds the
/// claim and gets the stored reply, or, if the first attempt never finished, an error saying so.
/// Re-running is for operators, deliberately (audit replay), never a side effect of recovery.
public struct CallLedger: Sendable {
    public enum Claim: Sendable, Equatable {
        /// First time: run it.
        case claimed
        /// Already answered: send this reply again.
        case answered([UInt8])
        /// Started before and never finished: do not run it again.
        case interrupted(worker: String)
    }

    private let database: PostgresClient

    public init(database: PostgresClient) {
        self.database = database
    }

    public func claim(_ envelope: RequestEnvelope, worker: String) async throws -> Claim {
        let inserted = try await database.execute(
            """
            INSERT INTO call_executions (call_id, server_id, tool, worker)
            VALUES (\(envelope.callID)::uuid, \(envelope.server), \(envelope.tool), \(worker))
            ON CONFLICT (call_id) DO NOTHING
            """
        )
        if inserted == 1 { return .claimed }
        let rows = try await database.query("SELECT worker, reply::text AS reply FROM call_executions WHERE call_id = \(envelope.callID)::uuid")
        guard let row = rows.first else { return .claimed }
        if let reply = try row.decode(String?.self, "reply") { return .answered(Array(reply.utf8)) }
        return .interrupted(worker: try row.decode(String.self, "worker"))
    }

    public func record(_ reply: [UInt8], for callID: String) async throws {
        try await database.execute(
            """
            UPDATE call_executions SET reply = \(String(decoding: reply, as: UTF8.self))::jsonb, finished_at = now()
            WHERE call_id = \(callID)::uuid
            """
        )
    }
}
