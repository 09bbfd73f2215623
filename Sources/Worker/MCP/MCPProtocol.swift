import Foundation
import Shared
import Synchronization

/// The protocol facts every transport shares: versions, method names, the `initialize`
/// handshake, and what the client says about itself.
enum MCPProtocol {
    /// What we offer in `initialize`: the newest revision we speak.
    static let latestVersion = "2025-11-25"
    /// What we accept when the server answers with another revision. 2024-11-05 is the revision
    /// of the legacy HTTP+SSE transport; the message shapes we use are the same in all four.
    static let supportedVersions: Set<String> = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"]
    /// What the legacy HTTP+SSE transport offers: servers on it speak 2024-11-05.
    static let legacySSEVersion = "2024-11-05"

    static let clientName = "mcp-queue-gateway-worker"
    static let clientVersion = "0.1.0"

    enum Method {
        static let initialize = "initialize"
        static let initialized = "notifications/initialized"
        static let cancelled = "notifications/cancelled"
        static let progress = "notifications/progress"
        static let toolListChanged = "notifications/tools/list_changed"
        static let ping = "ping"
        static let listTools = "tools/list"
        static let callTool = "tools/call"
    }

    static func initializeParams(offering version: String) -> JSONValue {
        [
            "protocolVersion": .string(version),
            // We answer no sampling, roots or elicitation requests: a gateway has no user to ask.
            "capabilities": [:],
            "clientInfo": ["name": .string(clientName), "version": .string(clientVersion)],
        ]
    }

    /// The session a successful `initialize` result describes, or why it is unacceptable.
    static func session(from result: JSONValue, serverID: String) throws(MCPClientError) -> MCPSessionInfo {
        guard let version = result["protocolVersion"]?.stringValue else {
            throw MCPClientError(.protocolError, serverID: serverID, message: "initialize result has no protocolVersion")
        }
        guard supportedVersions.contains(version) else {
            throw MCPClientError(
                .protocolError,
                serverID: serverID,
                message: "server negotiated protocol version \(version.quotedForLog(limit: 40)), which this client does not speak"
            )
        }
        return MCPSessionInfo(
            protocolVersion: version,
            serverName: result["serverInfo"]?["name"]?.stringValue,
            serverVersion: result["serverInfo"]?["version"]?.stringValue,
            capabilities: result["capabilities"] ?? [:]
        )
    }

    static func cancelledParams(requestID: Int64, reason: String) -> JSONValue {
        ["requestId": .integer(requestID), "reason": .string(reason)]
    }
}

/// What an `initialize` handshake agreed on.
public struct MCPSessionInfo: Sendable, Hashable {
    public var protocolVersion: String
    public var serverName: String?
    public var serverVersion: String?
    /// The server's capabilities object as it sent it.
    public var capabilities: JSONValue
}

/// Request ids for one backend, unique across its sessions and processes, so that a late answer
/// from an old session can never be taken for the answer to a new request.
final class MCPRequestIDs: Sendable {
    private let counter = Atomic<Int64>(0)
    func next() -> Int64 { counter.add(1, ordering: .relaxed).newValue }
}

extension String {
    /// The string in single quotes, cut to `limit` characters, with control characters escaped.
    func quotedForLog(limit: Int = 128) -> String {
        var text = ""
        for scalar in prefix(limit).unicodeScalars {
            text += scalar.properties.generalCategory == .control ? scalar.escaped(asASCII: true) : String(scalar)
        }
        return "'" + text + (count > limit ? "…'" : "'")
    }
}
