import ArgumentParser
import Shared
import Worker

/// `mcpgw admins ...`: who may ask the gateway's admin questions over HTTP (`POST /admin/explain`).
struct Admins: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage gateway administrators (gateway_admins): by group, app role, or user.",
        subcommands: [List.self, Add.self, Remove.self]
    )

    struct Subject: ParsableArguments {
        @Option(help: "An Entra group (object id or display name).") var group: String?
        @Option(help: "An app role value (roles claim).") var role: String?
        @Option(help: "A user: '<tid>/<oid>' (preferred) or a user principal name.") var user: String?

        func validate() throws {
            guard [group, role, user].compactMap({ $0 }).count == 1 else { throw ValidationError("give exactly one of --group, --role, --user") }
        }

        var kindAndSubject: (AccessGrant.SubjectKind, String) {
            if let group { return (.group, group) }
            if let role { return (.role, role) }
            return (.user, user ?? "")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List administrators.")
        func run() async throws {
            let rows = try await DatabaseSession.with { try await $0.query("SELECT subject_kind, subject FROM gateway_admins ORDER BY subject_kind, subject") }
            if rows.isEmpty { print("No administrators: POST /admin/explain answers 403 to everyone.") }
            for row in rows { print("\(try row.decode(String.self, "subject_kind"))\t\(try row.decode(String.self, "subject"))") }
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a group, role or user an administrator.")
        @OptionGroup var subject: Subject
        func run() async throws {
            let (kind, name) = subject.kindAndSubject
            try await DatabaseSession.with { try await GrantStore(database: $0).addAdmin(kind: kind, subject: name) }
            print("\(kind.rawValue) '\(name)' is an administrator.")
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove an administrator.")
        @OptionGroup var subject: Subject
        func run() async throws {
            let (kind, name) = subject.kindAndSubject
            let removed = try await DatabaseSession.with { try await GrantStore(database: $0).removeAdmin(kind: kind, subject: name) }
            guard removed else { throw OperatorError("\(kind.rawValue) '\(name)' is not an administrator; see 'mcpgw admins list'") }
            print("\(kind.rawValue) '\(name)' is no longer an administrator.")
        }
    }
}
