import Foundation
import Shared

extension CredentialStore {
    /// A live worker process that cannot open values sealed under some key.
    public struct WorkerLackingKey: Sendable, Equatable, CustomStringConvertible {
        public var worker: String
        public var instance: String
        public var description: String { "\(worker) (\(instance))" }
    }

    /// Records which keys this worker process holds (id and fingerprint), replacing what it
    /// reported before.
    public static func reportKeys(_ keyring: CredentialKeyring, worker: String, instance: UUID, database: PostgresClient) async throws {
        try await database.execute("DELETE FROM worker_credential_keys WHERE worker_instance = \(instance)")
        for id in keyring.keyIDs {
            guard let fingerprint = keyring.fingerprint(of: id) else { continue }
            try await database.execute(
                """
                INSERT INTO worker_credential_keys (worker_instance, worker, key_id, fingerprint)
                VALUES (\(instance), \(worker), \(id), \(fingerprint))
                """
            )
        }
    }

    /// The live worker processes (those holding their presence lock) that do not hold the key
    /// `id` with this `fingerprint`; the reports of workers that are gone are deleted first.
    public static func liveWorkersLacking(keyID id: String, fingerprint: String, database: PostgresClient) async throws -> [WorkerLackingKey] {
        let alive = WorkerPresence.isAliveSQL("worker_instance")
        _ = try await database.execute("DELETE FROM worker_credential_keys WHERE NOT (\(unescaped: alive))")
        let rows = try await database.query(
            """
            SELECT DISTINCT worker, worker_instance::text AS instance FROM worker_credential_keys w
            WHERE NOT EXISTS (
                SELECT 1 FROM worker_credential_keys k
                WHERE k.worker_instance = w.worker_instance AND k.key_id = \(id) AND k.fingerprint = \(fingerprint)
            )
            ORDER BY worker
            """
        )
        return try rows.map { WorkerLackingKey(worker: try $0.decode(String.self, "worker"), instance: try $0.decode(String.self, "instance")) }
    }
}
