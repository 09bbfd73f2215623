import Foundation
import Shared

/// Names of tools on the aggregate endpoint: `{server}{separator}{tool}`.
///
/// Server ids may themselves contain the separator's characters (`a__b` is a valid id), so a
/// name is split against the servers the caller may use, never by position. One name can then
/// stand for two tools (server `a` with tool `b__c`, server `a__b` with tool `c`): the listing
/// leaves such names out (``MCPToolCatalog``), and a call by one is refused unless only one of
/// the servers offers its part of the name.
struct ToolNamespace: Sendable {
    let separator: String

    func qualified(server: String, tool: String) -> String {
        server + separator + tool
    }

    /// Every (server, tool) that `name` can stand for among `servers`, longest server id first;
    /// empty when none matches.
    func candidates(_ name: String, among servers: [String]) -> [(server: String, tool: String)] {
        servers.sorted { $0.count != $1.count ? $0.count > $1.count : $0 < $1 }.compactMap { server in
            let prefix = server + separator
            guard name.hasPrefix(prefix), name.count > prefix.count else { return nil }
            return (server, String(name.dropFirst(prefix.count)))
        }
    }

    /// The qualified names that occur more than once in `names`.
    static func collisions(_ names: [String]) -> Set<String> {
        var seen = Set<String>()
        var repeated = Set<String>()
        for name in names where !seen.insert(name).inserted { repeated.insert(name) }
        return repeated
    }
}

/// Makes a backend's `Tool` object safe for every MCP client: `inputSchema` must be a JSON
/// Schema object of `"type": "object"` (tool arguments are always an object). A missing or
/// non-object schema would make strict clients (the official SDKs) refuse the whole list, so it
/// becomes an open object schema, with the original kept under `x-original-input-schema`.
enum ToolShape {
    static func normalized(_ tool: JSONValue, name: String? = nil) -> JSONValue {
        guard var object = tool.objectValue else { return tool }
        if let name { object["name"] = .string(name) }
        switch object["inputSchema"] {
        case .object(var schema):
            if schema["type"] == nil { schema["type"] = "object" }
            if schema["type"]?.stringValue != "object" {
                object["inputSchema"] = ["type": "object", "x-original-input-schema": .object(schema)]
            } else {
                object["inputSchema"] = .object(schema)
            }
        case let other?:
            object["inputSchema"] = ["type": "object", "x-original-input-schema": other]
        case nil:
            object["inputSchema"] = ["type": "object"]
        }
        return .object(object)
    }
}

/// The opaque `tools/list` cursor: the offset of the next page, base64url-encoded. Any replica
/// can continue a listing another one started, since the list itself is rebuilt per request.
enum ToolCursor {
    static func encode(offset: Int) -> String {
        MCPSessionToken.base64URL(Data("o:\(offset)".utf8))
    }

    static func decode(_ cursor: String) -> Int? {
        guard let data = Base64URL.decode(cursor), let text = String(data: data, encoding: .utf8), text.hasPrefix("o:"),
            let offset = Int(text.dropFirst(2)), offset >= 0
        else { return nil }
        return offset
    }
}
