/// An error from the AMQP client: a code to switch on, and the broker's or the library's words.
///
/// `Code` is a struct rather than an enum so new codes can be added without breaking callers'
/// `switch` statements (the pattern postgres-nio uses for `PSQLError`).
public struct AMQPError: Error, Sendable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        enum Base: String, Sendable, Hashable {
            case connectionFailed = "connection_failed"
            case notConnected = "not_connected"
            case connectionLost = "connection_lost"
            case blocked
            case noRoute = "no_route"
            case nacked
            case publishTimeout = "publish_timeout"
            case channelClosed = "channel_closed"
            case connectionClosedByBroker = "connection_closed_by_broker"
            case consumerCancelled = "consumer_cancelled"
            case staleDelivery = "stale_delivery"
            case invalidArgument = "invalid_argument"
            case closed
            case protocolError = "protocol_error"
            case tls
        }

        let base: Base
        init(_ base: Base) { self.base = base }

        /// The TCP or TLS connection or the AMQP handshake failed (wrong host, credentials, vhost).
        public static let connectionFailed = Self(.connectionFailed)
        /// The client is between connections (reconnecting); nothing was sent.
        public static let notConnected = Self(.notConnected)
        /// The connection broke while the operation was in flight; the broker may or may not
        /// have received a publish. The caller decides whether to retry.
        public static let connectionLost = Self(.connectionLost)
        /// The broker is blocking publishers (a memory or disk alarm); nothing was sent, or the
        /// publish was still unconfirmed when the block began.
        public static let blocked = Self(.blocked)
        /// A `mandatory` publish matched no queue.
        public static let noRoute = Self(.noRoute)
        /// The broker refused the message (`basic.nack`), e.g. a full queue with `reject-publish`.
        public static let nacked = Self(.nacked)
        /// No confirm arrived in time; the broker may still route the message.
        public static let publishTimeout = Self(.publishTimeout)
        /// The broker closed a channel (for instance an argument mismatch on declare, 406).
        public static let channelClosed = Self(.channelClosed)
        /// The broker closed the connection (`connection.close`).
        public static let connectionClosedByBroker = Self(.connectionClosedByBroker)
        /// The broker cancelled a consumer (`basic.cancel`), e.g. its queue was deleted.
        public static let consumerCancelled = Self(.consumerCancelled)
        /// An ack or nack for a delivery from an earlier connection.
        public static let staleDelivery = Self(.staleDelivery)
        public static let invalidArgument = Self(.invalidArgument)
        /// The client was closed.
        public static let closed = Self(.closed)
        /// The library or the broker broke the protocol.
        public static let protocolError = Self(.protocolError)
        /// TLS setup failed (certificate files, verification).
        public static let tls = Self(.tls)

        public var description: String { base.rawValue }
    }

    public var code: Code
    /// What went wrong, in the broker's or librabbitmq's words.
    public var message: String
    /// The AMQP reply code when the broker sent one (404, 406, 312, 320, ...).
    public var replyCode: UInt16?

    public init(_ code: Code, _ message: String, replyCode: UInt16? = nil) {
        self.code = code
        self.message = message
        self.replyCode = replyCode
    }

    public var description: String {
        if let replyCode { return "AMQP \(code) (\(replyCode)): \(message)" }
        return "AMQP \(code): \(message)"
    }
}
