import Foundation

/// "Stop call `callId`": published by any ingress replica to the cancellation fanout exchange
/// (``GatewayTopology/cancelExchange``) when an MCP client sends `notifications/cancelled` or
/// drops the stream of a running call. Every worker receives it on a queue of its own: the one
/// running the call cancels it (its MCP client then tells the backend), and any worker that
/// takes the queued request later skips it.
///
/// Signed like an envelope (HMAC-SHA256 of the body, ``ContractHeaders/signature``), so only an
/// ingress can cancel calls. Wire form: `{"v":1,"callId":"…","issuedAt":1767225600000,"reason":"…"}`.
public struct CancellationMessage: Codable, Sendable, Equatable {
    public static let currentVersion = 1

    public var callID: String
    public var issuedAt: Date
    public var reason: String?

    public init(callID: String, issuedAt: Date = .now, reason: String? = nil) {
        self.callID = callID
        self.issuedAt = issuedAt.roundedToMilliseconds
        self.reason = reason.map { String($0.prefix(256)) }
    }

    enum CodingKeys: String, CodingKey {
        case version = "v"
        case callID = "callId"
        case issuedAt
        case reason
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let version = try container.decode(Int.self, forKey: .version)
        guard version == Self.currentVersion else { throw UnsupportedContractVersion(version: version) }
        callID = try container.decode(String.self, forKey: .callID)
        issuedAt = try container.decode(Date.self, forKey: .issuedAt)
        reason = try container.decodeIfPresent(String.self, forKey: .reason)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(Self.currentVersion, forKey: .version)
        try container.encode(callID, forKey: .callID)
        try container.encode(issuedAt, forKey: .issuedAt)
        try container.encodeIfPresent(reason, forKey: .reason)
    }

    /// The body and its signature headers.
    public func signed(with signer: EnvelopeSigner) throws(EnvelopeError) -> (body: [UInt8], headers: [String: String]) {
        let body = try ContractJSON.encodeMessage(self, what: "cancellation")
        let (keyID, signature) = signer.sign(body: body)
        return (body, [ContractHeaders.signatureKeyID: keyID, ContractHeaders.signature: signature])
    }

    /// Verifies the signature over the exact bytes, then decodes them.
    public init(verifying body: [UInt8], headers: [String: String], signer: EnvelopeSigner) throws(EnvelopeError) {
        guard let keyID = headers[ContractHeaders.signatureKeyID], let signature = headers[ContractHeaders.signature] else {
            throw .unsigned
        }
        try signer.verify(body: body, keyID: keyID, signature: signature)
        self = try ContractJSON.decodeMessage(CancellationMessage.self, from: body)
    }
}
