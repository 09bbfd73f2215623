import Foundation
import Shared

/// One message of the dead-letter queue, as `mcpgw dead-letters` shows it: what it was, why the
/// broker dead-lettered it (`x-death`), and, with the signing key at hand, why a worker refused it
/// (the same check the worker makes, ``SignedEnvelopeCodec``).
public struct DeadLetter: Sendable {
    public var callID: String
    public var server: String?
    public var tool: String?
    /// The broker's reason: `rejected` (a worker refused it, or it was poison), `expired` (its
    /// deadline passed in the queue), `delivery_limit` (redelivered too often), `maxlen`.
    public var reason: String
    /// The queue it was dead-lettered from.
    public var queue: String?
    public var deadLetteredAt: Date?
    /// How often it was dead-lettered (`x-death` count).
    public var count: Int64?
    /// The worker's verdict on the envelope (`envelope_bad_signature`, ...), `valid`, or `nil`
    /// without the signing key.
    public var envelope: String?
    /// The envelope, when its JSON could be read (signature not checked).
    public var request: RequestEnvelope?
    /// The original message, to requeue as it was.
    public var delivery: AMQPDelivery

    public init(_ delivery: AMQPDelivery, codec: SignedEnvelopeCodec?) {
        self.delivery = delivery
        let headers = delivery.properties.headers
        callID = delivery.properties.messageID ?? delivery.properties.correlationID ?? ""
        let death = headers["x-death"].flatMap { value -> AMQPTable? in
            if case .array(let deaths) = value, case .table(let first)? = deaths.first { return first }
            return nil
        }
        reason = headers["x-first-death-reason"]?.stringValue ?? death?["reason"]?.stringValue ?? "unknown"
        queue = headers["x-first-death-queue"]?.stringValue ?? death?["queue"]?.stringValue
        count = death?["count"]?.intValue
        deadLetteredAt = death?["time"]?.intValue.map { Date(timeIntervalSince1970: Double($0)) }
        request = try? ContractJSON.decodeMessage(RequestEnvelope.self, from: delivery.body)
        server = request?.server ?? headers[ContractHeaders.server]?.stringValue
        tool = request?.tool ?? headers[ContractHeaders.tool]?.stringValue
        if let codec {
            do {
                _ = try codec.decode(body: delivery.body, headers: RequestMessage.stringHeaders(of: delivery))
                envelope = "valid"
            } catch {
                envelope = error.deadLetterReason
            }
        }
    }

    /// Whether a worker would run it if requeued now: a valid envelope (when that could be
    /// checked) whose deadline has not passed. The ledger decides the rest (a started call is
    /// answered from it, never run twice).
    public func mayRun(now: Date = .now) -> Bool {
        guard let request, envelope == nil || envelope == "valid" else { return false }
        return !request.isExpired(now: now)
    }
}
