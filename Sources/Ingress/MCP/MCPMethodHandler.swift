import Foundation
import Logging
import Shared

/// Answers the MCP methods of one JSON-RPC request. HTTP, batching and streaming are
/// ``MCPRoutes``' business; this type sees one method and its params at a time.
struct MCPMethodHandler: Sendable {
    let catalog: MCPToolCatalog
    let dispatcher: CallDispatcher
    let canceller: CallCanceller
    let surface: ToolSurfaceConfiguration
    let signer: EnvelopeSigner

    /// The answer to one request: a result or an error, and for `initialize` the new session.
    struct Answer: Sendable {
        var result: Result<JSONValue, JSONRPCError>
        var newSession: MCPSessionToken?
    }

    static let capabilities: JSONValue = ["tools": ["listChanged": false]]

    var serverInfo: JSONValue {
        ["name": .string(surface.serverName), "title": "MCP queue gateway", "version": "1.0.0"]
    }

    func instructions(_ scope: MCPScope) -> String {
        switch scope {
        case .aggregate:
            "Tools of every MCP server you may use, named {server}\(surface.toolNameSeparator){tool}. Calls run through the gateway's queue, authorized per user."
        case .server(let id):
            "Tools of the MCP server '\(id)', authorized per user; calls run through the gateway's queue."
        }
    }

    /// `callID` names the call a `tools/call` makes (the route decides it when it must be able to
    /// cancel the call itself); nil derives it from the session, or makes a fresh one.
    /// `notify` carries notifications about the request to the client while it runs (the
    /// backend's `notifications/progress` when the request has a `progressToken`); only an
    /// event-stream answer can deliver them, so without `notify` none are asked for.
    func answer(
        id: JSONValue, method: String, params: JSONValue?, context: MCPRequestContext, callID: String? = nil,
        notify: (@Sendable (JSONValue) -> Void)? = nil
    ) async -> Answer {
        var answer = await answerInAnyRevision(id: id, method: method, params: params, context: context, callID: callID, notify: notify)
        if context.protocolVersion == MCPProtocolVersion.stateless, case .success(let result) = answer.result {
            answer.result = .success(Self.withStatelessResultFields(result, method: method))
        }
        return answer
    }

    /// How long a client may reuse a `tools/list` page (2026-07-28's `ttlMs`): grants change
    /// rarely, and a changed grant is enforced on every call whatever the client cached.
    static let toolListTTLMilliseconds: Int64 = 30_000
    /// The same for `server/discover`, which says nothing about the caller.
    static let discoverTTLMilliseconds: Int64 = 300_000

    /// The 2026-07-28 revision's result fields: every result says `resultType` (`complete`: no
    /// input is required of the client), and the cacheable ones (`tools/list`, `server/discover`)
    /// say how and how long they may be cached. A tool list is the caller's own: `private`.
    static func withStatelessResultFields(_ result: JSONValue, method: String) -> JSONValue {
        guard case .object(var fields) = result else { return result }
        fields["resultType"] = fields["resultType"] ?? "complete"
        switch method {
        case "tools/list":
            fields["cacheScope"] = "private"
            fields["ttlMs"] = .integer(toolListTTLMilliseconds)
        case "server/discover":
            fields["cacheScope"] = "public"
            fields["ttlMs"] = .integer(discoverTTLMilliseconds)
        default:
            break
        }
        return .object(fields)
    }

    private func answerInAnyRevision(
        id: JSONValue, method: String, params: JSONValue?, context: MCPRequestContext, callID: String?,
        notify: (@Sendable (JSONValue) -> Void)?
    ) async -> Answer {
        do throws(JSONRPCError) {
            switch method {
            case "initialize": return try initialize(params: params, context: context)
            case "server/discover": return Answer(result: .success(discover(context.scope)))
            case "ping": return Answer(result: .success([:]))
            case "tools/list": return Answer(result: .success(try await listTools(params: params, context: context)))
            case "tools/call":
                return Answer(result: .success(try await callTool(id: id, params: params, context: context, callID: callID, notify: notify)))
            default: return Answer(result: .failure(.methodNotFound(method)))
            }
        } catch {
            return Answer(result: .failure(error))
        }
    }

    /// Notifications get no answer. `notifications/cancelled` cancels the call it names.
    func notify(method: String, params: JSONValue?, context: MCPRequestContext) async {
        switch method {
        case "notifications/cancelled":
            guard let requestID = params?["requestId"], JSONRPCMessage.isValidID(requestID) else {
                context.logger.info("notifications/cancelled without a usable requestId ignored")
                return
            }
            guard let callID = context.callID(forRequest: requestID) else {
                context.logger.info("notifications/cancelled outside a session cannot name a call; ignored")
                return
            }
            await canceller.cancel(callID: callID, reason: params?["reason"]?.stringValue, logger: context.logger)
        default:
            // notifications/initialized, progress, roots/list_changed...: nothing to do.
            break
        }
    }

    // MARK: Methods

    private func initialize(params: JSONValue?, context: MCPRequestContext) throws(JSONRPCError) -> Answer {
        guard let requested = params?["protocolVersion"]?.stringValue else {
            throw .invalidParams("initialize needs params.protocolVersion")
        }
        let version = MCPProtocolVersion.negotiate(requested)
        let session = MCPSessionToken(protocolVersion: version, principal: context.principal, lifetime: surface.sessionLifetime, signer: signer)
        let result: JSONValue = [
            "protocolVersion": .string(version), "capabilities": Self.capabilities, "serverInfo": serverInfo,
            "instructions": .string(instructions(context.scope)),
        ]
        return Answer(result: .success(result), newSession: session)
    }

    /// `server/discover` (2026-07-28): what `initialize` would tell, without opening a session.
    private func discover(_ scope: MCPScope) -> JSONValue {
        [
            "supportedVersions": .array(MCPProtocolVersion.all.map(JSONValue.string)), "capabilities": Self.capabilities,
            "serverInfo": serverInfo, "instructions": .string(instructions(scope)),
        ]
    }

    /// The `_meta` key of a tools/list result that names the servers left out or served stale.
    static let degradedMetaKey = "io.github.mcp-queue-gateway/degraded"

    private func listTools(params: JSONValue?, context: MCPRequestContext) async throws(JSONRPCError) -> JSONValue {
        var offset = 0
        if let cursor = params?["cursor"], cursor != .null {
            guard let text = cursor.stringValue, let decoded = ToolCursor.decode(text) else {
                throw .invalidParams("the cursor is not one this server gave out")
            }
            offset = decoded
        }
        let listing: MCPToolCatalog.Listing
        let listingID = UUID().uuidString.lowercased()
        do throws(GatewayError) {
            // A fresh base id per request: requests of one batch share the HTTP request's id.
            listing = try await catalog.list(context.scope, principal: context.principal, callID: listingID, trace: context.trace, logger: context.logger)
        } catch {
            throw MCPErrorMapping.jsonRPCError(error, callID: listingID)
        }
        guard offset <= listing.tools.count else { throw .invalidParams("the cursor is past the end of the tool list") }
        let end = min(listing.tools.count, offset + surface.pageSize)
        var result: [String: JSONValue] = ["tools": .array(Array(listing.tools[offset..<end]))]
        if end < listing.tools.count { result["nextCursor"] = .string(ToolCursor.encode(offset: end)) }
        if !listing.degraded.isEmpty {
            // Which servers' tools are missing or may be out of date: clients ignore `_meta` keys
            // they do not know, and a person or a model reading the result learns why.
            result["_meta"] = [Self.degradedMetaKey: .array(listing.degraded.map(\.json))]
        }
        return .object(result)
    }

    /// The request's `_meta.progressToken`, when it has a usable one (a string or an integer).
    static func progressToken(of params: JSONValue?) -> JSONValue? {
        guard let token = params?["_meta"]?["progressToken"] else { return nil }
        switch token {
        case .string, .integer: return token
        default: return nil
        }
    }

    /// The `notifications/progress` message that tells the client about `update`.
    static func progressNotification(_ update: ProgressUpdate, token: JSONValue) -> JSONValue {
        var params: [String: JSONValue] = ["progressToken": token, "progress": .double(update.progress)]
        if let total = update.total { params["total"] = .double(total) }
        if let message = update.message { params["message"] = .string(message) }
        return ["jsonrpc": "2.0", "method": "notifications/progress", "params": .object(params)]
    }

    private func callTool(
        id: JSONValue, params: JSONValue?, context: MCPRequestContext, callID fixedCallID: String?, notify: (@Sendable (JSONValue) -> Void)?
    ) async throws(JSONRPCError) -> JSONValue {
        guard let name = params?["name"]?.stringValue, !name.isEmpty else { throw .invalidParams("tools/call needs params.name") }
        let arguments = params?["arguments"] ?? [:]
        guard arguments.isObject || arguments == .null else { throw .invalidParams("params.arguments must be an object") }
        let callID = fixedCallID ?? context.callID(forRequest: id) ?? UUID().uuidString.lowercased()
        var logger = context.logger
        logger[metadataKey: LogKeys.callID] = .string(callID)
        do throws(GatewayError) {
            let target: (server: String, tool: String)
            switch context.scope {
            case .server(let id):
                target = (id, name)
            case .aggregate:
                target = try await catalog.resolve(name, principal: context.principal, callID: callID, trace: context.trace)
            }
            let (server, tool) = target
            logger.info("MCP tools/call", metadata: [LogKeys.server: "\(server)", LogKeys.tool: "\(tool)", "http_call_id": "\(context.httpCallID)"])
            var onProgress: (@Sendable (ProgressUpdate) -> Void)?
            if let notify, let token = Self.progressToken(of: params) {
                onProgress = { notify(Self.progressNotification($0, token: token)) }
            }
            return try await dispatcher.callTool(
                server: server, tool: tool, arguments: arguments == .null ? [:] : arguments, principal: context.principal, callID: callID,
                timeout: context.timeout, trace: context.trace, idempotencyKey: context.idempotencyKey, onProgress: onProgress
            )
        } catch {
            logger.info("MCP tools/call failed", metadata: ["error_code": "\(error.code.rawValue)", LogKeys.error: "\(error.message)"])
            throw MCPErrorMapping.jsonRPCError(error, callID: callID)
        }
    }
}
