import Foundation
import Logging
import Shared

/// Keeps `backend_circuits` up to date with this worker's circuit breakers, for
/// `mcpgw servers status`. Written off the call path, when a breaker changes phase; a write that
/// fails is logged and lost (the breaker itself is unaffected).
public struct BackendCircuits: Sendable {
    let database: PostgresClient
    let worker: String
    let instance: UUID
    let logger: Logger

    public init(database: PostgresClient, worker: String, instance: UUID, logger: Logger) {
        self.database = database
        self.worker = worker
        self.instance = instance
        self.logger = logger
    }

    func record(server: String, phase: CircuitBreaker.Phase, failure: String?, at time: Date = .now) {
        Task { [database, worker, instance, logger] in
            do {
                try await database.execute(
                    """
                    INSERT INTO backend_circuits AS c (worker_instance, worker, server_id, state, since, last_error)
                    VALUES (\(instance.uuidString.lowercased())::uuid, \(worker), \(server), \(phase.rawValue), \(time), \(failure.map { String($0.prefix(500)) }))
                    ON CONFLICT (worker_instance, server_id) DO UPDATE
                        SET state = excluded.state, since = excluded.since, last_error = coalesce(excluded.last_error, c.last_error)
                        WHERE c.since <= excluded.since
                    """)
            } catch {
                logger.warning("Circuit breaker state not recorded", metadata: [LogKeys.server: "\(server)", LogKeys.error: "\(error)"])
            }
        }
    }

    /// Every live worker's breakers that are not closed, and since when (rows of workers that
    /// are gone are removed first).
    public static func notClosed(database: PostgresClient) async throws -> [(server: String, worker: String, state: String, since: Date, lastError: String?)] {
        let alive = WorkerPresence.isAliveSQL("worker_instance")
        _ = try await database.execute("DELETE FROM backend_circuits WHERE NOT (\(unescaped: alive))")
        let rows = try await database.query(
            "SELECT server_id, worker, state, since, last_error FROM backend_circuits WHERE state <> 'closed' ORDER BY server_id, worker")
        return try rows.map {
            (
                try $0.decode(String.self, "server_id"), try $0.decode(String.self, "worker"), try $0.decode(String.self, "state"),
                try $0.decode(Date.self, "since"), try $0.decode(String?.self, "last_error")
            )
        }
    }
}
