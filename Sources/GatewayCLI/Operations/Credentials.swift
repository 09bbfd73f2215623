import ArgumentParser
import Foundation
import Shared
import Worker

/// `mcpgw credentials ...`: each tenant's backend credentials, sealed with `CREDENTIALS_KEY`.
/// Values are read from stdin or a file, never from the command line (where `ps` and shell
/// history would keep them), and are never printed.
struct Credentials: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Set, list (without values), share and re-seal backend credentials per tenant and server.",
        subcommands: [Set.self, List.self, Remove.self, Share.self, Unshare.self, RotateKey.self]
    )

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set one credential; the value comes from stdin, or from --file.",
            discussion: """
                HTTP servers (streamable_http, sse) get headers: --bearer (Authorization: Bearer <value>) or --header NAME \
                (an API key, e.g. --header X-Api-Key). stdio servers get environment variables: --env NAME. \
                Use --tenant platform for the platform's own credentials (used only where shared with 'credentials share').
                """)
        @Option(help: "The tenant ('platform' for the platform's own).") var tenant: String
        @Option(help: "The server.") var server: String
        @Flag(help: "Send the value as 'Authorization: Bearer <value>'.") var bearer = false
        @Option(help: "Send the value in this HTTP header (API keys).") var header: String?
        @Option(help: "Set the value as this environment variable of a stdio server.") var env: String?
        @Option(help: "Read the value from this file instead of stdin.") var file: String?

        func validate() throws {
            guard [bearer, header != nil, env != nil].filter({ $0 }).count == 1 else {
                throw ValidationError("say where the credential goes: exactly one of --bearer, --header NAME, --env NAME")
            }
        }

        func run() async throws {
            let keyring = try CredentialKeyring(environment: EnvironmentReader())
            var value = try readSecret(file: file)
            let (target, name): (CredentialStore.Target, String) = env.map { (.env, $0) } ?? (.header, header ?? "Authorization")
            if bearer { value = Array("Bearer ".utf8) + value }
            try await DatabaseSession.with { client in
                try await requireTenant(tenant, client, allowPlatform: true)
                let catalog = ServerCatalog(database: client)
                guard let record = try await catalog.all().first(where: { $0.id == server }) else { throw try await unknownServer(server, catalog) }
                if record.transport == .stdio && target == .header {
                    throw OperatorError("'\(server)' is a stdio server: it takes environment variables, not headers; use --env NAME")
                }
                if record.transport != .stdio && target == .env {
                    throw OperatorError("'\(server)' is an HTTP server (\(record.transport.rawValue)): it takes headers; use --bearer or --header NAME")
                }
                try await CredentialStore(database: client, keyring: keyring).set(tenant: tenant, server: server, target: target, name: name, value: value)
            }
            print("Credential \(target.rawValue) '\(name)' of tenant '\(tenant)' for '\(server)' sealed under key '\(keyring.currentKeyID)'.")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Which credentials exist (never their values), and the shares of the platform's.")
        @Option var tenant: String?
        @Option var server: String?
        func run() async throws {
            let (entries, shares) = try await DatabaseSession.with { client in
                let store = CredentialStore(database: client, keyring: nil)
                return (try await store.list(tenant: tenant, server: server), try await store.shares())
            }
            if entries.isEmpty { print("No credentials.") }
            for entry in entries {
                print("\(entry.tenant)\t\(entry.server)\t\(entry.target.rawValue) \(entry.name)\tkey \(entry.keyID)\tupdated \(entry.updatedAt.formatted(.iso8601))")
            }
            for share in shares where (tenant == nil || share.tenant == tenant) && (server == nil || share.server == server) {
                print("\(share.tenant)\t\(share.server)\tuses the platform's credential (shared)")
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a tenant's credentials for a server (all, or one --header/--env name).")
        @Option var tenant: String
        @Option var server: String
        @Option var header: String?
        @Option var env: String?
        func run() async throws {
            let target: CredentialStore.Target? = header != nil ? .header : env != nil ? .env : nil
            let removed = try await DatabaseSession.with {
                try await CredentialStore(database: $0, keyring: nil).remove(tenant: tenant, server: server, target: target, name: header ?? env)
            }
            guard removed > 0 else { throw OperatorError("tenant '\(tenant)' has no such credential for '\(server)'; see 'mcpgw credentials list'") }
            print("Removed \(removed) credential(s).")
        }
    }

    struct Share: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Let a tenant use the platform's credential for a server: an explicit, listed grant, never a fallback.")
        @Option var tenant: String
        @Option var server: String
        func run() async throws {
            try await DatabaseSession.with { client in
                try await requireTenant(tenant, client)
                try await requireServer(server, client, allowAll: false)
                _ = try await CredentialStore(database: client, keyring: nil).share(tenant: tenant, server: server)
            }
            print("Tenant '\(tenant)' now uses the platform's credential for '\(server)' (when it has none of its own).")
        }
    }

    struct Unshare: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop a tenant using the platform's credential for a server.")
        @Option var tenant: String
        @Option var server: String
        func run() async throws {
            let removed = try await DatabaseSession.with { try await CredentialStore(database: $0, keyring: nil).unshare(tenant: tenant, server: server) }
            guard removed else { throw OperatorError("tenant '\(tenant)' has no share of the platform's credential for '\(server)'") }
            print("Share removed.")
        }
    }

    struct RotateKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-key",
            abstract: "Re-seal every credential under the current CREDENTIALS_KEY (old keys in CREDENTIALS_KEYS_PREVIOUS).",
            discussion: """
                The safe order: (1) give every worker the new key as a previous key \
                (CREDENTIALS_KEYS_PREVIOUS=new-id:new-key, restart them); (2) run this with the new key as \
                CREDENTIALS_KEY/CREDENTIALS_KEY_ID and the old one as CREDENTIALS_KEYS_PREVIOUS=old-id:old-key; \
                (3) make the new key current on the workers and keep the old one previous; (4) drop the old key. \
                This refuses to re-seal while a live worker does not hold the new key (it could not open the \
                re-sealed values); --force skips that check.
                """
        )
        @Flag(help: "Re-seal even though some live worker does not hold the new key.") var force = false

        func run() async throws {
            let keyring = try CredentialKeyring(environment: EnvironmentReader())
            let count = try await DatabaseSession.with { database in
                if !force, let fingerprint = keyring.fingerprint(of: keyring.currentKeyID) {
                    let lacking = try await CredentialStore.liveWorkersLacking(keyID: keyring.currentKeyID, fingerprint: fingerprint, database: database)
                    guard lacking.isEmpty else {
                        throw OperatorError(
                            "refused: these running workers do not hold key '\(keyring.currentKeyID)' and could not open what it seals: \(lacking.map(\.description).joined(separator: ", ")); give them the key in CREDENTIALS_KEYS_PREVIOUS first (or --force)"
                        )
                    }
                }
                return try await CredentialStore(database: database, keyring: keyring).resealUnderCurrentKey()
            }
            print("Re-sealed \(count) credential(s) under key '\(keyring.currentKeyID)'.")
        }
    }
}

/// The secret from a file or stdin, without one trailing newline; refuses an empty one.
private func readSecret(file: String?) throws -> [UInt8] {
    var bytes: [UInt8]
    if let file {
        guard let data = FileManager.default.contents(atPath: file) else { throw OperatorError("cannot read the file '\(file)'") }
        bytes = Array(data)
    } else {
        bytes = Array(FileHandle.standardInput.readDataToEndOfFile())
    }
    if bytes.last == UInt8(ascii: "\n") { bytes.removeLast() }
    if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
    guard !bytes.isEmpty else { throw OperatorError("the credential is empty: pipe it on stdin (printf %s \"$TOKEN\" | mcpgw credentials set ...) or use --file") }
    return bytes
}
