/// The MCP method a request envelope carries. Raw values are the MCP method names.
///
/// Decoding an unknown value throws a `DecodingError` naming the value, so a message from a
/// newer ingress (or a hostile publisher) is refused as malformed instead of being guessed at.
public enum CallKind: String, Codable, Sendable, CaseIterable, Hashable {
    /// The servers the caller may use. Not an MCP method: it goes to the gateway's own catalog
    /// queue (``RequestEnvelope/catalogServer``) so that the worker's authorization decides it.
    case listServers = "servers/list"
    case listTools = "tools/list"
    case callTool = "tools/call"
    /// The tool metadata of every enabled server, for no one in particular: what the public
    /// OpenAPI document (`GET /openapi.json` without credentials) describes. Not an MCP method;
    /// it goes to the catalog queue, and a worker answers it by listing tools only: it never
    /// runs a tool and never uses a caller's grants or credentials.
    case catalogTools = "catalog/tools"
    /// "May this user call this tool, and why": an administrator's question, answered by a
    /// worker's decision function. Not an MCP method; like ``listServers`` it goes to the catalog
    /// queue. `arguments` describe the user and the call (see docs/tenancy.md). Added within
    /// contract version 1: an older worker refuses it as malformed (dead letter), nothing else changes.
    case explain = "gateway/explain"
    /// "What became of this call": `GET /calls/{callId}`, answered from the call ledger for the
    /// caller who made the call or a gateway administrator. Not an MCP method; it goes to the
    /// catalog queue, with `arguments` `{"callId": "…"}`. It never runs a tool.
    case callStatus = "gateway/call-status"

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let raw = try container.decode(String.self)
        guard let kind = CallKind(rawValue: raw) else {
            throw DecodingError.dataCorruptedError(
                in: container,
                debugDescription: "unknown call kind '\(raw)'; expected one of \(CallKind.allCases.map(\.rawValue).joined(separator: ", "))"
            )
        }
        self = kind
    }
}
