import ArgumentParser
import Audit
import Foundation
import Shared
import Worker

/// `mcpgw ledger prune`: deletes old rows of the call ledger, as workers do every minute with
/// `CALL_LEDGER_RETENTION_MS`.
struct Ledger: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The call ledger (call_executions).",
        subcommands: [Prune.self]
    )

    struct Prune: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete ledger rows of calls started before --older-than.",
            discussion: """
                A pruned call id is forgotten: a redelivery or an Idempotency-Key retry of it after that runs as a new call. \
                So --older-than is the idempotency window; keep it longer than the longest deadline (at least 1h is enforced).
                """
        )

        @Option(name: .customLong("older-than"), help: "An age: 30d, 12h, 2w.") var olderThan: String
        @Flag(help: "Count the rows, delete nothing.") var dryRun = false

        func run() async throws {
            try await AuditCommands.run {
                let age = try AuditTime.duration(olderThan)
                guard age >= .seconds(3600) else {
                    throw AuditFailure(.malformedInput, "--older-than \(olderThan) is under 1h: rows of calls that may still run would be deleted")
                }
                let seconds = Double(age.components.seconds)
                let dryRun = self.dryRun
                let pruned = try await DatabaseSession.with { client in
                    if dryRun {
                        let rows = try await client.query(
                            "SELECT count(*) AS n FROM call_executions WHERE started_at < now() - make_interval(secs => \(seconds))"
                        )
                        return try rows[0].decode(Int.self, "n")
                    }
                    var total = 0
                    while true {
                        let deleted = try await LedgerMaintenance.prune(client, olderThan: age)
                        total += deleted
                        if deleted < 10_000 { return total }
                    }
                }
                print(dryRun ? "\(pruned) ledger rows are older than \(olderThan)" : "pruned \(pruned) ledger rows older than \(olderThan)")
            }
        }
    }
}
