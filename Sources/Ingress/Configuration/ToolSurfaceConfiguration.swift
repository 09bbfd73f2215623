import Foundation
import Shared

/// Settings of the client-facing tool surfaces: the MCP Streamable HTTP endpoint (`/mcp`,
/// `/servers/{server}/mcp`), the OAuth protected-resource metadata, and the OpenAPI tool server.
public struct ToolSurfaceConfiguration: Sendable {
    /// `MCP_TOOL_NAME_SEPARATOR` (default `__`): between server id and tool name on `/mcp`.
    public var toolNameSeparator = "__"
    /// `MCP_PAGE_SIZE` (default 100): tools per `tools/list` page.
    public var pageSize = 100
    /// `MCP_STREAM_AFTER_MS` (default 1000): a call still running after this long is answered as
    /// `text/event-stream` (when the client accepts it) so keep-alives can flow.
    public var streamAfter: Duration = .seconds(1)
    /// `MCP_KEEPALIVE_MS` (default 15000): interval of keep-alive comments on an event stream.
    public var keepAliveInterval: Duration = .seconds(15)
    /// `MCP_SESSION_TTL_MS` (default 24 h): how long a signed `Mcp-Session-Id` stays valid.
    public var sessionLifetime: Duration = .seconds(24 * 3600)
    /// `PUBLIC_BASE_URL` (default: from the request's `Host` and `X-Forwarded-Proto`): the
    /// ingress's public URL, used in `resource_metadata` and in the OpenAPI `servers` entry.
    public var publicBaseURL: String?
    /// `OAUTH_AUTHORIZATION_SERVERS` (comma-separated): issuers named in the protected-resource
    /// metadata, e.g. `https://login.microsoftonline.com/{tenant}/v2.0`. Unset, each tenant of
    /// `ENTRA_TENANT_IDS`.
    public var authorizationServers: [String] = []
    /// `OAUTH_SCOPES_SUPPORTED` (comma-separated), e.g. `api://{gateway-app-id}/mcp.invoke`.
    /// Unset, `ENTRA_REQUIRED_SCOPES` under `ENTRA_APP_ID_URI`.
    public var scopesSupported: [String] = []
    /// `OPENAPI_PUBLIC_DOCUMENT` (default true): an unauthenticated `GET /openapi.json` gets the
    /// document of every tool the deployment serves (tool metadata only); false answers 401.
    public var publicOpenAPIDocument = true
    /// `MCP_SERVER_NAME` (default `mcp-queue-gateway`): `serverInfo.name`.
    public var serverName = "mcp-queue-gateway"
    /// `MCP_ALLOWED_ORIGINS` (comma-separated, e.g. `https://chat.example.com`; `*` = any): the
    /// browser origins that may call the MCP endpoints. A request without `Origin` (server-side
    /// clients, Open WebUI's backend among them) is not affected; `PUBLIC_BASE_URL`'s own origin
    /// is always allowed; any other gets 403 (the MCP transport's rule against DNS rebinding).
    public var allowedOrigins: [String] = []

    public init() {}

    /// Whether a request that carries `Origin: origin` may use the MCP endpoints.
    public func allowsOrigin(_ origin: String) -> Bool {
        let origin = Self.normalizedOrigin(origin)
        if allowedOrigins.contains("*") { return true }
        if let publicBaseURL, Self.normalizedOrigin(publicBaseURL) == origin { return true }
        return allowedOrigins.contains { Self.normalizedOrigin($0) == origin }
    }

    /// `scheme://host[:port]`, lower-cased, without a path or a trailing slash.
    static func normalizedOrigin(_ text: String) -> String {
        let lowered = text.trimmingCharacters(in: .whitespaces).lowercased()
        guard let schemeEnd = lowered.range(of: "://") else { return lowered }
        let afterScheme = lowered[schemeEnd.upperBound...]
        let authority = afterScheme.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        return String(lowered[..<schemeEnd.upperBound]) + authority
    }

    /// Fills what the operator left unset from the Entra profile: each allowed tenant's v2.0
    /// issuer as an authorization server, and the required scopes (as `{app id URI}/{scope}`).
    public mutating func defaultingFromEntra(_ entra: EntraProfile?) {
        guard let entra else { return }
        if authorizationServers.isEmpty {
            authorizationServers = entra.tenantIDs.sorted().map { "https://login.microsoftonline.com/\($0)/v2.0" }
        }
        if scopesSupported.isEmpty {
            scopesSupported = entra.requiredScopes.map { $0.contains("://") ? $0 : "\(entra.appIDURI)/\($0)" }
        }
    }

    public init(environment: EnvironmentReader) throws(ConfigurationError) {
        toolNameSeparator = environment.string("MCP_TOOL_NAME_SEPARATOR", default: toolNameSeparator)
        guard !toolNameSeparator.isEmpty, toolNameSeparator.unicodeScalars.allSatisfy({ $0.isASCII && $0.properties.generalCategory != .control })
        else {
            throw ConfigurationError(variable: "MCP_TOOL_NAME_SEPARATOR", reason: "must be one or more printable ASCII characters")
        }
        pageSize = try environment.int("MCP_PAGE_SIZE", default: pageSize, range: 1...10_000)
        streamAfter = try environment.milliseconds("MCP_STREAM_AFTER_MS", default: streamAfter, range: 0...600_000)
        keepAliveInterval = try environment.milliseconds("MCP_KEEPALIVE_MS", default: keepAliveInterval, range: 100...600_000)
        sessionLifetime = try environment.milliseconds("MCP_SESSION_TTL_MS", default: sessionLifetime, range: 1000...(30 * 86_400_000))
        publicBaseURL = environment.string("PUBLIC_BASE_URL").map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        if let publicBaseURL, !(publicBaseURL.hasPrefix("https://") || publicBaseURL.hasPrefix("http://")) {
            throw ConfigurationError(variable: "PUBLIC_BASE_URL", reason: "must be an http:// or https:// URL")
        }
        authorizationServers = environment.list("OAUTH_AUTHORIZATION_SERVERS")
        scopesSupported = environment.list("OAUTH_SCOPES_SUPPORTED")
        publicOpenAPIDocument = try environment.bool("OPENAPI_PUBLIC_DOCUMENT", default: publicOpenAPIDocument)
        serverName = environment.string("MCP_SERVER_NAME", default: serverName)
        allowedOrigins = environment.list("MCP_ALLOWED_ORIGINS")
        for origin in allowedOrigins where origin != "*" && !(origin.hasPrefix("https://") || origin.hasPrefix("http://")) {
            throw ConfigurationError(variable: "MCP_ALLOWED_ORIGINS", reason: "'\(origin)' is not an http:// or https:// origin (or *)")
        }
    }
}
