import Foundation
import Shared

/// Runs MCP methods on a backend. The worker's pipeline depends on this, not on a transport:
/// the production implementation speaks MCP over streamable HTTP, SSE or stdio.
public protocol ToolExecutor: Sendable {
    /// The server's tools (MCP `Tool` objects), possibly cached.
    func listTools(on server: ServerRecord, deadline: Date, callID: String) async throws(GatewayError) -> [JSONValue]
    /// The MCP `CallToolResult` (`content`, `structuredContent`, `isError`). A tool that reports
    /// an error is a result with `isError: true`; only gateway or transport failures throw.
    /// `progress` receives the backend's progress notifications for this call, if it sends any.
    func callTool(
        _ tool: String, arguments: JSONValue, on server: ServerRecord, deadline: Date, callID: String, progress: MCPProgressHandler?
    ) async throws(GatewayError) -> JSONValue
}
