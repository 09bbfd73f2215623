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
        /// Servers whose tools are missing (left out) or may be out of date, and why.
        var degraded: [Degraded] = []
    }

    /// A server a listing could not list as it is now: left out (`available` false, its tools
    /// were never known or cannot be listed), or served from its last known list.
    struct Degraded: Sendable {
        var server: String
        var available: Bool
        var reason: String

        var json: JSONValue { ["server": .string(server), "available": .bool(available), "reason": .string(reason)] }
    }

    /// One server's part of an aggregate listing.
    struct ServerTools: Sendable {
        var server: String
        var tools: [JSONValue]
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
            let (lists, degraded) = await toolsByServer(servers, principal: principal, callID: callID, purpose: "tools/list", trace: trace, logger: logger)
            var tools = lists.flatMap { entry in
                entry.tools.compactMap { tool -> JSONValue? in
                    guard let name = tool["name"]?.stringValue else { return nil }
                    return ToolShape.normalized(tool, name: namespace.qualified(server: entry.server, tool: name))
                }
            }
            let collisions = ToolNamespace.collisions(tools.compactMap { $0["name"]?.stringValue })
            if !collisions.isEmpty {
                logger.warning(
                    "Tools whose qualified names collide are left out of the aggregate listing; rename a server or use /servers/{server}/mcp",
                    metadata: ["tools": "\(collisions.sorted().joined(separator: ", "))"]
                )
                tools.removeAll { collisions.contains($0["name"]?.stringValue ?? "") }
            }
            return Listing(tools: tools, servers: servers, degraded: degraded)
        }
    }

    /// Each server's tools (as the worker knows them, filtered by its decision), fetched in
    /// parallel and returned in the order of `servers`. A server that fails to list (backend
    /// down, timeout) is left out and logged, so one broken backend does not hide the others;
    /// it and any server served from its last known list are named in `degraded`.
    func toolsByServer(
        _ servers: [String], principal: Principal, callID: String, purpose: String, trace: TraceContext?, logger: Logger
    ) async -> (lists: [ServerTools], degraded: [Degraded]) {
        let lists = await withTaskGroup(of: (Int, Result<JSONValue, GatewayError>).self) { group in
            for (index, server) in servers.enumerated() {
                group.addTask {
                    do throws(GatewayError) {
                        let id = UUIDs.derived(callID, purpose, server)
                        return (index, .success(try await dispatcher.listTools(server: server, principal: principal, callID: id, trace: trace)))
                    } catch {
                        logger.warning(
                            "A server's tools are left out of the listing",
                            metadata: [
                                LogKeys.server: "\(server)", "listing": "\(purpose)", "error_code": "\(error.code.rawValue)", LogKeys.error: "\(error.message)",
                            ]
                        )
                        return (index, .failure(error))
                    }
                }
            }
            var lists = [Result<JSONValue, GatewayError>?](repeating: nil, count: servers.count)
            for await (index, result) in group { lists[index] = result }
            return lists
        }
        var found: [ServerTools] = []
        var degraded: [Degraded] = []
        for (server, result) in zip(servers, lists) {
            switch result {
            case .success(let listing):
                found.append(ServerTools(server: server, tools: listing["tools"]?.arrayValue ?? []))
                if let stale = listing["stale"]?.stringValue { degraded.append(Degraded(server: server, available: true, reason: stale)) }
            case .failure(let error):
                degraded.append(Degraded(server: server, available: false, reason: error.message))
            case nil:
                break
            }
        }
        return (found, degraded)
    }

    /// The server and tool an aggregate name stands for. When the name can be split against
    /// more than one of the caller's servers, those servers' listings decide: exactly one of them
    /// must offer its part of the name, or the call is refused as ambiguous.
    func resolve(_ name: String, principal: Principal, callID: String, trace: TraceContext?) async throws(GatewayError) -> (server: String, tool: String) {
        let servers = try await allowedServers(principal: principal, callID: callID, trace: trace)
        let candidates = namespace.candidates(name, among: servers)
        guard let first = candidates.first else {
            throw GatewayError(.notFound, "unknown tool '\(name)': no server you may use offers it")
        }
        if candidates.count == 1 { return first }
        var offering: [(server: String, tool: String)] = []
        for candidate in candidates {
            let id = UUIDs.derived(callID, "tools/list", candidate.server)
            let result = try await dispatcher.listTools(server: candidate.server, principal: principal, callID: id, trace: trace)
            if (result["tools"]?.arrayValue ?? []).contains(where: { $0["name"]?.stringValue == candidate.tool }) { offering.append(candidate) }
        }
        switch offering.count {
        case 0: throw GatewayError(.notFound, "unknown tool '\(name)': no server you may use offers it")
        case 1: return offering[0]
        default:
            let servers = offering.map { "'\($0.server)'" }.joined(separator: " and ")
            throw GatewayError(
                .badRequest, "the tool name '\(name)' is ambiguous: the servers \(servers) both offer a tool by that name; call it through /servers/{server}/mcp"
            )
        }
    }

    /// The ids of the servers the caller may use.
    func allowedServers(principal: Principal, callID: String, trace: TraceContext?) async throws(GatewayError) -> [String] {
        let result = try await dispatcher.listServers(principal: principal, callID: UUIDs.derived(callID, "servers/list"), trace: trace)
        return (result["servers"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue }
    }
}
