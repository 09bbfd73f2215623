import ArgumentParser
import Audit
import Foundation
import Logging
import Shared

/// The filters every reading command takes (they combine: all must match).
/// Which records a read covers: `--from`, `--to`, `--limit`, with the filters, as one query.
struct AuditRangeOptions: ParsableArguments {
    @Option(help: "Where to start: first, last, OFFSET or TIME.") var from: String = "first"
    @Option(help: "Where to stop (inclusive): last, OFFSET or TIME.") var to: String?
    @Option(help: "Stop after this many matching records.") var limit: Int?

    func query(filters: AuditFilterOptions, now: Date = .now) throws(AuditFailure) -> AuditQuery {
        var query = AuditQuery()
        query.from = try AuditPosition.parse(from, now: now)
        query.to = try to.map { text throws(AuditFailure) in try AuditPosition.parse(text, now: now) }
        query.filter = try filters.filter(now: now)
        query.limit = limit
        return query
    }
}

struct AuditFilterOptions: ParsableArguments {
    @Option(name: .customLong("call-id"), help: "A call id (repeatable).") var callID: [String] = []
    @Option(help: "The caller: subject, object id or user name.") var user: String?
    @Option(help: "The caller's tenant id (tid).") var tenant: String?
    @Option(help: "The MCP server.") var server: String?
    @Option(help: "The tool.") var tool: String?
    @Option(help: "The call kind: tools/call, tools/list, servers/list, gateway/explain, catalog/tools.") var kind: String?
    @Option(help: "The record type: request, outcome or unreadable.") var type: String?
    @Option(help: "The outcome: ok, error (any error) or an error code (forbidden, backend_error, ...); outcome records only.") var outcome: String?
    @Option(help: "Only records of this recent past (2h, 30m, 7d) or since a time (2026-12-07T10:00:00Z).") var since: String?

    func filter(now: Date = .now) throws(AuditFailure) -> AuditFilter {
        var filter = AuditFilter()
        filter.callIDs = Set(try callID.map { id throws(AuditFailure) in try AuditCommands.callID(id) })
        filter.user = user
        filter.tenant = tenant
        filter.server = server
        filter.tool = tool
        if let kind {
            guard CallKind(rawValue: kind) != nil else {
                throw AuditFailure(.malformedInput, "--kind '\(kind)' is not one of \(CallKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            filter.kind = kind
        }
        if let type {
            guard let recordType = AuditEntry.RecordType(rawValue: type) else {
                throw AuditFailure(.malformedInput, "--type '\(type)' is not one of request, outcome, unreadable")
            }
            filter.type = recordType
        }
        if let outcome {
            guard outcome == "ok" || outcome == "error" || GatewayErrorCode(rawValue: outcome) != nil else {
                throw AuditFailure(.malformedInput, "--outcome '\(outcome)' is not ok, error or a gateway error code (forbidden, backend_error, ...)")
            }
            filter.outcome = outcome
        }
        if let since { filter.since = try AuditTime.instant(since, now: now) }
        return filter
    }
}

/// Where the records are and how they are printed.
struct AuditOutputOptions: ParsableArguments {
    @Option(name: .customLong("stream"), help: "The audit stream (default: AMQP_AUDIT_STREAM, else mcp.audit).") var stream: String?
    @Option(name: [.short, .customLong("output-format")], help: "table (the default) or json (one JSON object a line).") var output: String = "table"

    func format() throws(AuditFailure) -> AuditFormat {
        switch output {
        case "table": return .table
        case "json", "jsonl": return .json
        default: throw AuditFailure(.malformedInput, "-o '\(output)' is not table or json")
        }
    }

    func streamName() throws -> String {
        try stream ?? GatewayTopology(environment: EnvironmentReader()).auditStream
    }
}

/// What the audit commands share: the broker session, exit codes, output.
enum AuditCommands {
    /// Runs `body`; an ``AuditFailure`` becomes `error: <message>` on stderr and its exit status.
    static func run(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let failure as AuditFailure {
            FileHandle.standardError.write(Data("error: \(failure.message)\n".utf8))
            throw ExitCode(failure.code.exitStatus)
        }
    }

    static func broker<T: Sendable>(_ body: @Sendable (AMQPConnection) async throws -> T) async throws -> T {
        var configuration = try AMQPConfiguration(environment: EnvironmentReader(), connectionName: "mcpgw")
        configuration.reconnectMinimum = .milliseconds(100)
        configuration.reconnectMaximum = .seconds(1)
        var logger = Logger(label: "mcpgw")
        logger.logLevel = .critical
        return try await BrokerSession.with(configuration, logger: logger, body)
    }

    /// A call id as the gateway writes it (a lower-case UUID).
    static func callID(_ text: String) throws(AuditFailure) -> String {
        guard let uuid = UUID(uuidString: text) else { throw AuditFailure(.malformedInput, "'\(text)' is not a call id (a UUID)") }
        return uuid.uuidString.lowercased()
    }

    static var stdoutIsTerminal: Bool { isatty(STDOUT_FILENO) == 1 }
    static var stderrIsTerminal: Bool { isatty(STDERR_FILENO) == 1 }
}

/// Standard output with a buffer: lines are flushed every 64 KB, or each one when following.
final class OutputLines {
    private var buffer: [UInt8] = []
    private let flushEachLine: Bool

    init(flushEachLine: Bool) {
        self.flushEachLine = flushEachLine
    }

    func write(_ line: String) {
        buffer.append(contentsOf: line.utf8)
        buffer.append(0x0A)
        if flushEachLine || buffer.count >= 65_536 { flush() }
    }

    func flush() {
        guard !buffer.isEmpty else { return }
        FileHandle.standardOutput.write(Data(buffer))
        buffer.removeAll(keepingCapacity: true)
    }
}
