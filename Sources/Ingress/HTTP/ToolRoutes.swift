import Foundation
import Hummingbird
import Logging
import Shared

/// The REST surface: `GET /servers`, `GET /servers/{server}/tools`,
/// `POST /servers/{server}/tools/{tool}` (with `X-Timeout-Ms` and `Idempotency-Key`), and
/// `GET /calls/{callId}` (what became of a call). Every call goes through the broker, so the worker's
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
            let headers = try CallHeaders(request, configuration: configuration, callID: context.callID)
            let callID = headers.callID(for: try context.requirePrincipal(), fallback: context.callID)
            let arguments = try await request.argumentsObject(limit: configuration.maxBodyBytes, callID: callID)
            let result = try await run(context, callID: callID) { (principal) async throws(GatewayError) -> JSONValue in
                try await dispatcher.callTool(
                    server: server, tool: tool, arguments: arguments, principal: principal, callID: callID, timeout: headers.timeout,
                    trace: request.traceContext, idempotencyKey: headers.idempotencyKey
                )
            }
            return try JSONResponse.make(result, headers: [.callID: callID])
        }
        group.get("calls/:callId") { request, context in
            let target = try context.parameters.require("callId")
            let result = try await run(context) { (principal) async throws(GatewayError) -> JSONValue in
                try await dispatcher.callStatus(of: target, principal: principal, callID: context.callID, trace: request.traceContext)
            }
            return try JSONResponse.make(result)
        }
    }

    /// Runs a dispatcher call for the authenticated principal; a ``GatewayError`` becomes the
    /// HTTP error of the stable shape, and is logged with its detail.
    private func run(
        _ context: GatewayRequestContext, callID: String? = nil, _ body: (Principal) async throws(GatewayError) -> JSONValue
    ) async throws -> JSONValue {
        let principal = try context.requirePrincipal()
        do {
            return try await body(principal)
        } catch {
            context.logger.info(
                "Call failed",
                metadata: [
                    "error_code": "\(error.code.rawValue)", LogKeys.error: "\(error.message)", "error_detail": "\(error.detail ?? "")",
                    LogKeys.callID: "\(callID ?? context.callID)",
                ])
            throw GatewayHTTPError(error, callID: callID ?? context.callID)
        }
    }
}
