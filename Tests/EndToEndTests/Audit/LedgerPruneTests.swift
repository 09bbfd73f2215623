import Foundation
import Shared
import TestSupport
import Testing

/// `mcpgw ledger prune`: deletes the rows past the age given, keeps the others, counts with
/// `--dry-run`, and refuses an age inside any call's lifetime.
@Suite struct LedgerPruneTests {
    @Test func pruneDeletesOnlyRowsOlderThanTheAgeGiven() async throws {
        try await PostgresTestDatabase.withSchema { database in
            let migrate = try AdminCLITests.run(database, ["migrate"])
            #expect(migrate.status == 0, "\(migrate.error)")
            try await database.withClient { client in
                let old = [UUID(), UUID(), UUID()].map { $0.uuidString.lowercased() }
                let recent = UUID().uuidString.lowercased()
                for id in old {
                    _ = try await client.execute(
                        "INSERT INTO call_executions (call_id, server_id, tool, worker, started_at) VALUES (\(id)::uuid, 'echo', 'echo', 'w', now() - interval '3 days')"
                    )
                }
                _ = try await client.execute(
                    "INSERT INTO call_executions (call_id, server_id, tool, worker, started_at) VALUES (\(recent)::uuid, 'echo', 'echo', 'w', now() - interval '1 hour')"
                )

                let counted = try AdminCLITests.run(database, ["ledger", "prune", "--older-than", "2d", "--dry-run"])
                #expect(counted.status == 0 && counted.output.contains("3 ledger rows are older than 2d"), "\(counted.output) \(counted.error)")
                let refused = try AdminCLITests.run(database, ["ledger", "prune", "--older-than", "10m"])
                #expect(refused.status == 6 && refused.error.contains("under 1h"), "\(refused.error)")
                let malformed = try AdminCLITests.run(database, ["ledger", "prune", "--older-than", "a while"])
                #expect(malformed.status == 6 && malformed.error.contains("is not a duration"), "\(malformed.error)")
                var left = try await client.query("SELECT count(*) AS n FROM call_executions")
                #expect(try left[0].decode(Int.self, "n") == 4, "neither a dry run nor a refusal deletes anything")

                let pruned = try AdminCLITests.run(database, ["ledger", "prune", "--older-than", "2d"])
                #expect(pruned.status == 0 && pruned.output.contains("pruned 3 ledger rows"), "\(pruned.output) \(pruned.error)")
                left = try await client.query("SELECT call_id::text AS id FROM call_executions")
                #expect(try left.map { try $0.decode(String.self, "id") } == [recent])
            }
        }
    }
}
