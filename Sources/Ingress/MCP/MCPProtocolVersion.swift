/// The MCP protocol revisions this endpoint speaks.
///
/// The handshake era (`initialize`, then a session) covers 2024-11-05 to 2025-11-25. The
/// 2026-07-28 revision is stateless: no `initialize`, no `Mcp-Session-Id`; a client learns what
/// the server offers with `server/discover` and names the revision on every request in the
/// `MCP-Protocol-Version` header.
enum MCPProtocolVersion {
    static let handshake = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"]
    static let stateless = "2026-07-28"
    static let all = handshake + [stateless]
    static let latestHandshake = "2025-11-25"

    /// The version to answer `initialize` with: the client's when it is one of ours, else our
    /// latest handshake version (the client then decides whether it can go on).
    static func negotiate(_ requested: String?) -> String {
        guard let requested, handshake.contains(requested) else { return latestHandshake }
        return requested
    }

    /// Revisions before 2025-06-18 allow JSON-RPC batches.
    static func allowsBatches(_ version: String) -> Bool {
        version == "2024-11-05" || version == "2025-03-26"
    }

    /// Revisions from 2025-06-18 on require the `MCP-Protocol-Version` header after the handshake.
    static func isKnown(_ version: String) -> Bool { all.contains(version) }
}
