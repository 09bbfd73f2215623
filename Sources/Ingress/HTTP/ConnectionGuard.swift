import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes
import Synchronization

/// Keeps slow or silent clients from holding the ingress's connections, one handler per
/// connection, after HTTP decoding (it sees request parts):
///
/// - a new connection must deliver a complete request head within `headerReadTimeout`
///   (a client that sends nothing, or a header a byte at a time, is closed);
/// - a request's body must arrive in full within `bodyReadTimeout` of its head;
/// - no more than `maximumConnections` connections are open at once: one more is closed at once.
///
/// Between requests on a kept-alive connection, Hummingbird's idle timeout applies
/// (`INGRESS_IDLE_TIMEOUT_MS`; a partly received head does not count as activity, so a slow
/// header there is bounded by it). While a request is being answered nothing here interferes:
/// a long tool call keeps its connection.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// The open connections of one listener, shared by all of its guards.
    final class Counter: Sendable {
        let maximum: Int
        private let open = Atomic<Int>(0)
        init(maximum: Int) { self.maximum = maximum }
        var current: Int { open.load(ordering: .relaxed) }
        /// Counts one more connection; `false` (and not counted) when the limit is reached.
        func admit() -> Bool {
            if open.wrappingAdd(1, ordering: .relaxed).newValue <= maximum { return true }
            open.wrappingSubtract(1, ordering: .relaxed)
            return false
        }
        func release() { open.wrappingSubtract(1, ordering: .relaxed) }
    }

    private let counter: Counter
    private let headerReadTimeout: TimeAmount
    private let bodyReadTimeout: TimeAmount
    private let logger: Logger
    private var admitted = false
    private var timer: Scheduled<Void>?

    init(counter: Counter, headerReadTimeout: Duration, bodyReadTimeout: Duration, logger: Logger) {
        self.counter = counter
        self.headerReadTimeout = TimeAmount(headerReadTimeout)
        self.bodyReadTimeout = TimeAmount(bodyReadTimeout)
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        guard counter.admit() else {
            logger.warning("Connection refused: too many open connections", metadata: ["limit": "\(counter.maximum)"])
            context.close(promise: nil)
            return
        }
        admitted = true
        arm(context, after: headerReadTimeout, reason: "no complete request head in time")
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        disarm()
        if admitted {
            admitted = false
            counter.release()
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            arm(context, after: bodyReadTimeout, reason: "the request body did not arrive in time")
        case .body:
            break
        case .end:
            disarm()
        }
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        if admitted {
            admitted = false
            counter.release()
        }
        context.fireChannelInactive()
    }

    private func arm(_ context: ChannelHandlerContext, after timeout: TimeAmount, reason: String) {
        disarm()
        let logger = self.logger
        timer = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: timeout) {
            logger.info("Connection closed: \(reason)")
            context.close(promise: nil)
        }
    }

    private func disarm() {
        timer?.cancel()
        timer = nil
    }
}
