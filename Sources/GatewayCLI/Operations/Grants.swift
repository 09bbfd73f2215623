import ArgumentParser
import Shared
import Worker

/// `mcpgw grants ...`: who may use which server, in which tenant (`access_grants`).
struct Grants: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Grant groups, users and app roles access to servers within a tenant; deny is the default.",
        subcommands: [
            List.self, AddGroup.self, RevokeGroup.self, AddUser.self, RevokeUser.self, AddRole.self, RevokeRole.self, Revoke.self, NameGroup.self,
        ]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List grants (id, tenant, subject, server, tool rules).")
        @Option(help: "Only this tenant's.") var tenant: String?
        @Option(help: "Only grants naming this server (not '*').") var server: String?
        func run() async throws {
            let grants = try await DatabaseSession.with { try await GrantStore(database: $0).grants(tenant: tenant, server: server) }
            if grants.isEmpty { print("No grants. Everything is denied.") }
            for grant in grants {
                let rules = grant.rules.isEmpty ? "all tools" : grant.rules.map { "#\($0.id) \($0.effect.rawValue) \($0.pattern)" }.joined(separator: "; ")
                print("#\(grant.id)\t\(grant.tenant)\t\(grant.kind.rawValue) \(grant.subject)\t\(grant.server)\t\(rules)")
            }
        }
    }

    struct AddGroup: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add-group", abstract: "Let a group (Entra object id or name) use a server ('*' = all) in a tenant.")
        @Argument var group: String
        @Argument var server: String
        @Option(help: "The tenant (default: the group's tenant from 'tenants assign-group', else 'default').") var tenant: String?
        func run() async throws {
            try await DatabaseSession.with { client in
                try await requireServer(server, client)
                if let tenant { try await requireTenant(tenant, client) }
                let added = try await GrantStore(database: client).grantGroup(group, server: server, tenant: tenant)
                print(added ? "Granted '\(server)' to group '\(group)'." : "Group '\(group)' already had '\(server)'.")
            }
        }
    }

    struct RevokeGroup: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "revoke-group", abstract: "Take a server away from a group.")
        @Argument var group: String
        @Argument var server: String
        @Option(help: "Only in this tenant (default: in every tenant).") var tenant: String?
        func run() async throws {
            let removed = try await DatabaseSession.with { try await GrantStore(database: $0).revokeGroup(group, server: server, tenant: tenant) }
            guard removed else { throw OperatorError("group '\(group)' has no grant for '\(server)'; see 'mcpgw grants list'") }
            print("Revoked '\(server)' from group '\(group)'.")
        }
    }

    struct AddUser: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add-user", abstract: "Let one user use a server: by --entra-tenant and --object-id (preferred), or by --email.")
        @Option(
            help: "User principal name / e-mail (compatibility, for identity providers other than Entra: Entra users are matched by --entra-tenant and --object-id only)."
        ) var email: String?
        @Option(name: .customLong("entra-tenant"), help: "The user's Entra tenant id (tid).") var entraTenant: String?
        @Option(help: "The user's Entra object id (oid).") var objectID: String?
        @Option(help: "The tenant the grant is in.") var tenant: String = GrantStore.defaultTenant
        @Argument var server: String
        func validate() throws {
            guard email != nil || (entraTenant != nil && objectID != nil) else {
                throw ValidationError("name the user with --email, or --entra-tenant and --object-id")
            }
        }
        func run() async throws {
            try await DatabaseSession.with { client in
                try await requireServer(server, client)
                try await requireTenant(tenant, client)
                try await GrantStore(database: client).grantUser(email: email, tenantID: entraTenant, objectID: objectID, server: server, tenant: tenant)
            }
            print("Granted '\(server)' to the user in tenant '\(tenant)'.")
            if email != nil && objectID == nil {
                print("Note: a grant by name never matches an Entra token (names can be changed by users); grant Entra users by --entra-tenant and --object-id.")
            }
        }
    }

    struct RevokeUser: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "revoke-user", abstract: "Take a server away from one user.")
        @Option var email: String?
        @Option(name: .customLong("entra-tenant")) var entraTenant: String?
        @Option var objectID: String?
        @Option(help: "Only in this tenant.") var tenant: String?
        @Argument var server: String
        func run() async throws {
            let removed = try await DatabaseSession.with {
                try await GrantStore(database: $0).revokeUser(email: email, tenantID: entraTenant, objectID: objectID, server: server, tenant: tenant)
            }
            guard removed else { throw OperatorError("that user has no grant for '\(server)'; see 'mcpgw grants list'") }
            print("Revoked '\(server)' from the user.")
        }
    }

    struct AddRole: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add-role", abstract: "Let an app role (a value of the token's roles claim) use a server.")
        @Argument var role: String
        @Argument var server: String
        @Option(help: "The tenant the grant is in.") var tenant: String = GrantStore.defaultTenant
        func run() async throws {
            try await DatabaseSession.with { client in
                try await requireServer(server, client)
                try await requireTenant(tenant, client)
                let added = try await GrantStore(database: client).grantRole(role, server: server, tenant: tenant)
                print(added ? "Granted '\(server)' to app role '\(role)'." : "App role '\(role)' already had '\(server)'.")
            }
        }
    }

    struct RevokeRole: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "revoke-role", abstract: "Take a server away from an app role.")
        @Argument var role: String
        @Argument var server: String
        @Option(help: "Only in this tenant.") var tenant: String?
        func run() async throws {
            let removed = try await DatabaseSession.with { try await GrantStore(database: $0).revokeRole(role, server: server, tenant: tenant) }
            guard removed else { throw OperatorError("app role '\(role)' has no grant for '\(server)'; see 'mcpgw grants list'") }
            print("Revoked '\(server)' from app role '\(role)'.")
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove one grant (and its tool rules) by the id 'grants list' shows.")
        @Argument(help: "Grant id, with or without '#'.") var id: String
        func run() async throws {
            let grantID = try parseID(id, what: "grant")
            let removed = try await DatabaseSession.with { try await GrantStore(database: $0).revokeGrant(id: grantID) }
            guard removed else { throw OperatorError("no grant #\(grantID); see 'mcpgw grants list'") }
            print("Grant #\(grantID) revoked.")
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

/// `mcpgw rules ...`: tool rules narrowing a grant.
struct Rules: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Narrow a grant to tools: allow rules make an allow list, deny rules always win. Globs: '*' and '?' (delete_*).",
        subcommands: [List.self, Add.self, Revoke.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tool rules by grant.")
        @Option(help: "Only this tenant's.") var tenant: String?
        func run() async throws {
            let grants = try await DatabaseSession.with { try await GrantStore(database: $0).grants(tenant: tenant) }
            for grant in grants {
                for rule in grant.rules { print("#\(rule.id)\t\(rule.effect.rawValue)\t\(rule.pattern)\tgrant #\(grant.id) (\(grant.tenant), \(grant.kind.rawValue) \(grant.subject), \(grant.server))") }
            }
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a tool rule to a grant.")
        @Option(help: "The grant's id ('grants list').") var grant: String
        @Option(help: "Allow tools matching this glob (repeatable).") var allow: [String] = []
        @Option(help: "Deny tools matching this glob (repeatable).") var deny: [String] = []
        func validate() throws {
            guard !allow.isEmpty || !deny.isEmpty else { throw ValidationError("give at least one --allow or --deny pattern") }
            for pattern in allow + deny where pattern.isEmpty || pattern.count > 200 {
                throw ValidationError("a pattern must be 1 to 200 characters, got '\(pattern)'")
            }
        }
        func run() async throws {
            let grantID = try parseID(grant, what: "grant")
            try await DatabaseSession.with { client in
                let store = GrantStore(database: client)
                guard try await store.grants().contains(where: { $0.id == grantID }) else { throw OperatorError("no grant #\(grantID); see 'mcpgw grants list'") }
                for pattern in allow { print("Rule #\(try await store.addToolRule(grantID: grantID, effect: .allow, pattern: pattern)): allow '\(pattern)'.") }
                for pattern in deny { print("Rule #\(try await store.addToolRule(grantID: grantID, effect: .deny, pattern: pattern)): deny '\(pattern)'.") }
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a tool rule by id.")
        @Argument var id: String
        func run() async throws {
            let ruleID = try parseID(id, what: "rule")
            let removed = try await DatabaseSession.with { try await GrantStore(database: $0).removeToolRule(id: ruleID) }
            guard removed else { throw OperatorError("no tool rule #\(ruleID); see 'mcpgw rules list'") }
            print("Rule #\(ruleID) revoked.")
        }
    }
}

/// `12` or `#12`.
func parseID(_ text: String, what: String) throws -> Int64 {
    guard let id = Int64(text.hasPrefix("#") ? String(text.dropFirst()) : text), id > 0 else {
        throw OperatorError("'\(text)' is not a \(what) id (a number such as 12, as 'mcpgw grants list' shows)")
    }
    return id
}
