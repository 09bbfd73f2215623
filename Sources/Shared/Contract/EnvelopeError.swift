/// Why a worker refuses a request message. Every case is final for that message: the worker
/// dead-letters it with ``deadLetterReason`` and answers the caller with
/// ``GatewayErrorCode/invalidEnvelope``, because retrying the same bytes cannot succeed.
public enum EnvelopeError: Error, Sendable, Equatable, Hashable, CustomStringConvertible {
    /// No `x-signature` (or no `x-signature-key-id`) header.
    case unsigned
    /// Signed with a key id this process does not hold (current or previous).
    case unknownKey(String)
    /// The signature does not match the body: tampered, truncated or signed with another key.
    case badSignature
    /// Not a JSON document of the contract's shape. The text says where and what.
    case malformed(String)
    /// A well-formed message of a contract version this build does not read.
    case unsupportedVersion(Int)
    /// Decoded, but breaks a rule of ``RequestEnvelope/validate()``.
    case invalid(String)

    /// The short, stable reason a worker records when it dead-letters the message (an AMQP
    /// header value and a metrics label, so a fixed set with no free text).
    public var deadLetterReason: String {
        switch self {
        case .unsigned: "envelope_unsigned"
        case .unknownKey: "envelope_unknown_key"
        case .badSignature: "envelope_bad_signature"
        case .malformed: "envelope_malformed"
        case .unsupportedVersion: "envelope_unsupported_version"
        case .invalid: "envelope_invalid"
        }
    }

    /// What the caller is told when a worker can still reply.
    public var gatewayErrorCode: GatewayErrorCode { .invalidEnvelope }

    /// The error as it goes into a ``Reply``: the stable code, a message, the detail.
    public var gatewayError: GatewayError {
        GatewayError(gatewayErrorCode, "the request envelope was refused: \(deadLetterReason)", detail: description)
    }

    public var description: String {
        switch self {
        case .unsigned: "message has no signature"
        case .unknownKey(let id): "message is signed with unknown key id \(id.quotedForLog(limit: 64))"
        case .badSignature: "message signature does not match its body"
        case .malformed(let detail): "message is malformed: \(detail)"
        case .unsupportedVersion(let version): "message has unsupported contract version \(version)"
        case .invalid(let detail): "message is invalid: \(detail)"
        }
    }
}
