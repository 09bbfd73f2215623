import HTTPTypes
import Hummingbird

extension HTTPField.Name {
    static let callID = Self("X-Call-Id")!
}

/// Counts every response by route template (not raw path, to keep label cardinality bounded),
/// method and status, errors included, and puts `X-Call-Id` on every answer, errors included.
/// A route that made a call under another id (derived from an `Idempotency-Key`, or an MCP
/// `tools/call`'s) has set the header itself, and that id is kept: it is the audit record's.
struct RequestMetricsMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext
    let metrics: IngressMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as GatewayHTTPError {
            response = try error.response(from: request, context: context)
            if let callID = error.callID { response.headers[.callID] = callID }
        } catch let error as any HTTPResponseError {
            response = try error.response(from: request, context: context)
        } catch {
            metrics.requestFinished(route: context.endpointPath ?? "unmatched", method: request.method.rawValue, status: 500)
            throw error
        }
        metrics.requestFinished(route: context.endpointPath ?? "unmatched", method: request.method.rawValue, status: response.status.code)
        if response.headers[.callID] == nil { response.headers[.callID] = context.callID }
        return response
    }
}
