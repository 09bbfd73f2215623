import Foundation
import HTTPTypes
import Hummingbird
import Shared

/// The 2026-07-28 revision's rules for the headers that mirror the body (Streamable HTTP,
/// "Standard headers"): a server that processes the body must refuse a request whose
/// `MCP-Protocol-Version`, `Mcp-Method` or `Mcp-Name` disagrees with it, with `400` and
/// `HeaderMismatch` (-32020), and a protocol version it does not implement with
/// `UnsupportedProtocolVersionError` (-32022, `data.supported` and `data.requested`).
///
/// Headers are checked whenever they are present, in every revision: a proxy in front of the
/// gateway may route or filter on them, and a disagreeing header would let a request slip past
/// it. Absent headers and `_meta` fields are tolerated (Open WebUI 0.12.4's requests carry
/// neither), so nothing that works today is refused.
enum MCPHeaderCheck {
    static let headerMismatch = -32020
    static let unsupportedProtocolVersion = -32022

    /// The `_meta` key that names a 2026-07-28 request's protocol version.
    static let protocolVersionMetaKey = "io.modelcontextprotocol/protocolVersion"

    /// The params member each method mirrors in `Mcp-Name`.
    static let nameBearingMethods = ["tools/call": "name", "prompts/get": "name", "resources/read": "uri"]

    /// -32022 for a version this endpoint does not speak.
    static func unsupported(_ requested: String) -> JSONRPCError {
        JSONRPCError(
            code: unsupportedProtocolVersion,
            message: "unsupported MCP protocol version '\(requested.prefix(64))'; supported: \(MCPProtocolVersion.all.joined(separator: ", "))",
            data: ["supported": .array(MCPProtocolVersion.all.map(JSONValue.string)), "requested": .string(String(requested.prefix(64)))]
        )
    }

    /// The first disagreement between `request`'s headers and the JSON-RPC `message`, if any.
    static func check(_ message: JSONValue, headers request: Request) -> JSONRPCError? {
        let method = message["method"]?.stringValue
        let meta = message["params"]?["_meta"]
        let headerVersion = request.headers[.mcpProtocolVersion]
        if let bodyVersion = meta?[protocolVersionMetaKey] {
            guard let version = bodyVersion.stringValue else {
                return .invalidParams("params._meta[\"\(protocolVersionMetaKey)\"] must be a string")
            }
            if let headerVersion, headerVersion != version {
                return mismatch("the MCP-Protocol-Version header ('\(headerVersion.prefix(64))') does not match the request's protocol version ('\(version.prefix(64))')")
            }
            if !MCPProtocolVersion.isKnown(version) { return unsupported(version) }
        }
        if let headerMethod = request.headers[.mcpMethod], headerMethod != method {
            return mismatch("the Mcp-Method header ('\(headerMethod.prefix(100))') does not match the request's method ('\((method ?? "none").prefix(100))')")
        }
        if let rawName = request.headers[.mcpName] {
            guard let method, let member = nameBearingMethods[method] else {
                return mismatch("the Mcp-Name header is only for tools/call, prompts/get and resources/read")
            }
            guard let name = decode(rawName) else { return mismatch("the Mcp-Name header's base64 value is malformed") }
            let bodyName = message["params"]?[member]?.stringValue
            if name != bodyName {
                return mismatch("the Mcp-Name header does not match the request's params.\(member)")
            }
        }
        return nil
    }

    /// A header value as sent: plain, or `=?base64?…?=` for values that are not visible ASCII.
    static func decode(_ value: String) -> String? {
        guard value.hasPrefix("=?base64?"), value.hasSuffix("?="), value.count >= 11 else { return value }
        let payload = value.dropFirst(9).dropLast(2)
        guard let data = Data(base64Encoded: String(payload)) else { return nil }
        return String(data: data, encoding: .utf8)
    }

    private static func mismatch(_ message: String) -> JSONRPCError {
        JSONRPCError(code: headerMismatch, message: message)
    }
}

extension HTTPField.Name {
    static let mcpMethod = Self("Mcp-Method")!
    static let mcpName = Self("Mcp-Name")!
}
