import Foundation
import Shared

/// One MCP server of the catalog (`mcp_servers`), as the worker and the CLI see it.
public struct ServerRecord: Sendable, Equatable, Codable {
    public enum Transport: String, Sendable, Codable, CaseIterable {
        case streamableHTTP = "streamable_http"
        case sse
        case stdio
    }

    public var id: String
    public var displayName: String
    public var transport: Transport
    public var url: String?
    public var command: String?
    public var arguments: [String]
    public var environment: [String: String]
    public var timeoutMilliseconds: Int
    public var enabled: Bool
    /// The server needs a tenant credential: with none configured (nor an explicit share of the
    /// platform's), calls are refused instead of reaching it without one.
    public var credentialRequired: Bool
    /// The credential the decision chose for this call; set by ``Authorizer`` only, never stored
    /// or encoded (it is not among the coding keys).
    public var credential: BackendCredential?

    enum CodingKeys: String, CodingKey {
        case id, displayName, transport, url, command, arguments, environment, timeoutMilliseconds, enabled, credentialRequired
    }

    public init(
        id: String, displayName: String, transport: Transport, url: String? = nil, command: String? = nil, arguments: [String] = [],
        environment: [String: String] = [:], timeoutMilliseconds: Int = 60_000, enabled: Bool = true, credentialRequired: Bool = false
    ) {
        self.credentialRequired = credentialRequired
        self.id = id
        self.displayName = displayName
        self.transport = transport
        self.url = url
        self.command = command
        self.arguments = arguments
        self.environment = environment
        self.timeoutMilliseconds = timeoutMilliseconds
        self.enabled = enabled
    }

    /// What `servers/list` tells a caller: never commands, URLs or environment.
    public var summary: JSONValue {
        ["id": .string(id), "name": .string(displayName)]
    }

    init(row: PostgresRow) throws {
        guard let transport = Transport(rawValue: try row.decode(String.self, "transport")) else {
            throw PostgresError(code: .decoding, message: "unknown transport in mcp_servers", column: "transport")
        }
        self.init(
            id: try row.decode(String.self, "id"),
            displayName: try row.decode(String.self, "display_name"),
            transport: transport,
            url: try row.decode(String?.self, "url"),
            command: try row.decode(String?.self, "command"),
            arguments: try row.decodeJSON([String].self, "arguments"),
            environment: try row.decodeJSON([String: String].self, "environment"),
            timeoutMilliseconds: try row.decode(Int.self, "timeout_ms"),
            enabled: try row.decode(Bool.self, "enabled"),
            credentialRequired: try row.decode(Bool.self, "credential_required")
        )
    }
}

extension ServerRecord {
    /// Whether an environment variable's name suggests a secret (`GITHUB_TOKEN`, `API_KEY`,
    /// `DB_PASSWORD`, ...). A server's environment is stored in plain text, so the CLI refuses
    /// such names there and points at the sealed per-tenant credentials instead.
    public static func looksLikeSecret(_ name: String) -> Bool {
        let upper = name.uppercased()
        let markers = ["TOKEN", "SECRET", "PASSWORD", "PASSWD", "APIKEY", "API_KEY", "PRIVATE_KEY", "CREDENTIAL", "ACCESS_KEY", "AUTH"]
        return markers.contains { upper.contains($0) } || upper.hasSuffix("_KEY") || upper == "KEY"
    }
}
