import Foundation

/// A worker's answer to one ``RequestEnvelope``, published to the request's `reply_to` with the
/// same `correlation_id`.
///
/// Wire form (version 1), one of:
/// ```json
/// {"v":1,"callId":"…","outcome":"result","result":{"content":[…],"isError":false},
///  "worker":"worker-7f9c","startedAt":1767225600010,"finishedAt":1767225600420}
/// {"v":1,"callId":"…","outcome":"error","error":{"code":"forbidden","message":"…","detail":"…"},
///  "worker":"worker-7f9c","startedAt":1767225600010,"finishedAt":1767225600012}
/// ```
public struct Reply: Sendable, Equatable, Hashable {
    public static let currentVersion = 1

    /// What came of the call.
    public enum Outcome: Sendable, Equatable, Hashable {
        /// The MCP result, passed through as the backend gave it: for `tools/call`
        /// `{content, structuredContent?, isError}` (a tool's own failure is `isError: true`
        /// here, not an ``error(_:)``), for `tools/list` `{tools: [...]}`.
        case result(JSONValue)
        /// The gateway could not produce an MCP result.
        case error(GatewayError)
    }

    public var callID: String
    public var outcome: Outcome
    /// The id of the worker that answered (its pod name), for operators.
    public var worker: String
    public var startedAt: Date
    public var finishedAt: Date

    /// Dates are rounded to whole milliseconds, as in ``RequestEnvelope``.
    public init(callID: String, outcome: Outcome, worker: String, startedAt: Date, finishedAt: Date) {
        self.callID = callID
        self.outcome = outcome
        self.worker = worker
        self.startedAt = startedAt.roundedToMilliseconds
        self.finishedAt = finishedAt.roundedToMilliseconds
    }

    /// How long the worker spent, in milliseconds.
    public var durationMilliseconds: Int64 {
        finishedAt.millisecondsSince1970 - startedAt.millisecondsSince1970
    }

    /// The reply as JSON bytes (the AMQP message body).
    ///
    /// Throws `.malformed` for a result no ingress could read back: one with a non-finite number
    /// or nesting deeper than ``ContractJSON/maximumNestingDepth``. A worker then replies with a
    /// ``GatewayErrorCode/backendError`` instead.
    public func encoded() throws(EnvelopeError) -> [UInt8] {
        try ContractJSON.encodeMessage(self, what: "reply")
    }

    /// Reads a reply body: `.malformed` for anything that is not a version-1 reply,
    /// `.unsupportedVersion` for another version.
    public init(decoding body: [UInt8]) throws(EnvelopeError) {
        self = try ContractJSON.decodeMessage(Reply.self, from: body)
    }
}

extension Reply: Codable {
    enum CodingKeys: String, CodingKey {
        case version = "v"
        case callID = "callId"
        case outcome
        case result
        case error
        case worker
        case startedAt
        case finishedAt
    }

    private enum OutcomeTag: String, Codable {
        case result
        case error
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let version = try container.decode(Int.self, forKey: .version)
        guard version == Self.currentVersion else { throw UnsupportedContractVersion(version: version) }
        callID = try container.decode(String.self, forKey: .callID)
        switch try container.decode(OutcomeTag.self, forKey: .outcome) {
        case .result: outcome = .result(try container.decode(JSONValue.self, forKey: .result))
        case .error: outcome = .error(try container.decode(GatewayError.self, forKey: .error))
        }
        worker = try container.decode(String.self, forKey: .worker)
        startedAt = try container.decode(Date.self, forKey: .startedAt)
        finishedAt = try container.decode(Date.self, forKey: .finishedAt)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(Self.currentVersion, forKey: .version)
        try container.encode(callID, forKey: .callID)
        switch outcome {
        case .result(let result):
            try container.encode(OutcomeTag.result, forKey: .outcome)
            try container.encode(result, forKey: .result)
        case .error(let error):
            try container.encode(OutcomeTag.error, forKey: .outcome)
            try container.encode(error, forKey: .error)
        }
        try container.encode(worker, forKey: .worker)
        try container.encode(startedAt, forKey: .startedAt)
        try container.encode(finishedAt, forKey: .finishedAt)
    }
}
