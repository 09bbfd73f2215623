import Hummingbird
import Shared

/// OAuth 2.0 Protected Resource Metadata (RFC 9728), as the MCP authorization spec asks: it tells
/// an MCP client which authorization server (Microsoft Entra ID) issues tokens for this gateway
/// and which scopes to ask for. Served at `/.well-known/oauth-protected-resource` and, per
/// RFC 9728 §3.1, at that path followed by the resource's own path
/// (`/.well-known/oauth-protected-resource/mcp` describes `https://host/mcp`).
struct ProtectedResourceRoutes {
    static let path = "/.well-known/oauth-protected-resource"
    let surface: ToolSurfaceConfiguration

    func add(to router: Router<GatewayRequestContext>) {
        router.get(".well-known/oauth-protected-resource") { request, _ in
            try JSONResponse.make(document(resource: PublicURL.base(of: request, configured: surface.publicBaseURL)))
        }
        router.get(".well-known/oauth-protected-resource/**") { request, context in
            let suffix = context.parameters.getCatchAll().joined(separator: "/")
            let base = PublicURL.base(of: request, configured: surface.publicBaseURL)
            return try JSONResponse.make(document(resource: base + "/" + suffix))
        }
    }

    func document(resource: String) -> JSONValue {
        var document: [String: JSONValue] = [
            "resource": .string(resource),
            "authorization_servers": .array(surface.authorizationServers.map(JSONValue.string)),
            "bearer_methods_supported": ["header"],
            "resource_name": "MCP queue gateway",
        ]
        if !surface.scopesSupported.isEmpty { document["scopes_supported"] = .array(surface.scopesSupported.map(JSONValue.string)) }
        return .object(document)
    }
}

/// Adds `resource_metadata` (and `scope`, when configured) to the `WWW-Authenticate` challenge of
/// every 401 behind it, so an MCP client that has no token, or a bad one, can find out where to
/// get one (MCP authorization spec; RFC 9728 §5.1).
struct ResourceMetadataChallengeMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext
    let surface: ToolSurfaceConfiguration

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let refusal as GatewayHTTPError where refusal.status == .unauthorized {
            var error = refusal
            let base = PublicURL.base(of: request, configured: surface.publicBaseURL)
            let path = request.uri.path == "/" ? "" : request.uri.path
            var challenge = error.headers[.wwwAuthenticate] ?? #"Bearer realm="mcp-gateway""#
            challenge += #", resource_metadata="\#(base)\#(ProtectedResourceRoutes.path)\#(path)""#
            if !surface.scopesSupported.isEmpty, !challenge.contains("scope=") {
                challenge += #", scope="\#(surface.scopesSupported.joined(separator: " "))""#
            }
            error.headers[.wwwAuthenticate] = challenge
            throw error
        }
    }
}
