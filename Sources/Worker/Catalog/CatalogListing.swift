import Foundation
import Logging
import Shared

/// Answers `catalog/tools`: every enabled server with its tools, metadata only, for the public
/// OpenAPI document. It authorizes nothing and runs nothing: the envelope's principal is not
/// looked at, no tool is called, and only what `tools/list` says is returned. A server whose
/// tools cannot be listed right now comes without tools, with `unavailable` saying why (logged);
/// one served from its last known list has `stale`.
struct CatalogListing: Sendable {
    let catalog: ServerCatalog
    let executor: any ToolExecutor

    func all(deadline: Date, callID: String, logger: Logger) async throws(GatewayError) -> JSONValue {
        let servers: [ServerRecord]
        do {
            servers = try await catalog.all().filter(\.enabled)
        } catch {
            throw GatewayError(.authorizationUnavailable, "the server catalog is unavailable", detail: "\(error)")
        }
        // In parallel, each within the listing budget: one broken server costs the listing at
        // most that budget, never the sum of every server's timeout.
        let entries = await withTaskGroup(of: (Int, JSONValue?).self) { group in
            for (index, server) in servers.enumerated() {
                group.addTask {
                    do throws(GatewayError) {
                        let listing = try await executor.listTools(on: server, deadline: deadline, purpose: .listing, callID: callID)
                        var entry: [String: JSONValue] = ["id": .string(server.id), "name": .string(server.displayName), "tools": .array(listing.tools)]
                        if let staleness = listing.staleness { entry["stale"] = .string(staleness) }
                        return (index, .object(entry))
                    } catch {
                        logger.warning("Server left out of the catalog listing", metadata: [LogKeys.server: "\(server.id)", LogKeys.error: "\(error)"])
                        return (index, ["id": .string(server.id), "name": .string(server.displayName), "unavailable": .string(error.message)])
                    }
                }
            }
            var entries = [JSONValue?](repeating: nil, count: servers.count)
            for await (index, entry) in group { entries[index] = entry }
            return entries.compactMap { $0 }
        }
        return ["servers": .array(entries)]
    }
}
