import Foundation
import Logging
import Shared
import Tracing

/// The production ``ToolExecutor``: runs calls on the MCP backends through the worker's
/// ``MCPBackendPool`` (one session or child process per server, tool lists cached).
public struct MCPToolExecutor: ToolExecutor {
    let pool: MCPBackendPool
    let logger: Logger

    public init(pool: MCPBackendPool, logger: Logger) {
        self.pool = pool
        self.logger = logger
    }

    public func listTools(on server: ServerRecord, deadline: Date, purpose: ToolListPurpose, callID: String) async throws(GatewayError) -> MCPToolList {
        let definition = try server.definition()
        var waitUntil = MCPDeadline.instant(for: deadline)
        var budget: Duration?
        if purpose == .listing {
            // A quarter of the listing's time stays for the reply to travel back, so the worker
            // always answers before the ingress gives up on it.
            waitUntil = .now + ContinuousClock.now.duration(to: waitUntil) * 3 / 4
            budget = pool.configuration.listBudget
        }
        return try await GatewayTracing.withSpan("tools/list", ofKind: .client) { [waitUntil, budget] (span) async throws(GatewayError) in
            span?.attributes["mcp.server"] = server.id
            do throws(MCPClientError) {
                return try await pool.listTools(for: definition, waitUntil: waitUntil, budget: budget, logger: callLogger(callID))
            } catch {
                throw Self.gatewayError(error, server: server.id)
            }
        }
    }

    public func callTool(
        _ tool: String, arguments: JSONValue, on server: ServerRecord, deadline: Date, callID: String, progress: MCPProgressHandler?
    ) async throws(GatewayError) -> JSONValue {
        let definition = try server.definition()
        // The backend call's client span: its context goes to the server as `traceparent` (HTTP
        // header, and MCP `_meta` for every transport).
        return try await GatewayTracing.withSpan("tools/call \(tool)", ofKind: .client) { (span) async throws(GatewayError) in
            span?.attributes["mcp.server"] = server.id
            span?.attributes["mcp.tool"] = tool
            do throws(MCPClientError) {
                return try await pool.callTool(
                    on: definition, name: tool, arguments: arguments, deadline: MCPDeadline.instant(for: deadline), progress: progress,
                    logger: callLogger(callID)
                )
            } catch {
                throw Self.gatewayError(error, server: server.id)
            }
        }
    }

    private func callLogger(_ callID: String) -> Logger {
        var logger = self.logger
        logger[metadataKey: LogKeys.callID] = .string(callID)
        return logger
    }

    /// Transport trouble is the backend's failure (502); a timeout is the caller's deadline (504).
    /// The backend's own words go to the detail (logs), not to the client.
    static func gatewayError(_ error: MCPClientError, server: String) -> GatewayError {
        switch error.code {
        case .timeout, .cancelled:
            GatewayError(.deadlineExceeded, "the MCP server '\(server)' did not answer before the deadline", detail: error.description)
        case .server:
            GatewayError(.backendError, "the MCP server '\(server)' refused the request (JSON-RPC error \(error.rpcCode.map(String.init) ?? "?"))", detail: error.description)
        case .shutdown:
            GatewayError(.unavailable, "the worker is shutting down", detail: error.description)
        case .circuitOpen:
            GatewayError(
                .unavailable,
                "the MCP server '\(server)' is failing, so the gateway sends it nothing for now (circuit breaker open); the call was not run, try again later",
                detail: error.description, retryAfter: error.retryAfter.map(CircuitBreaker.seconds))
        default:
            GatewayError(.backendError, "the MCP server '\(server)' failed", detail: error.description)
        }
    }
}

extension ServerRecord {
    /// How the MCP client reaches this server, with the decision's credential applied: HTTP
    /// headers for streamable HTTP and SSE, environment variables for stdio (over the catalog
    /// entry's own), and the credential's scope, so the pool keeps one backend per tenant.
    func definition() throws(GatewayError) -> MCPServerDefinition {
        let transport: MCPServerDefinition.Transport
        switch self.transport {
        case .streamableHTTP, .sse:
            guard let url = url.flatMap(URL.init(string:)) else {
                throw GatewayError(.backendError, "the MCP server '\(id)' has no valid URL in the catalog")
            }
            transport = self.transport == .sse ? .sse(url) : .streamableHTTP(url)
        case .stdio:
            guard let command, !command.isEmpty else {
                throw GatewayError(.backendError, "the MCP server '\(id)' has no command in the catalog")
            }
            transport = .stdio(
                command: command, arguments: arguments, environment: environment.merging(credential?.environment ?? [:]) { _, secret in secret })
        }
        return MCPServerDefinition(
            id: id, displayName: displayName, transport: transport, headers: self.transport == .stdio ? [:] : credential?.headers ?? [:],
            credentialScope: credential?.scope, timeout: .milliseconds(timeoutMilliseconds))
    }
}
