import Foundation

/// One MCP backend as the worker reaches it: where it is, how to talk to it, and which extra
/// headers or environment it needs.
///
/// Definitions compare by value, so ``MCPBackendPool`` can tell when a server's definition has
/// changed (a new URL, a rotated credential) and replace its connection. `description` never
/// shows header values or environment values: those carry credentials.
public struct MCPServerDefinition: Sendable, Hashable, CustomStringConvertible {
    /// How the worker speaks MCP to the server.
    public enum Transport: Sendable, Hashable {
        /// Streamable HTTP (protocol 2025-03-26 and later): one endpoint, POST per message,
        /// answers as JSON or as a server-sent event stream.
        case streamableHTTP(URL)
        /// The legacy HTTP+SSE transport (protocol 2024-11-05): a long-lived GET event stream
        /// that names an endpoint for POSTs, and carries the answers.
        case sse(URL)
        /// A child process speaking newline-delimited JSON-RPC on stdin and stdout. It gets a
        /// minimal environment (`PATH`, `HOME`, `LANG`) plus `environment`, never the worker's own.
        case stdio(command: String, arguments: [String], environment: [String: String])
    }

    /// The server id used in routing, queues, logs and the authorization tables (`github`).
    public var id: String
    public var displayName: String
    public var transport: Transport
    /// Extra HTTP headers on every request to the server (per-tenant credentials go here). Never logged.
    public var headers: [String: String]
    /// Whose credentials `headers` and the stdio environment carry (`tenant:google`), or `nil`
    /// for a backend without tenant credentials. Part of ``poolKey``: a backend session or
    /// process is never shared by two tenants, even when their credentials happen to be equal.
    public var credentialScope: String?
    /// The deadline of a call that brings none of its own, counted from the call's start; also
    /// bounds the initialisation handshake.
    public var timeout: Duration

    public init(
        id: String,
        displayName: String? = nil,
        transport: Transport,
        headers: [String: String] = [:],
        credentialScope: String? = nil,
        timeout: Duration = .seconds(60)
    ) {
        self.credentialScope = credentialScope
        self.id = id
        self.displayName = displayName ?? id
        self.transport = transport
        self.headers = headers
        self.timeout = timeout
    }

    static let poolKeySeparator = "#"

    /// What ``MCPBackendPool`` keys its backends and tool lists by: the id, and the credential scope.
    public var poolKey: String {
        credentialScope.map { id + Self.poolKeySeparator + $0 } ?? id
    }

    public var description: String {
        let target: String
        switch transport {
        case .streamableHTTP(let url): target = "streamable-http \(url.redactingCredentials)"
        case .sse(let url): target = "sse \(url.redactingCredentials)"
        case .stdio(let command, let arguments, let environment):
            target = "stdio \(command) (\(arguments.count) arguments, environment \(environment.keys.sorted()))"
        }
        return "\(id) [\(target), headers \(headers.keys.sorted())\(credentialScope.map { ", credentials of \($0)" } ?? "")]"
    }
}

extension URL {
    /// The URL without user, password and query, for logs (a query may carry an API key).
    var redactingCredentials: String {
        guard var components = URLComponents(url: self, resolvingAgainstBaseURL: true) else { return "<url>" }
        components.user = nil
        components.password = nil
        if components.query != nil { components.query = "…" }
        return components.string ?? "<url>"
    }
}
