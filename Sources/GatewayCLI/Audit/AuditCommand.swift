import ArgumentParser
import Audit
import Foundation
import Shared

/// `mcpgw audit`: read, search, follow, export and count the audit stream (docs/audit.md).
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Read the audit stream: every call's request and outcome.",
        discussion: """
            Exit codes: 0 done, 3 nothing matched, 4 unknown call id, 5 offset past the end, 6 malformed time, \
            offset, duration or call id, 7 no such stream, 8 broker unreachable, 9 database unreachable, 10 refused.
            """,
        subcommands: [AuditRead.self, AuditTail.self, AuditShow.self, AuditExport.self, AuditStatsCommand.self]
    )
}

/// `mcpgw audit read`: records in a range, filtered.
struct AuditRead: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "read",
        abstract: "Print the records from --from through --to (default: the whole stream, up to its end when the read began).",
        discussion: "Positions: first, last, an offset, or a time (2026-12-07T10:00:00Z, 2026-12-07, @epoch-ms, or a duration ago: 2h)."
    )

    @OptionGroup var range: AuditRangeOptions
    @OptionGroup var filters: AuditFilterOptions
    @OptionGroup var output: AuditOutputOptions

    func run() async throws {
        try await AuditCommands.run {
            try await AuditPrinter.print(try range.query(filters: filters), stream: output.streamName(), format: output.format())
        }
    }
}

/// `mcpgw audit tail`: the newest records, and with `-f` the ones that follow.
struct AuditTail: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tail", abstract: "Print the newest records; -f keeps printing new ones.")

    @Option(name: .customShort("n"), help: "How many of the newest records (before filtering).") var lines: Int = 20
    @Flag(name: .short, help: "Follow: print new records as they arrive, until interrupted.") var follow = false
    @OptionGroup var filters: AuditFilterOptions
    @OptionGroup var output: AuditOutputOptions

    func run() async throws {
        try await AuditCommands.run {
            guard lines >= 0 else { throw AuditFailure(.malformedInput, "-n must be 0 or more") }
            let stream = try output.streamName()
            let format = try output.format()
            let filter = try filters.filter()
            let lines = self.lines, follow = self.follow
            try await AuditCommands.broker { connection in
                let reader = AuditStreamReader(connection: connection, stream: stream)
                try await reader.checkExists()
                let end = try await reader.lastOffset()
                let out = OutputLines(flushEachLine: follow)
                if let header = format.header { out.write(header) }
                var matched = 0
                let start: AMQPFieldValue = end.map { .int(max(0, $0 - Int64(lines) + 1)) } ?? "first"
                if end != nil, lines > 0 || follow {
                    let from = lines > 0 ? start : .int(end! + 1)
                    try await reader.read(start: from, through: follow ? nil : end) { entry in
                        if filter.matches(entry) {
                            out.write(format.line(entry))
                            matched += 1
                        }
                        return true
                    }
                } else if follow {
                    try await reader.read(start: "next", through: nil) { entry in
                        if filter.matches(entry) { out.write(format.line(entry)) }
                        return true
                    }
                }
                out.flush()
                if matched == 0, !follow { throw AuditFailure(.noMatch, "no record matched") }
            }
        }
    }
}

/// `mcpgw audit stats`: counts by server, tool, outcome and user.
struct AuditStatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stats", abstract: "Count calls by server, tool, outcome and user.")

    @Option(help: "Where to start: first, last, OFFSET or TIME.") var from: String = "first"
    @OptionGroup var filters: AuditFilterOptions
    @OptionGroup var output: AuditOutputOptions

    func run() async throws {
        try await AuditCommands.run {
            var query = AuditQuery()
            query.from = try AuditPosition.parse(from)
            query.filter = try filters.filter()
            let stream = try output.streamName()
            let format = try output.format()
            let planned = query
            let stats = try await AuditCommands.broker { connection in
                var stats = AuditStats()
                try await planned.run(AuditStreamReader(connection: connection, stream: stream)) { stats.add($0) }
                return stats
            }
            guard stats.calls + stats.byOutcome.values.reduce(0, +) + stats.unreadable > 0 else { throw AuditFailure(.noMatch, "no record matched") }
            let out = OutputLines(flushEachLine: false)
            for row in stats.rows {
                if format == .table {
                    out.write("\(row.dimension.padding(toLength: 10, withPad: " ", startingAt: 0))  \(row.key.padding(toLength: 40, withPad: " ", startingAt: 0))  \(row.count)")
                } else {
                    var line = "{\"count\":\(row.count),\"dimension\":"
                    line += AuditCommands.jsonString(row.dimension) + ",\"key\":" + AuditCommands.jsonString(row.key) + "}"
                    out.write(line)
                }
            }
            out.flush()
        }
    }
}

/// Prints a query's entries as they are read.
enum AuditPrinter {
    static func print(_ query: AuditQuery, stream: String, format: AuditFormat) async throws {
        try await AuditCommands.broker { connection in
            let out = OutputLines(flushEachLine: query.follow)
            if let header = format.header { out.write(header) }
            let (matched, _) = try await query.run(AuditStreamReader(connection: connection, stream: stream)) { entry in
                out.write(format.line(entry))
            }
            out.flush()
            if matched == 0 { throw AuditFailure(.noMatch, "no record matched") }
        }
    }
}

extension AuditCommands {
    static func jsonString(_ text: String) -> String {
        String(decoding: (try? JSONEncoder().encode(text)) ?? Data("\"\"".utf8), as: UTF8.self)
    }
}
