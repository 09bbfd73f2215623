import Foundation
import Hummingbird
import Logging
import Shared

/// The REST surface: `GET /servers`, `GET /servers/{server}/tools`,
/// `POST /servers/{server}/tools/{tool}`. Every call goes through the broker, so the worker's
/// single authorization decision covers listing and calling alike.
struct ToolRoutes {
    let dispatcher: CallDispatcher
    let configuration: IngressConfiguration

    func add(to group: RouterGroup<GatewayRequestContext>) {
        group.get("servers") { request, context in
            let result = try await run(context) { (principal) async throws(GatewayError) -> JSONValue in
                try await dispatcher.listServers(principal: principal, callID: context.callID, trace: request.traceContext)
            }
            return try JSONResponse.make(result)
        }
        group.get("servers/:server/tools") { request, context in
            let server = try context.parameters.require("server")
            let result = try await run(context) { (principal) async throws(GatewayError) -> JSONValue in
                try await dispatcher.listTools(server: server, principal: principal, callID: context.callID, trace: request.traceContext)
            }
            return try JSONResponse.make(result)
        }
        group.post("servers/:server/tools/:tool") { request, context in
            let server = try context.parameters.require("server")
            let tool = try context.parameters.require("tool")
            let arguments = try await request.argumentsObject(limit: configuration.maxBodyBytes, callID: context.callID)
            let timeout = configuration.timeout(requestedMilliseconds: request.requestedTimeoutMilliseconds)
            let result = try await run(context) { (principal) async throws(GatewayError) -> JSONValue in
                try await dispatcher.callTool(
                    server: server, tool: tool, arguments: arguments, principal: principal, callID: context.callID, timeout: timeout,
                    trace: request.traceContext
                )
            }
            return try JSONResponse.make(result)
        }
    }

    /// Runs a dispatcher call for the authenticated principal; a ``GatewayError`` becomes the
    /// HTTP error of the stable shape, and is logged with its detail.
    private func run(
        _ context: GatewayRequestContext, _ body: (Principal) async throws(GatewayError) -> JSONValue
    ) async throws -> JSONValue {
        let principal = try context.requirePrincipal()
        do {
            return try await body(principal)
        } catch {
            context.logger.info(
                "Call failed", metadata: ["error_code": "\(error.code.rawValue)", LogKeys.error: "\(error.message)", "error_detail": "\(error.detail ?? "")"]
            )
            throw GatewayHTTPError(error, callID: context.callID)
        }
    }
}
