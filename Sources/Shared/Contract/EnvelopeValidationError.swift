/// A rule of ``RequestEnvelope/validate()`` that an envelope breaks.
public enum EnvelopeValidationError: Error, Sendable, Equatable, Hashable, CustomStringConvertible {
    /// `callId` is not a UUID.
    case invalidCallID(String)
    /// The server id does not match `^[a-z0-9][a-z0-9_-]{0,62}$`.
    case invalidServerID(String)
    /// A `tools/call` without a tool name.
    case missingTool
    /// A `tools/list` that names a tool.
    case unexpectedTool(String)
    /// The tool name is empty, too long or contains a control character.
    case invalidToolName(String, reason: String)
    /// `arguments` is not a JSON object.
    case argumentsNotObject
    /// `arguments` nests deeper than ``RequestEnvelope/maximumArgumentsDepth``.
    case argumentsTooDeep
    /// `deadline` is earlier than `issuedAt`.
    case deadlineBeforeIssuedAt
    /// The idempotency key is empty, longer than 256 bytes or contains a control character.
    case invalidIdempotencyKey

    public var description: String {
        switch self {
        case .invalidCallID(let id): "callId \(quoted(id)) is not a UUID"
        case .invalidServerID(let id): "server id \(quoted(id)) must match ^[a-z0-9][a-z0-9_-]{0,62}$"
        case .missingTool: "tools/call needs a tool name"
        case .unexpectedTool(let tool): "tools/list takes no tool name, got \(quoted(tool))"
        case .invalidToolName(let name, let reason): "tool name \(quoted(name)) \(reason)"
        case .argumentsNotObject: "arguments must be a JSON object"
        case .argumentsTooDeep: "arguments nest deeper than \(RequestEnvelope.maximumArgumentsDepth) levels"
        case .deadlineBeforeIssuedAt: "deadline is before issuedAt"
        case .invalidIdempotencyKey: "idempotencyKey must be 1 to 256 bytes without control characters"
        }
    }

    private func quoted(_ value: String) -> String { value.quotedForLog() }
}
