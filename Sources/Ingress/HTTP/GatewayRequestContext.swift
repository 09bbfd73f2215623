import Foundation
import Hummingbird
import Logging
import NIOCore
import Shared

/// The per-request context: who is calling (set by ``AuthenticationMiddleware``), the call id
/// every log line of this request carries, and the body limit.
public struct GatewayRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var principal: Principal?
    public let callID: String
    public var maxUploadSize: Int
    /// Completes when the client's connection closes: a call streaming its answer is cancelled
    /// then, at once, not when the next keep-alive write fails.
    public let connectionClosed: EventLoopFuture<Void>
    /// The caller as the access log learns it (set with ``principal``).
    let caller = RequestCaller()

    public init(source: ApplicationRequestContextSource) {
        coreContext = CoreRequestContextStorage(source: source)
        connectionClosed = source.channel.closeFuture
        callID = UUID().uuidString.lowercased()
        maxUploadSize = 1 << 20
        logger[metadataKey: LogKeys.callID] = .string(callID)
    }

    /// The verified caller, or a 401 when the route was reached without authentication.
    public func requirePrincipal() throws -> Principal {
        guard let principal else {
            throw GatewayHTTPError(GatewayError(.unauthenticated, "authentication is required"), callID: callID)
        }
        return principal
    }
}
