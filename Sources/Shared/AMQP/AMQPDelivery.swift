/// A message delivered to a consumer (or returned by the broker).
///
/// A delivery belongs to the channel and the connection that carried it: acknowledge it through
/// the ``AMQPConnection`` that yielded it. After a reconnect, older deliveries can no longer be
/// acknowledged (the broker has already requeued them); doing so fails with
/// ``AMQPError/Code-swift.struct/staleDelivery``.
public struct AMQPDelivery: Sendable {
    public var body: [UInt8]
    public var properties: AMQPProperties
    public var exchange: String
    public var routingKey: String
    public var redelivered: Bool
    public var deliveryTag: UInt64
    public var consumerTag: String

    /// Which channel and which connection generation delivered it; acks must go back there.
    let channel: UInt16
    let generation: UInt64

    /// How many times a quorum queue has delivered this message before (`x-delivery-count`),
    /// 0 on the first delivery.
    public var deliveryCount: Int {
        properties.headers["x-delivery-count"]?.intValue.map { Int($0) } ?? 0
    }

    /// The offset of this record in a stream (`x-stream-offset`), for stream consumers.
    public var streamOffset: Int64? {
        properties.headers["x-stream-offset"]?.intValue
    }
}
