import ArgumentParser
import Shared
import Worker

/// `mcpgw seed`: the original deployment's servers (disabled placeholders), its customer
/// tenants, and its group mappings.
struct Seed: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load the original deployment's 18 servers (as disabled placeholders), its tenants and its group mappings.",
        discussion: """
            Existing servers keep their settings; only missing ones are added. Point each at its real endpoint with \
            'mcpgw servers update', and give each tenant its credentials with 'mcpgw credentials set'.
            """
    )

    func run() async throws {
        let (servers, tenants, grants) = try await DatabaseSession.with { client -> (Int, Int, Int) in
            let catalog = ServerCatalog(database: client)
            let existing = Set(try await catalog.all().map(\.id))
            var servers = 0
            for (id, name) in SeedData.servers where !existing.contains(id) {
                try await catalog.upsert(SeedData.placeholder(id: id, name: name))
                servers += 1
            }
            let store = GrantStore(database: client)
            let known = Set(try await store.tenants().map(\.id))
            var tenants = 0
            for tenant in SeedData.tenants {
                if !known.contains(tenant.id) {
                    try await store.upsertTenant(id: tenant.id, displayName: tenant.name)
                    tenants += 1
                }
                try await store.assignGroup(tenant.group, toTenant: tenant.id)
            }
            var grants = 0
            for mapping in SeedData.groupMappings {
                for server in mapping.servers where try await store.grantGroup(mapping.group, server: server) { grants += 1 }
            }
            return (servers, tenants, grants)
        }
        print("Seeded \(servers) servers, \(tenants) tenants and \(grants) group grants.")
    }
}
