import ArgumentParser
import Foundation
import Logging
import Shared
import Worker

/// `mcpgw servers ...`: the MCP server catalog in PostgreSQL.
struct Servers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage the MCP server catalog.",
        subcommands: [List.self, Status.self, Add.self, Update.self, Enable.self, Disable.self, Test.self, Remove.self]
    )

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Each server's circuit breakers on the live workers: which are open or half-open, since when, and why.",
            discussion: "Exit status 3 when some breaker is not closed (for scripts and probes)."
        )

        func run() async throws {
            let (servers, circuits) = try await DatabaseSession.with { database in
                (try await ServerCatalog(database: database).all(), try await BackendCircuits.notClosed(database: database))
            }
            if servers.isEmpty { print("No servers. Add one with 'mcpgw servers add'.") }
            for server in servers {
                let open = circuits.filter { $0.server == server.id }
                let state = !server.enabled ? "disabled" : open.isEmpty ? "ok (every breaker closed)" : "degraded"
                print("\(server.id)\t\(server.transport.rawValue)\t\(state)")
                for circuit in open {
                    let since = circuit.since.formatted(.iso8601)
                    print("  \(circuit.worker): \(circuit.state.replacingOccurrences(of: "_", with: "-")) since \(since)\(circuit.lastError.map { ": \($0)" } ?? "")")
                }
            }
            if !circuits.isEmpty { throw ExitCode(3) }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List every server (commands and URLs, never environment values).")

        func run() async throws {
            let servers = try await DatabaseSession.with { try await ServerCatalog(database: $0).all() }
            if servers.isEmpty { print("No servers. Add one with 'mcpgw servers add'.") }
            for server in servers {
                let target = server.transport == .stdio ? ([server.command ?? ""] + server.arguments).joined(separator: " ") : server.url ?? ""
                let state = (server.enabled ? "enabled" : "disabled") + (server.credentialRequired ? ",credential-required" : "")
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
        @Option(
            name: .customLong("env"),
            help: "NAME=value for the stdio server's environment (repeat for more). Stored as plain text: put secrets in 'credentials set --env'."
        ) var environment: [String] = []
        @Flag(help: "Accept --env names that look like secrets (TOKEN, SECRET, PASSWORD, KEY, ...) in plain text anyway.")
        var plaintextSecretsOK = false
        @Option(help: "Default call timeout in milliseconds.") var timeoutMs: Int = 60_000
        @Flag(help: "Add it disabled.") var disabled = false
        @Flag(help: "Calls need a tenant credential ('credentials set'); without one they are refused.") var credentialRequired = false

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
                let name = String(pair[..<equals])
                if !plaintextSecretsOK, ServerRecord.looksLikeSecret(name) {
                    throw OperatorError(
                        "--env \(name) looks like a secret, and a server's environment is stored as plain text; seal it per tenant with 'mcpgw credentials set --tenant T --server \(id) --env \(name)' (or pass --plaintext-secrets-ok)"
                    )
                }
                variables[name] = String(pair[pair.index(after: equals)...])
            }
            if kind == .stdio, command == nil { throw OperatorError("a stdio server needs --command") }
            if kind != .stdio, url.flatMap(URL.init(string:))?.scheme == nil { throw OperatorError("an HTTP server needs --url (http:// or https://)") }
            let record = ServerRecord(
                id: id, displayName: name ?? id, transport: kind, url: url, command: command, arguments: arguments, environment: variables,
                timeoutMilliseconds: timeoutMs, enabled: !disabled, credentialRequired: credentialRequired
            )
            try await DatabaseSession.with { try await ServerCatalog(database: $0).upsert(record) }
            print("Server '\(id)' saved (\(disabled ? "disabled" : "enabled")). Workers pick it up within WORKER_CATALOG_REFRESH_MS.")
        }
    }

    /// Changes some settings of an existing server, keeping the others.
    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change settings of an existing server (others are kept).")

        @Argument var id: String
        @Option(help: "Display name.") var name: String?
        @Option(help: "streamable_http, sse or stdio.") var transport: String?
        @Option(help: "URL of an HTTP server.") var url: String?
        @Option(help: "Command of a stdio server.") var command: String?
        @Option(name: .customLong("arg"), help: "Replace the stdio arguments (repeat for more).") var arguments: [String] = []
        @Option(help: "Default call timeout in milliseconds.") var timeoutMs: Int?
        @Option(help: "true or false: calls need a tenant credential.") var credentialRequired: Bool?

        func run() async throws {
            try await DatabaseSession.with { client in
                let catalog = ServerCatalog(database: client)
                guard var record = try await catalog.all().first(where: { $0.id == id }) else { throw try await unknownServer(id, catalog) }
                if let transport {
                    guard let kind = ServerRecord.Transport(rawValue: transport) else {
                        throw OperatorError("no transport '\(transport)'\(suggestion(for: transport, among: ServerRecord.Transport.allCases.map(\.rawValue)))")
                    }
                    record.transport = kind
                }
                if let name { record.displayName = name }
                if let url {
                    guard URL(string: url)?.scheme.map({ ["http", "https"].contains($0) }) == true else { throw OperatorError("--url must be http:// or https://, got '\(url)'") }
                    record.url = url
                }
                if let command { record.command = command }
                if !arguments.isEmpty { record.arguments = arguments }
                if let timeoutMs { record.timeoutMilliseconds = timeoutMs }
                if let credentialRequired { record.credentialRequired = credentialRequired }
                if record.transport == .stdio, (record.command ?? "").isEmpty { throw OperatorError("a stdio server needs --command") }
                if record.transport != .stdio, (record.url ?? "").isEmpty { throw OperatorError("an HTTP server needs --url") }
                try await catalog.upsert(record)
            }
            print("Server '\(id)' updated.")
        }
    }

    /// Connects to the server as a worker would and lists its tools.
    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Connect to a server (as a worker would) and list its tools; --tenant uses that tenant's credential (needs CREDENTIALS_KEY).")
        @Argument var id: String
        @Option(help: "Use this tenant's credential for the server.") var tenant: String?
        @Option(help: "Give up after this many milliseconds.") var timeoutMs: Int = 20_000

        func run() async throws {
            var logger = Logger(label: "mcpgw")
            logger.logLevel = .error
            let record = try await DatabaseSession.with { client -> ServerRecord in
                let catalog = ServerCatalog(database: client)
                guard var record = try await catalog.all().first(where: { $0.id == id }) else { throw try await unknownServer(id, catalog) }
                if let tenant {
                    try await requireTenant(tenant, client)
                    let keyring = try CredentialKeyring(environment: EnvironmentReader())
                    record.credential = try await CredentialStore(database: client, keyring: keyring).resolve(tenant: tenant, server: id)
                    if record.credential == nil { print("Tenant '\(tenant)' has no credential for '\(id)' (nor a share of the platform's).") }
                }
                return record
            }
            let pool = MCPBackendPool(logger: logger)
            let executor = MCPToolExecutor(pool: pool, logger: logger)
            let tools: [JSONValue]
            do {
                tools = try await executor.listTools(
                    on: record, deadline: Date().addingTimeInterval(Double(timeoutMs) / 1000), purpose: .call, callID: "mcpgw-servers-test"
                ).tools
            } catch {
                await pool.shutdown()
                throw OperatorError("server '\(id)' failed the test: \(error.message)\(error.detail.map { " (\($0))" } ?? "")")
            }
            await pool.shutdown()
            print("Server '\(id)' answered with \(tools.count) tool(s)\(record.credential.map { ", using \($0.sourceDescription)" } ?? ""):")
            for tool in tools { print("  \(tool["name"]?.stringValue ?? "?")") }
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
