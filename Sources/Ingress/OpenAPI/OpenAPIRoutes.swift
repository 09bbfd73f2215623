import Foundation
import Hummingbird
import Logging
import Shared

/// The OpenAPI tool server, for Open WebUI's "OpenAPI" connections and the paths mcpo and the
/// original proxy served:
///
/// - `GET /openapi.json`: with a bearer token, the tools that caller may use; without one, every
///   tool the deployment serves (tool metadata only, `OPENAPI_PUBLIC_DOCUMENT`), because Open
///   WebUI fetches the document once and without user credentials.
/// - `GET /{server}/openapi.json`: the same for one server, paths relative to `/{server}`.
/// - `POST /{server}/{tool}`: runs the tool for the authenticated caller. The answer is the
///   tool's structured content if it gave any, else its text (a JSON string); a tool error is
///   422 `tool_error`; gateway errors are their HTTP status and the stable error shape.
struct OpenAPIRoutes {
    let dispatcher: CallDispatcher
    let catalog: MCPToolCatalog
    let authenticator: any RequestAuthenticator
    let configuration: IngressConfiguration
    let surface: ToolSurfaceConfiguration

    /// The documents: authentication is optional here, so they hang off the bare router.
    func addDocuments(to router: RouterGroup<GatewayRequestContext>) {
        router.get("openapi.json") { request, context in
            try await document(request, context: context, server: nil)
        }
        router.get(":server/openapi.json") { request, context in
            try await document(request, context: context, server: try context.parameters.require("server"))
        }
    }

    /// The tool calls: behind the authentication middleware.
    func addCalls(to group: RouterGroup<GatewayRequestContext>) {
        group.post(":server/:tool") { request, context in
            let server = try context.parameters.require("server")
            let rawTool = try context.parameters.require("tool")
            let tool = rawTool.removingPercentEncoding ?? rawTool
            let principal = try context.requirePrincipal()
            let headers = try CallHeaders(request, configuration: configuration, callID: context.callID)
            let callID = headers.callID(for: principal, fallback: context.callID)
            let arguments = try await request.argumentsObject(limit: configuration.maxBodyBytes, callID: callID)
            let result: JSONValue
            do throws(GatewayError) {
                result = try await dispatcher.callTool(
                    server: server, tool: tool, arguments: arguments, principal: principal, callID: callID, timeout: headers.timeout,
                    trace: request.traceContext, idempotencyKey: headers.idempotencyKey
                )
            } catch {
                context.logger.info(
                    "Call failed", metadata: ["error_code": "\(error.code.rawValue)", LogKeys.error: "\(error.message)", LogKeys.callID: "\(callID)"]
                )
                throw GatewayHTTPError(error, callID: callID)
            }
            return try Self.answer(result, callID: callID)
        }
    }

    /// A tool result as the OpenAPI caller gets it.
    static func answer(_ result: JSONValue, callID: String) throws -> Response {
        switch payload(of: result) {
        case .success(let body): return try JSONResponse.make(body, headers: [.callID: callID])
        case .failure(let toolError):
            throw GatewayHTTPError(status: .unprocessableContent, code: "tool_error", message: toolError.message, callID: callID)
        }
    }

    struct ToolError: Error, Equatable {
        var message: String
    }

    /// The structured content if the tool gave it, else its text blocks joined (a JSON string);
    /// a tool error's text as the error.
    static func payload(of result: JSONValue) -> Result<JSONValue, ToolError> {
        let text = (result["content"]?.arrayValue ?? []).compactMap { block -> String? in
            block["type"]?.stringValue == "text" ? block["text"]?.stringValue : nil
        }.joined(separator: "\n")
        if result["isError"]?.boolValue == true {
            return .failure(ToolError(message: text.isEmpty ? "the tool reported an error" : text))
        }
        if let structured = result["structuredContent"], structured != .null {
            return .success(structured)
        }
        return .success(.string(text))
    }

    private func document(_ request: Request, context: GatewayRequestContext, server: String?) async throws -> Response {
        if let server, !RequestEnvelope.isValidServerID(server) {
            throw GatewayHTTPError(GatewayError(.notFound, "no MCP server '\(server)' is served here"), callID: context.callID)
        }
        let base = PublicURL.base(of: request, configured: surface.publicBaseURL)
        let operations: [OpenAPIDocument.Operation]
        let degraded: [MCPToolCatalog.Degraded]
        let hasCredentials = request.headers[.authorization] != nil
        do {
            if hasCredentials {
                let principal = try await authenticator.authenticate(headers: request.headers, callID: context.callID)
                (operations, degraded) = try await callerOperations(principal: principal, server: server, context: context, trace: request.traceContext)
            } else {
                guard surface.publicOpenAPIDocument else {
                    throw GatewayHTTPError(
                        GatewayError(.unauthenticated, "this gateway describes its tools only to authenticated callers"), callID: context.callID
                    )
                }
                (operations, degraded) = try await catalogOperations(server: server, callID: context.callID, trace: request.traceContext)
            }
        } catch let error as GatewayError {
            throw GatewayHTTPError(error, callID: context.callID)
        }
        if let server, operations.isEmpty, !hasCredentials {
            throw GatewayHTTPError(GatewayError(.notFound, "no MCP server '\(server)' is served here"), callID: context.callID)
        }
        let document = OpenAPIDocument(
            title: server.map { "MCP server \($0)" } ?? "MCP queue gateway", serverURL: server.map { "\(base)/\($0)" } ?? base, singleServer: server,
            operations: operations, degraded: degraded
        )
        return try JSONResponse.make(document.json)
    }

    private func callerOperations(principal: Principal, server: String?, context: GatewayRequestContext, trace: TraceContext?) async throws(GatewayError)
        -> ([OpenAPIDocument.Operation], [MCPToolCatalog.Degraded])
    {
        if let server {
            let result = try await dispatcher.listTools(server: server, principal: principal, callID: context.callID, trace: trace)
            let degraded = result["stale"]?.stringValue.map { [MCPToolCatalog.Degraded(server: server, available: true, reason: $0)] } ?? []
            return ((result["tools"]?.arrayValue ?? []).map { .init(server: server, tool: $0) }, degraded)
        }
        let servers = try await catalog.allowedServers(principal: principal, callID: context.callID, trace: trace)
        let (lists, degraded) = await catalog.toolsByServer(
            servers, principal: principal, callID: context.callID, purpose: "openapi", trace: trace, logger: context.logger)
        return (lists.flatMap { entry in entry.tools.map { OpenAPIDocument.Operation(server: entry.server, tool: $0) } }, degraded)
    }

    private func catalogOperations(server: String?, callID: String, trace: TraceContext?) async throws(GatewayError)
        -> ([OpenAPIDocument.Operation], [MCPToolCatalog.Degraded])
    {
        let result = try await dispatcher.listCatalog(callID: callID, trace: trace)
        var operations: [OpenAPIDocument.Operation] = []
        var degraded: [MCPToolCatalog.Degraded] = []
        for entry in result["servers"]?.arrayValue ?? [] {
            guard let id = entry["id"]?.stringValue, server == nil || server == id else { continue }
            operations += (entry["tools"]?.arrayValue ?? []).map { .init(server: id, tool: $0) }
            if let reason = entry["unavailable"]?.stringValue { degraded.append(.init(server: id, available: false, reason: reason)) }
            if let reason = entry["stale"]?.stringValue { degraded.append(.init(server: id, available: true, reason: reason)) }
        }
        return (operations, degraded)
    }
}
