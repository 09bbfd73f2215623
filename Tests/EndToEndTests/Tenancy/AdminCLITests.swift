import Foundation
import Shared
import TestSupport
import Testing
import Worker

/// `mcpgw` as an operator runs it, against a schema of the test's own: seed, tenants, grants,
/// credentials from stdin (never argv, never printed), explain, import, and errors that name
/// what is wrong with a suggestion and exit non-zero.
@Suite struct AdminCLITests {
    struct Run {
        var status: Int32
        var output: String
        var error: String
    }

    static func mcpgw() throws -> URL {
        let executable = try #require(Bundle.main.executableURL).deletingLastPathComponent().appending(path: "mcpgw")
        try #require(FileManager.default.isExecutableFile(atPath: executable.path), "\(executable.path) is missing: build every product first")
        return executable
    }

    static func run(
        _ database: PostgresTestDatabase, _ arguments: [String], stdin: String? = nil, key: String? = nil, extra: [String: String] = [:]
    ) throws -> Run {
        let process = Process()
        process.executableURL = try mcpgw()
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["DATABASE_URL"] = "\(database.databaseURL)?options=-c%20search_path%3D\(database.schema)"
        environment["CREDENTIALS_KEY"] = key
        environment["CREDENTIALS_KEY_ID"] = key == nil ? nil : "cli-k1"
        environment.merge(extra) { _, new in new }
        process.environment = environment
        let output = Pipe(), error = Pipe(), input = Pipe()
        process.standardOutput = output
        process.standardError = error
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = error.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, output: String(decoding: outputData, as: UTF8.self), error: String(decoding: errorData, as: UTF8.self))
    }

    static let key = Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()

    @Test func anOperatorSetsAndRemovesLimitsAndReadsServerStatus() async throws {
        try await PostgresTestDatabase.withSchema { database in
            func run(_ arguments: [String]) throws -> Run { try Self.run(database, arguments) }
            #expect(try run(["migrate"]).status == 0)
            #expect(try run(["seed"]).status == 0)
            #expect(try run(["limits", "list"]).output.contains("No limits"))
            #expect(try run(["limits", "set", "--every-user", "--rate", "120", "--burst", "20"]).status == 0)
            #expect(try run(["limits", "set", "--tenant", "google", "--server", "github", "--concurrency", "5"]).status == 0)
            let listed = try run(["limits", "list"]).output
            #expect(listed.contains("user\t*\tserver *\t120/min (burst 20)"), "\(listed)")
            #expect(listed.contains("tenant\tgoogle\tserver github\t5 at once"), "\(listed)")
            // Bad input: a clear message, a non-zero status, nothing changed.
            for (arguments, text) in [
                (["limits", "set", "--tenant", "nope", "--rate", "1"], "no tenant 'nope'"),
                (["limits", "set", "--user", "alice", "--rate", "1"], "'<tid>/<oid>'"),
                (["limits", "set", "--every-user"], "give --rate, --concurrency or both"),
                (["limits", "set", "--every-user", "--every-tenant", "--rate", "1"], "exactly one of"),
                (["limits", "set", "--every-user", "--rate", "0"], "at least 1"),
                (["limits", "remove", "--tenant", "default"], "no such limit"),
            ] {
                let result = try run(arguments)
                #expect(result.status != 0, "\(arguments)")
                #expect((result.error + result.output).contains(text), "\(arguments): \(result.error)")
            }
            #expect(try run(["limits", "list"]).output == listed)
            #expect(try run(["limits", "remove", "--every-user"]).status == 0)
            #expect(!(try run(["limits", "list"]).output.contains("user\t*")))
            // No worker has reported a breaker: every enabled server is fine, exit 0.
            #expect(try run(["servers", "enable", "github"]).status == 0)
            let status = try run(["servers", "status"])
            #expect(status.status == 0, "\(status.error)")
            let github = status.output.split(separator: "\n").first { $0.hasPrefix("github\t") }
            #expect(github?.hasSuffix("\tok (every breaker closed)") == true, "\(status.output)")
        }
    }

    @Test func anOperatorSetsUpTenantsGrantsAndCredentialsAndErrorsSuggestTheFix() async throws {
        try await PostgresTestDatabase.withSchema { database in
            func ok(_ arguments: [String], stdin: String? = nil, key: String? = nil, extra: [String: String] = [:]) throws -> String {
                let result = try Self.run(database, arguments, stdin: stdin, key: key, extra: extra)
                #expect(result.status == 0, "mcpgw \(arguments.joined(separator: " ")): \(result.error)")
                return result.output
            }
            func fails(_ arguments: [String], stdin: String? = nil, key: String? = nil, saying text: String) throws {
                let result = try Self.run(database, arguments, stdin: stdin, key: key)
                #expect(result.status != 0, "mcpgw \(arguments.joined(separator: " ")) should fail")
                #expect((result.error + result.output).contains(text), "mcpgw \(arguments.joined(separator: " ")): \(result.error)")
            }
            _ = try ok(["migrate"])
            #expect(try ok(["seed"]).contains("Seeded 18 servers, 3 tenants"))
            let grants = try ok(["grants", "list"])
            #expect(grants.contains("google\tgroup Tenant-Google\tgithub"))
            #expect(grants.contains("default\tgroup MCP-Admin\t*"))

            // Errors name what is wrong and suggest the fix.
            try fails(["grants", "add-group", "Team", "githb"], saying: "no server 'githb'; did you mean 'github'?")
            try fails(["tenants", "assign-group", "Team", "gogle"], saying: "no tenant 'gogle'; did you mean 'google'?")
            try fails(["rules", "add", "--grant", "999999", "--deny", "x"], saying: "no grant #999999")
            try fails(["grants", "revoke", "abc"], saying: "is not a grant id")
            try fails(["servers", "enable", "slak"], saying: "did you mean 'slack'?")

            // Credentials: from stdin only; a value on the command line is not even an option.
            let secret = "cli-secret-\(UUID().uuidString)"
            try fails(["credentials", "set", "--tenant", "google", "--server", "github", "--bearer"], stdin: secret, saying: "CREDENTIALS_KEY is required")
            try fails(["credentials", "set", "--tenant", "google", "--server", "github", "--bearer", "--value", secret], key: Self.key, saying: "--value")
            try fails(["credentials", "set", "--tenant", "google", "--server", "github", "--env", "TOKEN"], stdin: secret, key: Self.key, saying: "takes headers")
            try fails(["credentials", "set", "--tenant", "google", "--server", "github", "--bearer"], stdin: "", key: Self.key, saying: "the credential is empty")
            #expect(try ok(["credentials", "set", "--tenant", "google", "--server", "github", "--bearer"], stdin: secret + "\n", key: Self.key).contains("sealed under key 'cli-k1'"))
            let listed = try ok(["credentials", "list"])
            #expect(listed.contains("google\tgithub\theader Authorization\tkey cli-k1"))
            #expect(!listed.contains(secret))

            // Explain: tenant, credential (named, not shown), and the deciding grant.
            _ = try ok(["servers", "enable", "github"])
            let allowed = try ok(["explain", "--server", "github", "--tool", "search", "--group", "Tenant-Google"])
            #expect(allowed.contains("ALLOW") && allowed.contains("tenant: google") && allowed.contains("header Authorization"), "\(allowed)")
            #expect(!allowed.contains(secret))
            let denied = try Self.run(database, ["explain", "--server", "github", "--group", "Tenant-AcmeCorp"])
            #expect(denied.status == 2)
            #expect(denied.output.contains("DENY"))
            let noCredential = try Self.run(database, ["explain", "--server", "github", "--group", "Tenant-Microsoft"])
            #expect(noCredential.status == 2)
            #expect(noCredential.output.contains("needs a credential"), "\(noCredential.output)")

            // Tool rules, then the import of a mapping list in the summary's own notation.
            let grantID = try #require(try ok(["grants", "list", "--tenant", "google", "--server", "github"]).split(separator: "\t").first).dropFirst()
            _ = try ok(["rules", "add", "--grant", String(grantID), "--deny", "delete_*"])
            let ruled = try Self.run(database, ["explain", "--server", "github", "--tool", "delete_repo", "--group", "Tenant-Google"])
            #expect(ruled.status == 2)
            #expect(ruled.output.contains("deny 'delete_*'"))
            let list = FileManager.default.temporaryDirectory.appending(path: "mappings-\(UUID().uuidString).txt")
            try "├── Team-Alpha → github, slack\n└── Team-Beta → ALL servers\nteam-gamma,linear\n".write(to: list, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: list) }
            #expect(try ok(["import", list.path]).contains("Imported 4 mappings (4 new)"))
            try "Team-Delta → githb\n".write(to: list, atomically: true, encoding: .utf8)
            try fails(["import", list.path], saying: "line 1: no server 'githb'; did you mean 'github'?")

            // Key rotation: the new key current, the old one previous; every value re-sealed.
            let newKey = Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
            let rotated = try ok(
                ["credentials", "rotate-key"], key: newKey, extra: ["CREDENTIALS_KEY_ID": "cli-k2", "CREDENTIALS_KEYS_PREVIOUS": "cli-k1:\(Self.key)"])
            #expect(rotated.contains("Re-sealed 1 credential(s) under key 'cli-k2'"))
            #expect(try ok(["credentials", "list"]).contains("key cli-k2"))

            // A real server: add, update, test (connects and lists its tools).
            let python = try MCPTestEnvironment.python()
            _ = try ok(["servers", "add", "--id", "fixture", "--transport", "stdio", "--command", python, "--arg", MCPTestEnvironment.fixtureServer,
                "--arg=--transport", "--arg=stdio"])
            _ = try ok(["servers", "update", "fixture", "--timeout-ms", "20000", "--name", "Fixture"])
            let tested = try ok(["servers", "test", "fixture"])
            #expect(tested.contains("Server 'fixture' answered with") && tested.contains("  echo"), "\(tested)")
            try fails(["servers", "update", "fixtur", "--name", "x"], saying: "did you mean 'fixture'?")

            // Administrators of the explain endpoint.
            _ = try ok(["admins", "add", "--group", "Gateway-Admins"])
            #expect(try ok(["admins", "list"]).contains("group\tGateway-Admins"))
            try fails(["admins", "add", "--group", "A", "--role", "B"], saying: "exactly one of")
            try fails(["admins", "remove", "--role", "Nobody"], saying: "is not an administrator")
        }
    }

    /// The rest of the commands, each listed back after it ran: servers list and disable, tenants
    /// add, list and remove, user and role grants and their revocation, rules list and revoke,
    /// credentials from a file, shares of the platform's credential, removal; and the refusal of
    /// a secret-looking variable in a server's plain-text environment.
    @Test func everyListingShowsWhatTheOtherCommandsChanged() async throws {
        try await PostgresTestDatabase.withSchema { database in
            func ok(_ arguments: [String], stdin: String? = nil, key: String? = nil) throws -> String {
                let result = try Self.run(database, arguments, stdin: stdin, key: key)
                #expect(result.status == 0, "mcpgw \(arguments.joined(separator: " ")): \(result.error)")
                return result.output
            }
            func fails(_ arguments: [String], saying text: String) throws {
                let result = try Self.run(database, arguments)
                #expect(result.status != 0, "mcpgw \(arguments.joined(separator: " ")) should fail")
                #expect((result.error + result.output).contains(text), "mcpgw \(arguments.joined(separator: " ")): \(result.error)")
            }
            _ = try ok(["migrate"])
            _ = try ok(["servers", "add", "--id", "wiki", "--transport", "streamable_http", "--url", "http://127.0.0.1:9/mcp"])
            _ = try ok(["servers", "add", "--id", "files", "--transport", "stdio", "--command", "/bin/true", "--env", "ROOT=/srv"])
            try fails(["servers", "add", "--id", "gh", "--transport", "stdio", "--command", "/bin/true", "--env", "GITHUB_TOKEN=ghp_x"],
                saying: "credentials set --tenant T --server gh --env GITHUB_TOKEN")
            #expect(try ok(["servers", "list"]).contains("wiki\tstreamable_http\tenabled"))
            _ = try ok(["servers", "disable", "wiki"])
            #expect(try ok(["servers", "list"]).contains("wiki\tstreamable_http\tdisabled"))

            _ = try ok(["tenants", "add", "initech", "--name", "Initech", "--entra-tenant", "11111111-2222-3333-4444-555555555555"])
            #expect(try ok(["tenants", "list"]).contains("initech\tInitech"))

            _ = try ok(["grants", "add-user", "--entra-tenant", "11111111-2222-3333-4444-555555555555", "--object-id", "oid-9", "--tenant", "initech", "files"])
            #expect(try ok(["grants", "add-user", "--email", "ann@example.com", "files"]).contains("never matches an Entra token"))
            _ = try ok(["grants", "add-role", "Files.Reader", "files", "--tenant", "initech"])
            let listed = try ok(["grants", "list"])
            #expect(listed.contains("initech\tuser 11111111-2222-3333-4444-555555555555/oid-9\tfiles"), "\(listed)")
            #expect(listed.contains("default\tuser ann@example.com\tfiles"))
            #expect(listed.contains("initech\trole Files.Reader\tfiles"))

            let roleGrant = try #require(listed.split(separator: "\n").first { $0.contains("role Files.Reader") }?.split(separator: "\t").first).dropFirst()
            let added = try ok(["rules", "add", "--grant", String(roleGrant), "--allow", "read_*", "--deny", "read_secret*"])
            #expect(added.contains("allow 'read_*'") && added.contains("deny 'read_secret*'"))
            let rules = try ok(["rules", "list"])
            #expect(rules.contains("allow\tread_*\tgrant #\(roleGrant)"), "\(rules)")
            let denyRule = try #require(rules.split(separator: "\n").first { $0.contains("deny\tread_secret*") }?.split(separator: "\t").first).dropFirst()
            _ = try ok(["rules", "revoke", String(denyRule)])
            #expect(!(try ok(["rules", "list"]).contains("read_secret*")))

            _ = try ok(["grants", "revoke-role", "Files.Reader", "files"])
            _ = try ok(["grants", "revoke-user", "--email", "ann@example.com", "files"])
            _ = try ok(["grants", "revoke-user", "--entra-tenant", "11111111-2222-3333-4444-555555555555", "--object-id", "oid-9", "files"])
            #expect(try ok(["grants", "list"]).contains("No grants"))

            // Credentials: from a file; the platform's shared only by an explicit share; removal.
            let file = FileManager.default.temporaryDirectory.appending(path: "credential-\(UUID().uuidString)")
            try "from-a-file-\(UUID().uuidString)\n".write(to: file, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: file) }
            _ = try ok(["credentials", "set", "--tenant", "initech", "--server", "files", "--env", "FILES_TOKEN", "--file", file.path], key: Self.key)
            _ = try ok(["credentials", "set", "--tenant", "platform", "--server", "wiki", "--header", "X-Api-Key"], stdin: "platform-key", key: Self.key)
            _ = try ok(["credentials", "share", "--tenant", "initech", "--server", "wiki"])
            let credentials = try ok(["credentials", "list"])
            #expect(credentials.contains("initech\tfiles\tenv FILES_TOKEN\tkey cli-k1"), "\(credentials)")
            #expect(credentials.contains("initech\twiki\tuses the platform's credential (shared)"))
            #expect(!credentials.contains("platform-key") && !credentials.contains("from-a-file"))
            _ = try ok(["credentials", "unshare", "--tenant", "initech", "--server", "wiki"])
            #expect(try ok(["credentials", "remove", "--tenant", "initech", "--server", "files", "--env", "FILES_TOKEN"]).contains("Removed 1 credential(s)"))
            let after = try ok(["credentials", "list"])
            #expect(!after.contains("initech"), "\(after)")

            _ = try ok(["tenants", "remove", "initech"])
            #expect(!(try ok(["tenants", "list"]).contains("initech")))
            try fails(["tenants", "remove", "initec"], saying: "no tenant 'initec'")
        }
    }
}
