import ArgumentParser
import Audit
import Foundation
import Shared

/// `mcpgw audit export`: the records of a range, filtered, to a file, streamed and resumable.
struct AuditExport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write records to a file as JSON lines or CSV, streamed (bounded memory).",
        discussion: """
            --resume continues an export that stopped (killed, broker lost): it reads the offset of the file's last complete \
            line and goes on after it. The last offset written is printed on stderr at the end.
            """
    )

    @Option(help: "jsonl or csv.") var format: String = "jsonl"
    @Option(help: "The file to write.") var output: String
    @OptionGroup var range: AuditRangeOptions
    @Flag(help: "Continue the file after its last record.") var resume = false
    @Flag(help: "Replace the file if it exists.") var force = false
    @OptionGroup var filters: AuditFilterOptions
    @Option(name: .customLong("stream"), help: "The audit stream (default: AMQP_AUDIT_STREAM, else mcp.audit).") var stream: String?

    func run() async throws {
        try await AuditCommands.run {
            guard let fileFormat = AuditFormat(rawValue: format), fileFormat == .jsonl || fileFormat == .csv else {
                throw AuditFailure(.malformedInput, "--format '\(format)' is not jsonl or csv")
            }
            let query = try range.query(filters: filters)
            let stream = try self.stream ?? GatewayTopology(environment: EnvironmentReader()).auditStream
            let (path, resume, force, planned) = (output, self.resume, self.force, query)
            let (written, last) = try await AuditCommands.broker { connection in
                var query = planned
                let reader = AuditStreamReader(connection: connection, stream: stream)
                try await reader.checkExists()
                let file = try AuditExportFile(path: path, format: fileFormat, resume: resume, overwrite: force)
                if let after = file.resumedAfter { query.from = .offset(after + 1) }
                let progress = AuditCommands.stderrIsTerminal ? ExportProgress() : nil
                do {
                    let (matched, last) = try await Self.export(query, reader: reader, file: file, progress: progress, resuming: file.resumedAfter != nil)
                    try file.close()
                    progress?.finish()
                    return (matched, last ?? file.resumedAfter)
                } catch {
                    try? file.close()
                    throw error
                }
            }
            FileHandle.standardError.write(Data("exported \(written) records to \(path)\(last.map { "; last offset \($0)" } ?? "")\n".utf8))
            if written == 0, !resume { throw AuditFailure(.noMatch, "no record matched") }
        }
    }

    static func export(
        _ query: AuditQuery, reader: AuditStreamReader, file: AuditExportFile, progress: ExportProgress?, resuming: Bool
    ) async throws -> (Int, Int64?) {
        do {
            return try await query.run(reader) { entry in
                try file.write(entry)
                progress?.tick(entry.offset)
            }
        } catch let failure as AuditFailure where failure.code == .offsetPastEnd && resuming {
            // The file already holds everything up to the end.
            return (0, nil)
        }
    }
}

/// A one-line progress report on a terminal's stderr, redrawn at most every half second.
final class ExportProgress {
    private var count = 0
    private var lastDraw = ContinuousClock.now
    private let started = ContinuousClock.now

    func tick(_ offset: Int64) {
        count += 1
        guard count % 1000 == 0, ContinuousClock.now - lastDraw > .milliseconds(500) else { return }
        lastDraw = .now
        draw(offset)
    }

    func finish() {
        draw(nil)
        FileHandle.standardError.write(Data("\n".utf8))
    }

    private func draw(_ offset: Int64?) {
        let seconds = max(0.001, Double((ContinuousClock.now - started).components.attoseconds) / 1e18 + Double((ContinuousClock.now - started).components.seconds))
        let rate = Int(Double(count) / seconds)
        FileHandle.standardError.write(Data("\r\(count) records\(offset.map { " (offset \($0))" } ?? ""), \(rate)/s   ".utf8))
    }
}
