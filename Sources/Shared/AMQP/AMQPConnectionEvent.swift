/// What an ``AMQPConnection`` reports to its observers, from its own thread: keep observers short.
public enum AMQPConnectionEvent: Sendable {
    /// A connection is up and the topology, confirm mode and consumers are in place.
    /// `generation` increases with every new connection.
    case connected(generation: UInt64)
    /// The connection broke (or could not be made); the client is reconnecting.
    case disconnected(AMQPError)
    /// The broker began blocking publishers (`connection.blocked`), with its reason.
    case blocked(reason: String)
    case unblocked
    /// The client was closed and will not reconnect.
    case closed
}

/// A consistent snapshot of the connection's state, for readiness checks.
public struct AMQPConnectionStatus: Sendable, Equatable {
    public var connected: Bool
    public var blocked: Bool
    public var generation: UInt64
    public var closed: Bool
    /// Why the last connection attempt or connection failed, if it did.
    public var lastError: String?
    /// The broker address of the current connection (`nil` while disconnected).
    public var address: AMQPAddress? = nil
}

/// Message count and consumer count of a queue, from a passive declare.
public struct AMQPQueueStatus: Sendable, Equatable {
    public var messages: UInt32
    public var consumers: UInt32
}
