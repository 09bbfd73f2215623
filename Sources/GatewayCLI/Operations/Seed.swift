import ArgumentParser
import Shared
import Worker

/// `mcpgw seed`: the original deployment's servers (disabled placeholders) and group mappings.
struct Seed: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load the original deployment's 18 servers (as disabled placeholders) and its group mappings.",
        discussion: "Existing servers keep their settings; only missing ones are added. Point each at its real endpoint with 'mcpgw servers add'."
    )

    func run() async throws {
        let (servers, grants) = try await DatabaseSession.with { client -> (Int, Int) in
            let catalog = ServerCatalog(database: client)
            let existing = Set(try await catalog.all().map(\.id))
            var servers = 0
            for (id, name) in SeedData.servers where !existing.contains(id) {
                try await catalog.upsert(SeedData.placeholder(id: id, name: name))
                servers += 1
            }
            let store = GrantStore(database: client)
            var grants = 0
            for mapping in SeedData.groupMappings {
                for server in mapping.servers where try await store.grantGroup(mapping.group, server: server) { grants += 1 }
            }
            return (servers, grants)
        }
        print("Seeded \(servers) servers and \(grants) group grants.")
    }
}
