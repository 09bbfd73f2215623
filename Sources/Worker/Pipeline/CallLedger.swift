import Foundation
import Shared

/// Makes tool calls run at most once per call id, and keeps what is known about each one.
///
/// The first delivery of a call claims it. A redelivery (the broker requeued it after a worker
/// died or lost its connection) or a retry with the same `Idempotency-Key` finds the claim and
/// gets the stored reply; if the first attempt is still running on a live worker, it waits for
/// that reply; if the worker that claimed it is gone, the outcome is unknown and the call is not
/// run again. Re-running is for operators, deliberately (audit replay), never a side effect of
/// recovery.
///
/// Whether a worker is alive is PostgreSQL's to say: each worker process holds a session-level
/// advisory lock on its instance id (``WorkerPresence``) for as long as it lives, and the server
/// releases it the moment that session ends, a `kill -9` included.
public struct CallLedger: Sendable {
    public enum Claim: Sendable, Equatable {
        /// First time: run it.
        case claimed
        /// Already answered: send this reply again.
        case answered([UInt8])
        /// Claimed by a worker process that is still alive, before the first attempt's deadline:
        /// it may still answer (``awaitReply(callID:until:)``).
        case running(worker: String)
        /// Started before, never answered, and its worker is gone (or its deadline passed): it
        /// may have run, and it is not run again.
        case interrupted(worker: String)
        /// The call id is taken by a different request (another caller, server, tool or
        /// arguments): an `Idempotency-Key` reused for another call.
        case mismatch
    }

    private let database: PostgresClient
    /// This worker process's instance id, recorded with each claim.
    public let instance: UUID

    public init(database: PostgresClient, instance: UUID = UUID()) {
        self.database = database
        self.instance = instance
    }

    public func claim(_ envelope: RequestEnvelope, worker: String) async throws -> Claim {
        let digest = envelope.requestDigest
        let inserted = try await database.execute(
            """
            INSERT INTO call_executions
                (call_id, server_id, tool, worker, worker_instance, caller_tid, caller_sub, request_digest, idempotency_key, deadline)
            VALUES (\(envelope.callID)::uuid, \(envelope.server), \(envelope.tool), \(worker), \(instance),
                \(envelope.principal.tenantID), \(envelope.principal.subject), \(digest), \(envelope.idempotencyKey), \(envelope.deadline))
            ON CONFLICT (call_id) DO NOTHING
            """
        )
        if inserted == 1 { return .claimed }
        guard let existing = try await lookup(envelope.callID) else { return .claimed }
        if let tid = existing.callerTenantID, let sub = existing.callerSubject,
            tid != envelope.principal.tenantID || sub != envelope.principal.subject
        {
            return .mismatch
        }
        if let stored = existing.requestDigest, stored != digest { return .mismatch }
        return existing.claim
    }

    /// Polls the ledger until the call's reply is recorded, its worker dies, its own deadline
    /// passes, or `until`; returns what it found then (`.running` when `until` came first).
    public func awaitReply(callID: String, until: Date) async throws -> Claim {
        var pause: Duration = .milliseconds(20)
        while true {
            guard let entry = try await lookup(callID) else { return .interrupted(worker: "-") }
            let claim = entry.claim
            guard case .running = claim, Date.now < until else { return claim }
            try await Task.sleep(for: min(pause, .milliseconds(max(1, Int64(until.timeIntervalSinceNow * 1000)))))
            pause = min(pause * 2, .milliseconds(250))
        }
    }

    public func record(_ reply: [UInt8], for callID: String) async throws {
        try await database.execute(
            """
            UPDATE call_executions SET reply = \(String(decoding: reply, as: UTF8.self))::jsonb, finished_at = now()
            WHERE call_id = \(callID)::uuid
            """
        )
    }

    /// Records `reply` unless the call already has one: what a redelivery decided (the outcome
    /// is unknown) becomes the call's answer for every later delivery or retry, while a reply
    /// the first attempt records later (``record(_:for:)``) still replaces it.
    public func recordIfUnanswered(_ reply: [UInt8], for callID: String) async throws {
        try await database.execute(
            """
            UPDATE call_executions SET reply = \(String(decoding: reply, as: UTF8.self))::jsonb, finished_at = now()
            WHERE call_id = \(callID)::uuid AND reply IS NULL
            """
        )
    }

    /// Forgets a claimed call that never started (refused by a rate limit): a later delivery or
    /// a retry with the same `Idempotency-Key` is then a call of its own, not this refusal again.
    public func release(_ callID: String) async throws {
        try await database.execute("DELETE FROM call_executions WHERE call_id = \(callID)::uuid AND reply IS NULL")
    }

    /// Notes that the call's outcome record is on the audit stream (confirmed by the broker).
    public func recordAudited(_ callID: String) async throws {
        try await database.execute("UPDATE call_executions SET audited_at = now() WHERE call_id = \(callID)::uuid")
    }

    /// What the ledger holds about one call.
    public struct Entry: Sendable {
        public var callID: String
        public var server: String
        public var tool: String?
        public var worker: String
        public var callerTenantID: String?
        public var callerSubject: String?
        public var requestDigest: String?
        public var idempotencyKey: String?
        public var startedAt: Date
        public var finishedAt: Date?
        public var deadline: Date?
        public var reply: [UInt8]?
        public var audited: Bool
        /// Whether the worker process that claimed the call still holds its presence lock.
        public var workerAlive: Bool

        /// What a redelivery of this call must do.
        public var claim: Claim {
            if let reply { return .answered(reply) }
            if workerAlive, (deadline ?? .distantFuture) > .now { return .running(worker: worker) }
            return .interrupted(worker: worker)
        }
    }

    public func lookup(_ callID: String) async throws -> Entry? {
        let rows = try await database.query(
            """
            SELECT call_id::text AS call_id, server_id, tool, worker, caller_tid, caller_sub, request_digest, idempotency_key,
                started_at, finished_at, deadline, reply::text AS reply, audited_at IS NOT NULL AS audited,
                CASE WHEN worker_instance IS NULL OR reply IS NOT NULL THEN false
                     ELSE \(unescaped: WorkerPresence.isAliveSQL("worker_instance")) END AS alive
            FROM call_executions WHERE call_id = \(callID)::uuid
            """
        )
        guard let row = rows.first else { return nil }
        return Entry(
            callID: try row.decode(String.self, "call_id"),
            server: try row.decode(String.self, "server_id"),
            tool: try row.decode(String?.self, "tool"),
            worker: try row.decode(String.self, "worker"),
            callerTenantID: try row.decode(String?.self, "caller_tid"),
            callerSubject: try row.decode(String?.self, "caller_sub"),
            requestDigest: try row.decode(String?.self, "request_digest"),
            idempotencyKey: try row.decode(String?.self, "idempotency_key"),
            startedAt: try row.decode(Date.self, "started_at"),
            finishedAt: try row.decode(Date?.self, "finished_at"),
            deadline: try row.decode(Date?.self, "deadline"),
            reply: try row.decode(String?.self, "reply").map { Array($0.utf8) },
            audited: try row.decode(Bool.self, "audited"),
            workerAlive: try row.decode(Bool.self, "alive")
        )
    }
}
