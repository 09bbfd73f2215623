import Foundation
import Shared

/// Runs MCP methods on a backend. The worker's pipeline depends on this, not on a transport:
/// the production implementation speaks MCP over streamable HTTP, SSE or stdio.
public protocol ToolExecutor: Sendable {
    /// The server's tools (MCP `Tool` objects), possibly cached or, when the server is failing,
    /// its last known list (``MCPToolList/staleness`` says so). `purpose` decides how long the
    /// caller waits for a server whose list is not known: a listing gives up early (so that one
    /// broken server never holds up a listing of many), a call waits until its deadline.
    func listTools(on server: ServerRecord, deadline: Date, purpose: ToolListPurpose, callID: String) async throws(GatewayError) -> MCPToolList
    /// The MCP `CallToolResult` (`content`, `structuredContent`, `isError`). A tool that reports
    /// an error is a result with `isError: true`; only gateway or transport failures throw.
    /// `progress` receives the backend's progress notifications for this call, if it sends any.
    func callTool(
        _ tool: String, arguments: JSONValue, on server: ServerRecord, deadline: Date, callID: String, progress: MCPProgressHandler?
    ) async throws(GatewayError) -> JSONValue
}

/// Why a worker needs a server's tool list.
public enum ToolListPurpose: Sendable {
    /// To answer a listing: wait at most the listing budget for the server.
    case listing
    /// To check the tool a call names: wait until the call's deadline.
    case call
}
