import Foundation
import Shared
import TestSupport
import Testing
import Worker

/// Real MCP servers for the end-to-end tests: the project's fixture server (the official `mcp`
/// Python SDK) and servers from PyPI, run with the venv's Python (`MCPGW_PYTHON`).
enum Fixtures {
    static func python() throws -> String {
        try MCPTestEnvironment.python()
    }

    static var fixtureServer: String { MCPTestEnvironment.fixtureServer }

    /// The fixture server over stdio, registered as `id`. The worker starts it as a child process.
    static func stdioServer(_ id: String, timeoutMilliseconds: Int = 30_000) throws -> ServerRecord {
        ServerRecord(
            id: id, displayName: "Fixture \(id)", transport: .stdio, command: try python(), arguments: [fixtureServer, "--transport", "stdio"],
            timeoutMilliseconds: timeoutMilliseconds
        )
    }

    /// `mcp-server-time` from PyPI over stdio.
    static func timeServer() throws -> ServerRecord {
        ServerRecord(id: "time", displayName: "Time", transport: .stdio, command: try python(), arguments: ["-m", "mcp_server_time", "--local-timezone", "UTC"])
    }
}
