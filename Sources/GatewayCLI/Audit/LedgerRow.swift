import Audit
import Foundation
import Shared

/// A call's row in the call ledger (`call_executions`), as `audit show` and `dead-letters` print it.
struct LedgerRow: Sendable {
    var callID: String
    var server: String
    var tool: String?
    var worker: String
    var startedAt: Date
    var finishedAt: Date?
    var caller: String?
    var idempotencyKey: String?
    var deadline: Date?
    var auditedAt: Date?
    /// `ok`, an error code, or `nil` while running.
    var outcome: String?

    static func find(_ callID: String, in client: PostgresClient) async throws -> LedgerRow? {
        let rows = try await client.query(
            """
            SELECT call_id::text AS call_id, server_id, tool, worker, started_at, finished_at, caller_tid, caller_sub, idempotency_key,
                   deadline, audited_at, reply::text AS reply
            FROM call_executions WHERE call_id = \(callID)::uuid
            """
        )
        guard let row = rows.first else { return nil }
        let tenant = try row.decode(String?.self, "caller_tid")
        let subject = try row.decode(String?.self, "caller_sub")
        let reply = try row.decode(String?.self, "reply")
        var outcome: String?
        if let reply, let decoded = try? Reply(decoding: Array(reply.utf8)) {
            switch decoded.outcome {
            case .result: outcome = "ok"
            case .error(let error): outcome = error.code.rawValue
            }
        }
        return LedgerRow(
            callID: try row.decode(String.self, "call_id"), server: try row.decode(String.self, "server_id"), tool: try row.decode(String?.self, "tool"),
            worker: try row.decode(String.self, "worker"), startedAt: try row.decode(Date.self, "started_at"), finishedAt: try row.decode(Date?.self, "finished_at"),
            caller: subject.map { "\(tenant ?? "?")/\($0)" }, idempotencyKey: try row.decode(String?.self, "idempotency_key"),
            deadline: try row.decode(Date?.self, "deadline"), auditedAt: try row.decode(Date?.self, "audited_at"), outcome: outcome
        )
    }

    var lines: [String] {
        var lines = ["started \(AuditTime.format(startedAt)) on \(worker)  \(server)\(tool.map { "/\($0)" } ?? "")  caller \(caller ?? "?")"]
        if let finishedAt {
            lines.append("finished \(AuditTime.format(finishedAt))  outcome \(outcome ?? "?")")
        } else {
            lines.append("not finished (running, or its worker died: outcome unknown)")
        }
        lines.append("outcome on the stream: \(auditedAt.map { "confirmed \(AuditTime.format($0))" } ?? "not confirmed yet")")
        if let idempotencyKey { lines.append("idempotency key \(idempotencyKey)") }
        return lines
    }

    var json: String {
        var fields: [String] = []
        func add(_ key: String, _ value: String?) {
            guard let value else { return }
            fields.append("\(AuditCommands.jsonString(key)):\(AuditCommands.jsonString(value))")
        }
        add("auditedAt", auditedAt.map(AuditTime.format))
        add("callId", callID)
        add("caller", caller)
        add("deadline", deadline.map(AuditTime.format))
        add("finishedAt", finishedAt.map(AuditTime.format))
        add("idempotencyKey", idempotencyKey)
        add("outcome", outcome)
        add("server", server)
        add("startedAt", AuditTime.format(startedAt))
        add("tool", tool)
        add("type", "ledger")
        add("worker", worker)
        return "{" + fields.joined(separator: ",") + "}"
    }
}
