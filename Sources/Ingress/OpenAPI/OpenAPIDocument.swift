import Foundation
import Shared

/// An OpenAPI 3.1 document of MCP tools: one `POST` operation per tool, the request body being
/// the tool's arguments (its `inputSchema`, a JSON Schema object, which 3.1 takes as it is), the
/// answer its structured content or its text. Every operation has a unique `operationId` made
/// of letters, digits and `_` (what Open WebUI names the tool after).
///
/// Two layouts, matching the two ways Open WebUI (and mcpo before it) address tools:
/// the aggregate document (`/openapi.json`) has paths `/{server}/{tool}`, a per-server document
/// (`/{server}/openapi.json`) has paths `/{tool}` under the server URL `/{server}`.
struct OpenAPIDocument {
    struct Operation {
        var server: String
        var tool: JSONValue
    }

    var title: String
    var serverURL: String
    /// When set, the document describes this one server: paths are `/{tool}`.
    var singleServer: String?
    var operations: [Operation]
    /// Servers whose tools are missing or may be out of date right now (`x-degraded-servers`).
    var degraded: [MCPToolCatalog.Degraded] = []

    private var info: JSONValue {
        var info: [String: JSONValue] = [
            "title": .string(title), "version": "1.0.0",
            "description": "MCP tools served through the queue gateway. Every call authenticates and is authorized per user.",
        ]
        if !degraded.isEmpty { info["x-degraded-servers"] = .array(degraded.map(\.json)) }
        return .object(info)
    }

    var json: JSONValue {
        var paths: [String: JSONValue] = [:]
        var usedIDs: Set<String> = []
        for operation in operations {
            guard let name = operation.tool["name"]?.stringValue else { continue }
            let path = singleServer == nil ? "/\(Self.segment(operation.server))/\(Self.segment(name))" : "/\(Self.segment(name))"
            var operationID = Self.identifier(singleServer == nil ? "\(operation.server)_\(name)" : name)
            if usedIDs.contains(operationID) {
                var suffix = 2
                while usedIDs.contains("\(operationID)_\(suffix)") { suffix += 1 }
                operationID = "\(operationID)_\(suffix)"
            }
            usedIDs.insert(operationID)
            let schema = ToolShape.normalized(operation.tool)["inputSchema"] ?? ["type": "object"]
            let description = operation.tool["description"]?.stringValue ?? operation.tool["title"]?.stringValue ?? name
            let outputSchema: JSONValue = operation.tool["outputSchema"].flatMap { $0.isObject ? $0 : nil } ?? [:]
            let success: JSONValue = [
                "description": "The tool's structured content when it gives one, else its text.",
                "content": ["application/json": ["schema": outputSchema]],
            ]
            let post: JSONValue = [
                "operationId": .string(operationID),
                "summary": .string(operation.tool["title"]?.stringValue ?? name),
                "description": .string(description),
                "tags": [.string(operation.server)],
                "requestBody": ["required": true, "content": ["application/json": ["schema": schema]]],
                "responses": [
                    "200": success,
                    "default": [
                        "description": "A gateway error (HTTP status and the stable error shape), or a tool error (422, code tool_error).",
                        "content": ["application/json": ["schema": ["$ref": "#/components/schemas/Error"]]],
                    ],
                ],
                "security": [["bearerAuth": []]],
            ]
            paths[path] = ["post": post]
        }
        return [
            "openapi": "3.1.0",
            "info": info,
            "servers": [["url": .string(serverURL)]],
            "paths": .object(paths),
            "components": [
                "securitySchemes": ["bearerAuth": ["type": "http", "scheme": "bearer", "bearerFormat": "JWT"]],
                "schemas": [
                    "Error": [
                        "type": "object", "required": ["error"],
                        "properties": [
                            "error": [
                                "type": "object", "required": ["code", "message"],
                                "properties": ["code": ["type": "string"], "message": ["type": "string"], "callId": ["type": "string"]],
                            ]
                        ],
                    ]
                ],
            ],
        ]
    }

    /// A path segment: RFC 3986 unreserved characters stay, everything else is percent-encoded
    /// (a tool named `a/b` or `{x}` must not change the path's shape).
    static func segment(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .segmentSafe) ?? text
    }

    /// Letters, digits and `_`; anything else becomes `_`.
    static func identifier(_ text: String) -> String {
        let mapped = String(text.unicodeScalars.map { scalar -> Character in
            scalar.isASCII && (CharacterSet.alphanumerics.contains(scalar) || scalar == "_") ? Character(scalar) : "_"
        })
        return mapped.isEmpty ? "_" : mapped
    }
}

extension CharacterSet {
    static let segmentSafe = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
}
