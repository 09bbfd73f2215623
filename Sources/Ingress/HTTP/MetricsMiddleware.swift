import HTTPTypes
import Hummingbird

extension HTTPField.Name {
    static let callID = Self("X-Call-Id")!
}

/// Counts every response by route template (not raw path, to keep label cardinality bounded),
/// method and status, errors included.
struct RequestMetricsMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext
    let metrics: IngressMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            var response = try await next(request, context)
            metrics.requestFinished(route: context.endpointPath ?? "unmatched", method: request.method.rawValue, status: response.status.code)
            // The call id names this request in the logs, the audit stream and error bodies.
            response.headers[.callID] = context.callID
            return response
        } catch let error as any HTTPResponseError {
            metrics.requestFinished(route: context.endpointPath ?? "unmatched", method: request.method.rawValue, status: error.status.code)
            throw error
        } catch {
            metrics.requestFinished(route: context.endpointPath ?? "unmatched", method: request.method.rawValue, status: 500)
            throw error
        }
    }
}
