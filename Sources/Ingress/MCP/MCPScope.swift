/// Which tools an MCP endpoint exposes: `/mcp` every server the caller may use (tool names
/// prefixed with the server id), `/servers/{server}/mcp` one server under its tools' own names.
enum MCPScope: Sendable, Equatable {
    case aggregate
    case server(String)

    var path: String {
        switch self {
        case .aggregate: "/mcp"
        case .server(let id): "/servers/\(id)/mcp"
        }
    }
}
