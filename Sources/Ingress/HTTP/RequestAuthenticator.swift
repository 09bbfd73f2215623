import Hummingbird
import Logging
import Shared

/// Turns a request's `Authorization` header into a verified ``Principal``, or refuses it with
/// the HTTP error to send (401 with `WWW-Authenticate`, 403, 503).
///
/// The principal comes from the verified token only: identity headers sent by the caller
/// (`X-Entra-Groups`, `X-User-Groups`, `X-OpenWebUI-User-*`, `X-Auth-Source`, ...) are never read.
public protocol RequestAuthenticator: Sendable {
    func authenticate(headers: HTTPFields, callID: String) async throws(GatewayHTTPError) -> Principal
}

/// Authenticates every request that passes through it and stores the principal in the context.
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext
    let authenticator: any RequestAuthenticator

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.principal = try await authenticator.authenticate(headers: request.headers, callID: context.callID)
        context.caller.principal = context.principal
        context.logger[metadataKey: "principal_sub"] = .string(context.principal?.subject ?? "-")
        context.logger[metadataKey: "principal_tid"] = .string(context.principal?.tenantID ?? "-")
        return try await next(request, context)
    }
}
