import ArgumentParser
import Shared
import Worker

/// `mcpgw grants ...`: who may use which server (`group_tenant_mapping`, `user_tenant_access`).
struct Grants: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Grant groups and users access to servers; deny is the default.",
        subcommands: [List.self, AddGroup.self, RevokeGroup.self, AddUser.self, RevokeUser.self, NameGroup.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List every grant.")
        func run() async throws {
            let (groups, users) = try await DatabaseSession.with { client in
                let store = GrantStore(database: client)
                return (try await store.groupGrants(), try await store.userGrants())
            }
            for grant in groups { print("group\t\(grant.group)\t\(grant.server)") }
            for grant in users {
                let who = grant.objectID.map { "\(grant.tenantID ?? "?")/\($0)" } ?? grant.email ?? "?"
                print("user\t\(who)\t\(grant.server)")
            }
        }
    }

    struct AddGroup: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add-group", abstract: "Let a group (Entra object id or name) use a server ('*' = all).")
        @Argument var group: String
        @Argument var server: String
        func run() async throws {
            try await DatabaseSession.with { client in
                try await requireServer(server, client)
                let added = try await GrantStore(database: client).grantGroup(group, server: server)
                print(added ? "Granted '\(server)' to group '\(group)'." : "Group '\(group)' already had '\(server)'.")
            }
        }
    }

    struct RevokeGroup: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "revoke-group", abstract: "Take a server away from a group.")
        @Argument var group: String
        @Argument var server: String
        func run() async throws {
            let removed = try await DatabaseSession.with { try await GrantStore(database: $0).revokeGroup(group, server: server) }
            guard removed else { throw OperatorError("group '\(group)' has no grant for '\(server)'") }
            print("Revoked '\(server)' from group '\(group)'.")
        }
    }

    struct AddUser: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add-user", abstract: "Let one user use a server: by --tenant and --object-id, or by --email.")
        @Option var email: String?
        @Option var tenant: String?
        @Option var objectID: String?
        @Argument var server: String
        func validate() throws {
            guard email != nil || (tenant != nil && objectID != nil) else { throw ValidationError("name the user with --email, or --tenant and --object-id") }
        }
        func run() async throws {
            try await DatabaseSession.with { client in
                try await requireServer(server, client)
                try await GrantStore(database: client).grantUser(email: email, tenantID: tenant, objectID: objectID, server: server)
            }
            print("Granted '\(server)' to the user.")
        }
    }

    struct RevokeUser: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "revoke-user", abstract: "Take a server away from one user.")
        @Option var email: String?
        @Option var tenant: String?
        @Option var objectID: String?
        @Argument var server: String
        func run() async throws {
            let removed = try await DatabaseSession.with {
                try await GrantStore(database: $0).revokeUser(email: email, tenantID: tenant, objectID: objectID, server: server)
            }
            guard removed else { throw OperatorError("that user has no grant for '\(server)'") }
            print("Revoked '\(server)' from the user.")
        }
    }

    struct NameGroup: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "name-group", abstract: "Name an Entra group's object id, so grants by display name apply to tokens carrying ids.")
        @Argument var objectID: String
        @Argument var displayName: String
        func run() async throws {
            try await DatabaseSession.with { try await GrantStore(database: $0).nameGroup(objectID: objectID, displayName: displayName) }
            print("Group \(objectID) is '\(displayName)'.")
        }
    }
}

/// `*` or a server of the catalog; anything else is refused with a suggestion.
private func requireServer(_ server: String, _ client: PostgresClient) async throws {
    guard server != "*" else { return }
    let catalog = ServerCatalog(database: client)
    guard try await catalog.all().contains(where: { $0.id == server }) else { throw try await unknownServer(server, catalog) }
}
