import ArgumentParser
import Audit
import Foundation
import Shared

/// `mcpgw audit show CALL_ID`: the call's request and outcome records, and its ledger row.
struct AuditShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show one call: its request record, its outcome record(s) and its row in the call ledger (call_executions).",
        discussion: "Reads the stream from --from (default: first); --since narrows a long stream. The ledger needs DATABASE_URL."
    )

    @Argument(help: "The call id (X-Call-Id).") var callID: String
    @Option(help: "Where to start reading: first, OFFSET or TIME.") var from: String = "first"
    @Option(help: "Only records of this recent past (2h) or since a time.") var since: String?
    @Flag(help: "Do not look up the ledger.") var noLedger = false
    @OptionGroup var output: AuditOutputOptions

    func run() async throws {
        try await AuditCommands.run {
            let id = try AuditCommands.callID(callID)
            var query = AuditQuery()
            query.from = try AuditPosition.parse(from)
            query.filter.callIDs = [id]
            if let since { query.filter.since = try AuditTime.instant(since) }
            let stream = try output.streamName()
            let format = try output.format()
            let planned = query
            let entries = try await AuditCommands.broker { connection in
                var entries: [AuditEntry] = []
                try await planned.run(AuditStreamReader(connection: connection, stream: stream)) { entries.append($0) }
                return entries
            }
            var ledger: LedgerRow?
            var ledgerProblem: String?
            if !noLedger {
                do {
                    ledger = try await DatabaseSession.with { client in try await LedgerRow.find(id, in: client) }
                } catch {
                    ledgerProblem = "\(error)"
                }
            }
            if entries.isEmpty, ledger == nil {
                if let ledgerProblem { throw AuditFailure(.databaseDown, "no record of call \(id) on the stream, and the ledger cannot be read: \(ledgerProblem)") }
                throw AuditFailure(.unknownCallID, "no record of call \(id) on \(stream) or in the ledger")
            }
            let out = OutputLines(flushEachLine: false)
            if format == .table {
                out.write("call \(id)")
                if entries.isEmpty { out.write("  stream: no records (expired from the stream, or before --from/--since)") }
                for entry in entries {
                    var line = "  \(entry.type.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)) offset \(entry.offset)  \(AuditTime.format(entry.at))"
                    line += "  \(entry.kind ?? "") \(entry.server ?? "")\(entry.tool.map { "/\($0)" } ?? "")"
                    line += "  by \(entry.userName ?? entry.subject ?? "?") (tenant \(entry.tenant ?? "?"))"
                    if let outcome = entry.outcome { line += "  outcome \(outcome)" }
                    if let duration = entry.durationMilliseconds { line += " in \(duration) ms" }
                    if let worker = entry.worker { line += " on \(worker)" }
                    if entry.fromLedger == true { line += " (answered from the ledger)" }
                    if entry.mayHaveRun == true { line += " (may have run)" }
                    if let detail = entry.detail { line += "  \(detail)" }
                    out.write(line)
                    if let arguments = entry.arguments { out.write("             arguments \(AuditFormat.jsonText(arguments))") }
                }
                if let ledger {
                    for line in ledger.lines { out.write("  ledger     \(line)") }
                } else {
                    out.write("  ledger     \(ledgerProblem.map { "unavailable: \($0)" } ?? (noLedger ? "not looked up" : "no row (never started, or pruned)"))")
                }
            } else {
                for entry in entries { out.write(format.line(entry)) }
                if let ledger { out.write(ledger.json) }
            }
            out.flush()
        }
    }
}
