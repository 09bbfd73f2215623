import ArgumentParser
import Shared
import Worker

/// `mcpgw tenants ...`: whose context and credentials a call runs in.
struct Tenants: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage tenants: each has its own grants and its own backend credentials.",
        subcommands: [List.self, Add.self, Remove.self, AssignGroup.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tenants and the groups whose people belong to them.")
        func run() async throws {
            let tenants = try await DatabaseSession.with { try await GrantStore(database: $0).tenants() }
            for tenant in tenants {
                let bound = tenant.entraTenantID.map { "\ttid=\($0)" } ?? ""
                print("\(tenant.id)\t\(tenant.displayName)\tgroups: \(tenant.groups.joined(separator: ","))\(bound)")
            }
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a tenant, or rename one.")
        @Argument(help: "Tenant id: lower-case letters, digits, '-' and '_' (e.g. google).") var id: String
        @Option(help: "Display name.") var name: String?
        @Option(help: "Bind the tenant to one Entra directory: its grants then match only tokens whose tid is this.") var entraTenant: String?
        func run() async throws {
            guard RequestEnvelope.isValidServerID(id) else {
                throw OperatorError("'\(id)' is not a valid tenant id (lower-case letters, digits, '-' and '_', starting with a letter or digit)")
            }
            guard id != CredentialStore.platformTenant else { throw OperatorError("'platform' is reserved for the platform's own credentials") }
            try await DatabaseSession.with { try await GrantStore(database: $0).upsertTenant(id: id, displayName: name ?? id, entraTenantID: entraTenant) }
            print("Tenant '\(id)' saved.")
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a tenant with all its grants and credentials.")
        @Argument var id: String
        func run() async throws {
            try await DatabaseSession.with { client in
                guard try await GrantStore(database: client).removeTenant(id: id) else { throw try await unknownTenant(id, client) }
            }
            print("Tenant '\(id)' removed, with its grants and credentials.")
        }
    }

    struct AssignGroup: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "assign-group",
            abstract: "Say a group's people belong to a tenant: its grants given without --tenant (and legacy group_tenant_mapping rows) land there.")
        @Argument var group: String
        @Argument var tenant: String
        func run() async throws {
            try await DatabaseSession.with { client in
                try await requireTenant(tenant, client)
                try await GrantStore(database: client).assignGroup(group, toTenant: tenant)
            }
            print("Group '\(group)' belongs to tenant '\(tenant)'.")
        }
    }
}

/// A tenant of the database (not `platform`); anything else is refused with a suggestion.
func requireTenant(_ tenant: String, _ client: PostgresClient, allowPlatform: Bool = false) async throws {
    if tenant == CredentialStore.platformTenant && !allowPlatform {
        throw OperatorError("'platform' holds the platform's credentials and cannot hold grants; share them with 'mcpgw credentials share'")
    }
    guard try await GrantStore(database: client).tenants().contains(where: { $0.id == tenant }) else { throw try await unknownTenant(tenant, client) }
}

func unknownTenant(_ id: String, _ client: PostgresClient) async throws -> OperatorError {
    let known = try await GrantStore(database: client).tenants().map(\.id)
    return OperatorError("no tenant '\(id)'\(suggestion(for: id, among: known)); add it with 'mcpgw tenants add \(id)'")
}

/// `*` or a server of the catalog; anything else is refused with a suggestion.
func requireServer(_ server: String, _ client: PostgresClient, allowAll: Bool = true) async throws {
    if server == "*" && allowAll { return }
    let catalog = ServerCatalog(database: client)
    guard try await catalog.all().contains(where: { $0.id == server }) else { throw try await unknownServer(server, catalog) }
}
