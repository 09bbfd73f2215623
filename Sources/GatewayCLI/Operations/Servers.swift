import ArgumentParser
import Foundation
import Shared
import Worker

/// `mcpgw servers ...`: the MCP server catalog in PostgreSQL.
struct Servers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage the MCP server catalog.",
        subcommands: [List.self, Add.self, Enable.self, Disable.self, Remove.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List every server (commands and URLs, never environment values).")

        func run() async throws {
            let servers = try await DatabaseSession.with { try await ServerCatalog(database: $0).all() }
            if servers.isEmpty { print("No servers. Add one with 'mcpgw servers add'.") }
            for server in servers {
                let target = server.transport == .stdio ? ([server.command ?? ""] + server.arguments).joined(separator: " ") : server.url ?? ""
                let state = server.enabled ? "enabled" : "disabled"
                print("\(server.id)\t\(server.transport.rawValue)\t\(state)\t\(server.displayName)\t\(target)")
            }
        }
    }

    /// Adds a server, or replaces the one with the same id.
    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add or replace a server.")

        @Option(help: "Server id: lower-case letters, digits, '-' and '_' (e.g. github).") var id: String
        @Option(help: "Display name.") var name: String?
        @Option(help: "streamable_http, sse or stdio.") var transport: String
        @Option(help: "URL of an HTTP server.") var url: String?
        @Option(help: "Command of a stdio server.") var command: String?
        @Option(name: .customLong("arg"), help: "An argument of the stdio command (repeat for more).") var arguments: [String] = []
        @Option(name: .customLong("env"), help: "NAME=value for the stdio server's environment (repeat for more).") var environment: [String] = []
        @Option(help: "Default call timeout in milliseconds.") var timeoutMs: Int = 60_000
        @Flag(help: "Add it disabled.") var disabled = false

        func run() async throws {
            guard RequestEnvelope.isValidServerID(id) else {
                throw OperatorError("'\(id)' is not a valid server id (lower-case letters, digits, '-' and '_', starting with a letter or digit)")
            }
            guard let kind = ServerRecord.Transport(rawValue: transport) else {
                throw OperatorError("no transport '\(transport)'\(suggestion(for: transport, among: ServerRecord.Transport.allCases.map(\.rawValue)))")
            }
            var variables: [String: String] = [:]
            for pair in environment {
                guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else { throw OperatorError("--env takes NAME=value, got '\(pair)'") }
                variables[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
            }
            if kind == .stdio, command == nil { throw OperatorError("a stdio server needs --command") }
            if kind != .stdio, url.flatMap(URL.init(string:))?.scheme == nil { throw OperatorError("an HTTP server needs --url (http:// or https://)") }
            let record = ServerRecord(
                id: id, displayName: name ?? id, transport: kind, url: url, command: command, arguments: arguments, environment: variables,
                timeoutMilliseconds: timeoutMs, enabled: !disabled
            )
            try await DatabaseSession.with { try await ServerCatalog(database: $0).upsert(record) }
            print("Server '\(id)' saved (\(disabled ? "disabled" : "enabled")). Workers pick it up within WORKER_CATALOG_REFRESH_MS.")
        }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Enable a server.")
        @Argument var id: String
        func run() async throws { try await setEnabled(id, true) }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Disable a server: nobody can reach it until it is enabled again.")
        @Argument var id: String
        func run() async throws { try await setEnabled(id, false) }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a server from the catalog.")
        @Argument var id: String
        func run() async throws {
            try await DatabaseSession.with { client in
                let catalog = ServerCatalog(database: client)
                guard try await catalog.remove(id) else { throw try await unknownServer(id, catalog) }
            }
            print("Server '\(id)' removed.")
        }
    }
}

private func setEnabled(_ id: String, _ enabled: Bool) async throws {
    try await DatabaseSession.with { client in
        let catalog = ServerCatalog(database: client)
        guard try await catalog.setEnabled(id, enabled) else { throw try await unknownServer(id, catalog) }
    }
    print("Server '\(id)' \(enabled ? "enabled" : "disabled").")
}

func unknownServer(_ id: String, _ catalog: ServerCatalog) async throws -> OperatorError {
    OperatorError("no server '\(id)'\(suggestion(for: id, among: try await catalog.all().map(\.id)))")
}
