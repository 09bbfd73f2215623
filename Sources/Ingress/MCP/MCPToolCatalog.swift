import Logging
import Shared

/// The tools a caller may use on an MCP endpoint, fetched through the broker (so the worker's
/// authorization decides) for every request: nothing is cached per user at the ingress.
struct MCPToolCatalog: Sendable {
    let dispatcher: CallDispatcher
    let namespace: ToolNamespace

    struct Listing: Sendable {
        /// The tools as the client sees them (names qualified on the aggregate endpoint).
        var tools: [JSONValue]
        /// The servers the caller may use (aggregate) or the one server.
        var servers: [String]
    }

    /// The caller's tools for `scope`. On the aggregate endpoint a server that fails to list
    /// (backend down, timeout) is left out and logged, so one broken backend does not hide the
    /// others; on a single-server endpoint its failure is the answer.
    func list(_ scope: MCPScope, principal: Principal, callID: String, trace: TraceContext?, logger: Logger) async throws(GatewayError) -> Listing {
        switch scope {
        case .server(let server):
            let result = try await dispatcher.listTools(server: server, principal: principal, callID: callID, trace: trace)
            return Listing(tools: (result["tools"]?.arrayValue ?? []).map { ToolShape.normalized($0) }, servers: [server])
        case .aggregate:
            let servers = try await allowedServers(principal: principal, callID: callID, trace: trace)
            let lists = await withTaskGroup(of: (Int, [JSONValue]).self) { group in
                for (index, server) in servers.enumerated() {
                    group.addTask {
                        let id = UUIDs.derived(callID, "tools/list", server)
                        do throws(GatewayError) {
                            let result = try await dispatcher.listTools(server: server, principal: principal, callID: id, trace: trace)
                            let tools = (result["tools"]?.arrayValue ?? []).compactMap { tool -> JSONValue? in
                                guard let name = tool["name"]?.stringValue else { return nil }
                                return ToolShape.normalized(tool, name: namespace.qualified(server: server, tool: name))
                            }
                            return (index, tools)
                        } catch {
                            logger.warning(
                                "A server's tools are left out of the aggregate listing",
                                metadata: [LogKeys.server: "\(server)", "error_code": "\(error.code.rawValue)", LogKeys.error: "\(error.message)"]
                            )
                            return (index, [])
                        }
                    }
                }
                var lists = [[JSONValue]](repeating: [], count: servers.count)
                for await (index, tools) in group { lists[index] = tools }
                return lists
            }
            return Listing(tools: lists.flatMap { $0 }, servers: servers)
        }
    }

    /// The ids of the servers the caller may use.
    func allowedServers(principal: Principal, callID: String, trace: TraceContext?) async throws(GatewayError) -> [String] {
        let result = try await dispatcher.listServers(principal: principal, callID: UUIDs.derived(callID, "servers/list"), trace: trace)
        return (result["servers"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue }
    }
}
