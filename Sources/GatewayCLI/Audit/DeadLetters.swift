import ArgumentParser
import Audit
import Foundation
import Shared

/// `mcpgw dead-letters`: what the workers and the broker refused, why, whether it started, and a
/// deliberate requeue or purge.
struct DeadLetters: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dead-letters",
        abstract: "Inspect, requeue or purge the dead-letter queue (AMQP_DEAD_LETTER_QUEUE).",
        discussion: """
            Reading never takes a message off the queue. The reason is the broker's (rejected, expired, delivery_limit) and, \
            with ENVELOPE_SIGNING_KEY set, the worker's check of the envelope (envelope_bad_signature, ...). STARTED says \
            whether the call ledger has a row for the call (DATABASE_URL). Exit codes as for `mcpgw audit`.
            """,
        subcommands: [List.self, Show.self, Requeue.self, Purge.self]
    )

    struct Options: ParsableArguments {
        @Option(help: "The dead-letter queue (default: AMQP_DEAD_LETTER_QUEUE, else mcp.dead).") var queue: String?
        @Option(name: .short, help: "table (the default) or json.") var output: String = "table"

        func queueName() throws -> String {
            try queue ?? GatewayTopology(environment: EnvironmentReader()).deadLetterQueue
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the dead letters with their reason.")
        @OptionGroup var options: Options

        func run() async throws {
            let json = options.output == "json"
            try await DeadLetters.session(options, ids: [], all: true) { letters, started, _ in
                guard !letters.isEmpty else { throw AuditFailure(.noMatch, "the dead-letter queue is empty") }
                DeadLetters.print(letters, started: started, json: json)
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show dead letters of some calls, with their envelope.")
        @Argument(help: "Call ids.") var ids: [String]
        @OptionGroup var options: Options

        func run() async throws {
            let json = options.output == "json"
            try await DeadLetters.session(options, ids: ids, all: false) { letters, started, _ in
                DeadLetters.print(letters, started: started, json: json)
                if !json {
                    for letter in letters {
                        guard let request = letter.request else { continue }
                        Swift.print("\(letter.callID): deadline \(AuditTime.format(request.deadline)), issued \(AuditTime.format(request.issuedAt))")
                        Swift.print("  arguments \(AuditFormat.jsonText(request.arguments))")
                    }
                }
            }
        }
    }

    struct Requeue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send dead letters back to their server's queue, as they were (signed envelope, same call id).",
            discussion: """
                Only letters that may run are requeued: a valid envelope (when ENVELOPE_SIGNING_KEY is set), a deadline not passed, \
                and no row in the call ledger (a call that started is never run twice; the worker would answer it from the ledger). \
                --force requeues the others too.
                """
        )
        @Argument(help: "Call ids (or --all).") var ids: [String] = []
        @Flag(help: "Every dead letter.") var all = false
        @Flag(help: "Do not ask for confirmation.") var yes = false
        @Flag(help: "Requeue letters that cannot run too (expired, refused, started).") var force = false
        @OptionGroup var options: Options

        func run() async throws {
            let (yes, force) = (self.yes, self.force)
            try await DeadLetters.session(options, ids: ids, all: all) { letters, started, queue in
                let chosen = letters.filter { force || ($0.mayRun() && started[$0.callID] == false) }
                for letter in letters where !chosen.contains(where: { $0.delivery.deliveryTag == letter.delivery.deliveryTag }) {
                    Swift.print("skipped \(letter.callID): \(DeadLetters.whyNot(letter, started: started[letter.callID]))")
                }
                guard !chosen.isEmpty else { throw AuditFailure(.noMatch, "no dead letter may be requeued") }
                try DeadLetters.confirm("requeue \(chosen.count) dead letter(s)", yes: yes)
                let exchange = try GatewayTopology(environment: EnvironmentReader()).requestsExchange
                for letter in chosen {
                    try await queue.requeue(letter, exchange: exchange)
                    Swift.print("requeued \(letter.callID) to \(letter.server ?? "?")")
                }
            }
        }
    }

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete dead letters for good.")
        @Argument(help: "Call ids (or --all).") var ids: [String] = []
        @Flag(help: "Every dead letter.") var all = false
        @Flag(help: "Do not ask for confirmation.") var yes = false
        @OptionGroup var options: Options

        func run() async throws {
            let yes = self.yes
            try await DeadLetters.session(options, ids: ids, all: all) { letters, _, queue in
                try DeadLetters.confirm("delete \(letters.count) dead letter(s) for good", yes: yes)
                for letter in letters {
                    try await queue.purge(letter)
                    Swift.print("purged \(letter.callID)")
                }
            }
        }
    }

    /// Reads the queue, picks the letters named (or all), looks up the ledger, runs `body`.
    static func session(
        _ options: Options, ids: [String], all: Bool,
        _ body: @Sendable ([DeadLetter], [String: Bool?], DeadLetterQueue) async throws -> Void
    ) async throws {
        try await AuditCommands.run {
            guard options.output == "table" || options.output == "json" else { throw AuditFailure(.malformedInput, "-o '\(options.output)' is not table or json") }
            guard all || !ids.isEmpty else { throw AuditFailure(.malformedInput, "name call ids, or --all") }
            let wanted = Set(try ids.map { id throws(AuditFailure) in try AuditCommands.callID(id) })
            let queueName = try options.queueName()
            let environment = EnvironmentReader()
            var codec: SignedEnvelopeCodec?
            if environment.string(EnvelopeSigningConfiguration.Variable.key) != nil {
                codec = SignedEnvelopeCodec(signer: try EnvelopeSigner(environment: environment))
            }
            let checker = codec
            try await AuditCommands.broker { connection in
                let queue = DeadLetterQueue(connection: connection, queue: queueName, codec: checker)
                let letters = try await queue.peek().filter { all || wanted.contains($0.callID) }
                if !wanted.isEmpty, let missing = wanted.first(where: { id in !letters.contains { $0.callID == id } }) {
                    throw AuditFailure(.unknownCallID, "no dead letter of call \(missing) on \(queueName)")
                }
                var started: [String: Bool?] = [:]
                let ids = letters.map(\.callID).filter { UUID(uuidString: $0) != nil }
                do {
                    try await DatabaseSession.with { client in
                        for id in ids { started[id] = try await LedgerRow.find(id, in: client) != nil }
                    }
                } catch {
                    for id in ids { started[id] = .some(nil) }
                    FileHandle.standardError.write(Data("warning: the call ledger cannot be read (\(error)); STARTED unknown\n".utf8))
                }
                try await body(letters, started, queue)
            }
        }
    }

    static func print(_ letters: [DeadLetter], started: [String: Bool?], json: Bool) {
        if !json {
            Swift.print(
                ["CALL ID".padding(toLength: 36, withPad: " ", startingAt: 0), "SERVER      ", "TOOL                ", "REASON          ", "ENVELOPE              ", "STARTED", "MAY RUN"]
                    .joined(separator: "  ")
            )
        }
        for letter in letters {
            let startedText = started[letter.callID].map { $0.map { $0 ? "yes" : "no" } ?? "?" } ?? "?"
            if json {
                var fields = [
                    "\"callId\":\(AuditCommands.jsonString(letter.callID))", "\"reason\":\(AuditCommands.jsonString(letter.reason))",
                    "\"mayRun\":\(letter.mayRun())",
                ]
                if let server = letter.server { fields.append("\"server\":\(AuditCommands.jsonString(server))") }
                if let tool = letter.tool { fields.append("\"tool\":\(AuditCommands.jsonString(tool))") }
                if let queue = letter.queue { fields.append("\"queue\":\(AuditCommands.jsonString(queue))") }
                if let envelope = letter.envelope { fields.append("\"envelope\":\(AuditCommands.jsonString(envelope))") }
                if let count = letter.count { fields.append("\"count\":\(count)") }
                if let at = letter.deadLetteredAt { fields.append("\"deadLetteredAt\":\(AuditCommands.jsonString(AuditTime.format(at)))") }
                if let value = started[letter.callID], let known = value { fields.append("\"started\":\(known)") }
                Swift.print("{" + fields.sorted().joined(separator: ",") + "}")
            } else {
                Swift.print(
                    [
                        letter.callID.padding(toLength: 36, withPad: " ", startingAt: 0), (letter.server ?? "").padding(toLength: 12, withPad: " ", startingAt: 0),
                        (letter.tool ?? "").padding(toLength: 20, withPad: " ", startingAt: 0), letter.reason.padding(toLength: 16, withPad: " ", startingAt: 0),
                        (letter.envelope ?? "not checked").padding(toLength: 22, withPad: " ", startingAt: 0), startedText.padding(toLength: 7, withPad: " ", startingAt: 0),
                        letter.mayRun() && started[letter.callID] == false ? "yes" : "no",
                    ].joined(separator: "  ")
                )
            }
        }
    }

    static func whyNot(_ letter: DeadLetter, started: Bool??) -> String {
        if let envelope = letter.envelope, envelope != "valid" { return "refused envelope (\(envelope))" }
        if letter.request == nil { return "not a readable request envelope" }
        if letter.request?.isExpired() == true { return "its deadline has passed" }
        switch started {
        case .some(.some(true)): return "the call started (ledger row): it is never run twice"
        default: return "the ledger cannot tell whether it started"
        }
    }

    /// Asks on the terminal unless `yes`; without a terminal, refuses.
    static func confirm(_ action: String, yes: Bool) throws {
        if yes { return }
        guard isatty(STDIN_FILENO) == 1 else { throw AuditFailure(.refused, "\(action): add --yes to confirm (stdin is not a terminal)") }
        FileHandle.standardError.write(Data("\(action)? [y/N] ".utf8))
        guard let answer = readLine(), ["y", "yes"].contains(answer.lowercased()) else { throw AuditFailure(.refused, "not confirmed") }
    }
}
