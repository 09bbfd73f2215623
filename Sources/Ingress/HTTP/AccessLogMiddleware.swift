import HTTPTypes
import Hummingbird
import Logging
import Shared
import Synchronization

extension HTTPField.Name {
    static let callID = Self("X-Call-Id")!
}

/// One access-log line and one `mcpgw_ingress_http_requests_total` count per response, errors
/// included, by route template (not raw path, to keep label cardinality bounded), method and
/// status; and `X-Call-Id` on every answer. A route that made a call under another id (derived
/// from an `Idempotency-Key`, or an MCP `tools/call`'s) has set the header itself, and that id
/// is kept: it is the audit record's, and the access log's `call_id`.
///
/// The line carries the caller's tenant and object id once authenticated (never a token), and,
/// when tracing is on, the request's `trace_id` and `span_id` (the tracing middleware runs
/// outside this one). Probes (`/healthz`, `/readyz`, `/metrics`) log at `debug`; 5xx answers at
/// `warning` at least.
struct AccessLogMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext
    let metrics: IngressMetrics
    /// `INGRESS_ACCESS_LOG_LEVEL`; `nil` writes no access log.
    let level: Logger.Level?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as GatewayHTTPError {
            response = try error.response(from: request, context: context)
            if let callID = error.callID { response.headers[.callID] = callID }
        } catch let error as any HTTPResponseError {
            response = try error.response(from: request, context: context)
        } catch {
            finished(request, context: context, status: 500, callID: context.callID, since: started)
            throw error
        }
        if response.headers[.callID] == nil { response.headers[.callID] = context.callID }
        finished(request, context: context, status: response.status.code, callID: response.headers[.callID] ?? context.callID, since: started)
        return response
    }

    private func finished(_ request: Request, context: Context, status: Int, callID: String, since started: ContinuousClock.Instant) {
        let route = context.endpointPath ?? "unmatched"
        metrics.requestFinished(route: route, method: request.method.rawValue, status: status)
        guard let level else { return }
        let lineLevel: Logger.Level =
            if status >= 500 { max(level, .warning) } else if Self.probes.contains(route) { .debug } else { level }
        var metadata: Logger.Metadata = [
            LogKeys.callID: .string(callID), "http_method": .string(request.method.rawValue), "http_route": .string(route),
            "http_status": .stringConvertible(status), "duration_ms": .stringConvertible(Self.milliseconds(started.duration(to: .now))),
        ]
        if let caller = context.caller.principal {
            metadata["principal_tid"] = .string(caller.tenantID)
            if let oid = caller.objectID { metadata["principal_oid"] = .string(oid) }
        }
        context.logger.log(level: lineLevel, "HTTP request", metadata: metadata)
    }

    private static func milliseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
    }

    private static let probes: Set<String> = ["/healthz", "/readyz", "/metrics"]
}

/// What the access log learns while a request runs deeper in the router: the caller, once
/// ``AuthenticationMiddleware`` verified it. A reference, because each middleware gets its own
/// copy of the request context.
final class RequestCaller: Sendable {
    private let stored = Mutex<Principal?>(nil)

    var principal: Principal? {
        get { stored.withLock { $0 } }
        set { stored.withLock { $0 = newValue } }
    }
}
