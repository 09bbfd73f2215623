import Foundation

/// One progress notification of a running `tools/call`, on its way from the worker to the
/// ingress that waits for the call (only when the envelope's ``RequestEnvelope/wantsProgress``
/// is set).
///
/// It travels like the reply, to the call's `reply_to` with the call id as `correlation_id`,
/// but with the AMQP `type` ``amqpType``, so that the ingress tells it from the reply. Updates
/// and the reply go out on one channel, so they arrive in the order they were sent: every update
/// before the reply. Updates are best effort (a lost one loses nothing but a progress bar).
///
/// Wire form: `{"callId":"…","progress":2,"total":5,"message":"slept 2s"}`.
public struct ProgressUpdate: Codable, Sendable, Equatable {
    /// The AMQP `type` property of a progress message (the reply has none).
    public static let amqpType = "progress"

    public var callID: String
    public var progress: Double
    public var total: Double?
    public var message: String?

    public init(callID: String, progress: Double, total: Double? = nil, message: String? = nil) {
        self.callID = callID
        self.progress = progress
        self.total = total
        self.message = message.map { String($0.prefix(1024)) }
    }

    enum CodingKeys: String, CodingKey {
        case callID = "callId"
        case progress
        case total
        case message
    }

    public func encoded() throws(EnvelopeError) -> [UInt8] {
        try ContractJSON.encodeMessage(self, what: "progress update")
    }

    public init(decoding body: [UInt8]) throws(EnvelopeError) {
        self = try ContractJSON.decodeMessage(Self.self, from: body)
    }
}
