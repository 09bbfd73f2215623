import Foundation
import Logging
import Shared

/// Answers `catalog/tools`: every enabled server with its tools, metadata only, for the public
/// OpenAPI document. It authorizes nothing and runs nothing: the envelope's principal is not
/// looked at, no tool is called, and only what `tools/list` says is returned. A server whose
/// tools cannot be listed right now is left out (logged).
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
        var entries: [JSONValue] = []
        for server in servers {
            do {
                let tools = try await executor.listTools(on: server, deadline: deadline, callID: callID)
                entries.append(["id": .string(server.id), "name": .string(server.displayName), "tools": .array(tools)])
            } catch {
                logger.warning("Server left out of the catalog listing", metadata: [LogKeys.server: "\(server.id)", LogKeys.error: "\(error)"])
            }
        }
        return ["servers": .array(entries)]
    }
}
