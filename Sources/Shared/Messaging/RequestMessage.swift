import Foundation

/// How a signed request envelope travels as an AMQP message, in both directions.
public enum RequestMessage {
    /// The AMQP properties of a request: the call id as `message_id` and `correlation_id`,
    /// replies by direct reply-to, `expiration` from the deadline (so the broker drops work
    /// nobody waits for), the signature and routing hints as headers.
    public static func properties(for envelope: RequestEnvelope, signatureHeaders: [String: String], now: Date = .now) -> AMQPProperties {
        var headers: AMQPTable = [:]
        for (name, value) in envelope.headers { headers[name] = .string(value) }
        for (name, value) in signatureHeaders { headers[name] = .string(value) }
        return AMQPProperties(
            contentType: "application/json",
            headers: headers,
            persistent: true,
            correlationID: envelope.callID,
            replyTo: AMQPConnection.directReplyTo,
            expiration: ContractHeaders.expiration(deadline: envelope.deadline, now: now),
            messageID: envelope.callID,
            timestamp: UInt64(max(0, envelope.issuedAt.timeIntervalSince1970)),
            type: envelope.kind.rawValue,
            appID: "mcp-ingress"
        )
    }

    /// The string-valued headers of a delivery, as ``SignedEnvelopeCodec/decode(body:headers:)`` takes them.
    public static func stringHeaders(of delivery: AMQPDelivery) -> [String: String] {
        var headers: [String: String] = [:]
        for (name, value) in delivery.properties.headers {
            if let string = value.stringValue { headers[name] = string }
        }
        return headers
    }

    /// The properties of a reply to `request`.
    public static func replyProperties(to request: AMQPDelivery, callID: String) -> AMQPProperties {
        AMQPProperties(
            contentType: "application/json",
            correlationID: request.properties.correlationID ?? callID,
            messageID: UUID().uuidString,
            timestamp: UInt64(Date.now.timeIntervalSince1970),
            type: "reply",
            appID: "mcp-worker"
        )
    }
}
