import Foundation

/// One MCP call on its way from the ingress to a worker: the body of the AMQP request message.
///
/// The ingress builds it from the verified token and the HTTP request, signs its JSON bytes
/// (``SignedEnvelopeCodec``) and publishes it with `message_id` and `correlation_id` both set to
/// ``callID``. A worker trusts nothing but the signed body: the AMQP headers that repeat some of
/// these fields (``ContractHeaders``) are routing and tracing hints only.
///
/// Wire form (version 1):
/// ```json
/// {"v":1,"callId":"…","kind":"tools/call","server":"github","tool":"search_issues",
///  "arguments":{…},"principal":{…},"issuedAt":1767225600000,"deadline":1767225630000,
///  "trace":{"traceparent":"00-…","tracestate":"…"},"idempotencyKey":"…"}
/// ```
public struct RequestEnvelope: Sendable, Equatable, Hashable {
    /// The contract version this type reads and writes (`v`).
    public static let currentVersion = 1

    /// A UUID in its string form: the AMQP `message_id` and `correlation_id`, the audit key, and
    /// the `call_id` of every log line about this call.
    public var callID: String
    public var kind: CallKind
    /// The MCP server to call, e.g. `github`; also the routing key.
    public var server: String
    /// The tool to call: required for `tools/call`, absent for `tools/list`.
    public var tool: String?
    /// The tool's arguments: always a JSON object (`{}` for `tools/list`).
    public var arguments: JSONValue
    public var principal: Principal
    /// When the ingress accepted the call, to the millisecond.
    public var issuedAt: Date
    /// The caller's absolute deadline, to the millisecond. A worker does not start a call after it.
    public var deadline: Date
    /// The caller's trace, if it sent a valid one (or the one the ingress started).
    public var trace: TraceContext?
    /// A caller-chosen key that lets workers recognise a repeated side-effecting call.
    public var idempotencyKey: String?
    /// The caller wants the backend's progress notifications while a `tools/call` runs: the
    /// worker then sends each as a ``ProgressUpdate`` to `reply_to` ahead of the reply.
    public var wantsProgress: Bool

    /// Dates are rounded to whole milliseconds here, so that an envelope equals itself after a
    /// trip through JSON.
    public init(
        callID: String = UUID().uuidString.lowercased(),
        kind: CallKind,
        server: String,
        tool: String? = nil,
        arguments: JSONValue = .object([:]),
        principal: Principal,
        issuedAt: Date,
        deadline: Date,
        trace: TraceContext? = nil,
        idempotencyKey: String? = nil,
        wantsProgress: Bool = false
    ) {
        self.callID = callID
        self.kind = kind
        self.server = server
        self.tool = tool
        self.arguments = arguments
        self.principal = principal
        self.issuedAt = issuedAt.roundedToMilliseconds
        self.deadline = deadline.roundedToMilliseconds
        self.trace = trace
        self.idempotencyKey = idempotencyKey
        self.wantsProgress = wantsProgress
    }

    /// The time left until ``deadline`` (negative once it has passed).
    public func remaining(now: Date = .now) -> Duration {
        .milliseconds(deadline.millisecondsSince1970 - now.millisecondsSince1970)
    }

    public func isExpired(now: Date = .now) -> Bool {
        now >= deadline
    }

    /// The AMQP headers that repeat envelope fields for routing, tracing and cheap deadline
    /// checks (unsigned: a worker decides on the envelope, not on these).
    public var headers: [String: String] {
        var headers = [
            ContractHeaders.deadline: String(deadline.millisecondsSince1970),
            ContractHeaders.server: server,
        ]
        if let tool { headers[ContractHeaders.tool] = tool }
        if let trace { headers.merge(trace.headers) { _, new in new } }
        return headers
    }
}

// MARK: Validation

extension RequestEnvelope {
    /// Longest tool name accepted.
    public static let maximumToolNameLength = 128
    /// Deepest nesting of the arguments object (itself one level): what fits in
    /// ``ContractJSON/maximumNestingDepth`` under the envelope object.
    public static let maximumArgumentsDepth = ContractJSON.maximumNestingDepth - 1
    /// Longest idempotency key accepted.
    public static let maximumIdempotencyKeyLength = 256

    /// Checks what JSON decoding cannot: the rules that make an envelope safe to route and run.
    /// The first broken rule is thrown.
    public func validate() throws(EnvelopeValidationError) {
        guard UUID(uuidString: callID) != nil else { throw .invalidCallID(callID) }
        if kind == .listServers || kind == .catalogTools || kind == .explain || kind == .callStatus {
            guard server == Self.catalogServer else { throw .invalidServerID(server) }
        } else {
            guard Self.isValidServerID(server) else { throw .invalidServerID(server) }
        }
        switch (kind, tool) {
        case (.callTool, nil): throw .missingTool
        case (.listTools, .some(let tool)), (.listServers, .some(let tool)), (.catalogTools, .some(let tool)), (.explain, .some(let tool)),
            (.callStatus, .some(let tool)):
            throw .unexpectedTool(tool)
        case (.callTool, .some(let tool)): try Self.validateToolName(tool)
        case (.listTools, nil), (.listServers, nil), (.catalogTools, nil), (.explain, nil), (.callStatus, nil): break
        }
        guard arguments.isObject else { throw .argumentsNotObject }
        guard arguments.nestingDepth <= Self.maximumArgumentsDepth else { throw .argumentsTooDeep }
        guard deadline >= issuedAt else { throw .deadlineBeforeIssuedAt }
        if let idempotencyKey {
            guard !idempotencyKey.isEmpty, idempotencyKey.utf8.count <= Self.maximumIdempotencyKeyLength,
                !Self.containsControlCharacter(idempotencyKey)
            else { throw .invalidIdempotencyKey }
        }
    }

    /// The target of `servers/list` and `catalog/tools` requests: the gateway's catalog, which no MCP server id
    /// can name (ids never start with `_`).
    public static let catalogServer = "_catalog"

    /// `^[a-z0-9][a-z0-9_-]{0,62}$`: safe as a routing key, a queue name suffix and a label.
    public static func isValidServerID(_ id: String) -> Bool {
        let bytes = Array(id.utf8)
        guard let first = bytes.first, bytes.count <= 63, isLowerAlphanumeric(first) else { return false }
        return bytes.dropFirst().allSatisfy { isLowerAlphanumeric($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
    }

    /// Non-empty, at most ``maximumToolNameLength`` characters, no control characters.
    public static func validateToolName(_ name: String) throws(EnvelopeValidationError) {
        if name.isEmpty { throw .invalidToolName(name, reason: "is empty") }
        if name.count > maximumToolNameLength {
            throw .invalidToolName(name, reason: "is longer than \(maximumToolNameLength) characters")
        }
        if containsControlCharacter(name) { throw .invalidToolName(name, reason: "contains a control character") }
    }

    private static func containsControlCharacter(_ string: String) -> Bool {
        string.unicodeScalars.contains { $0.properties.generalCategory == .control }
    }

    private static func isLowerAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }
}

// MARK: Coding

extension RequestEnvelope: Codable {
    enum CodingKeys: String, CodingKey {
        case version = "v"
        case callID = "callId"
        case kind
        case server
        case tool
        case arguments
        case principal
        case issuedAt
        case deadline
        case trace
        case idempotencyKey
        case wantsProgress = "progress"
    }

    /// Reads `v` first and throws ``UnsupportedContractVersion`` for any other version, before
    /// looking at fields whose meaning that version may have changed.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let version = try container.decode(Int.self, forKey: .version)
        guard version == Self.currentVersion else { throw UnsupportedContractVersion(version: version) }
        callID = try container.decode(String.self, forKey: .callID)
        kind = try container.decode(CallKind.self, forKey: .kind)
        server = try container.decode(String.self, forKey: .server)
        tool = try container.decodeIfPresent(String.self, forKey: .tool)
        arguments = try container.decodeIfPresent(JSONValue.self, forKey: .arguments) ?? .object([:])
        principal = try container.decode(Principal.self, forKey: .principal)
        issuedAt = try container.decode(Date.self, forKey: .issuedAt)
        deadline = try container.decode(Date.self, forKey: .deadline)
        // An invalid trace context is dropped, not propagated and not fatal.
        trace = try? container.decodeIfPresent(TraceContext.self, forKey: .trace)
        idempotencyKey = try container.decodeIfPresent(String.self, forKey: .idempotencyKey)
        wantsProgress = try container.decodeIfPresent(Bool.self, forKey: .wantsProgress) ?? false
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(Self.currentVersion, forKey: .version)
        try container.encode(callID, forKey: .callID)
        try container.encode(kind, forKey: .kind)
        try container.encode(server, forKey: .server)
        try container.encodeIfPresent(tool, forKey: .tool)
        try container.encode(arguments, forKey: .arguments)
        try container.encode(principal, forKey: .principal)
        try container.encode(issuedAt, forKey: .issuedAt)
        try container.encode(deadline, forKey: .deadline)
        try container.encodeIfPresent(trace, forKey: .trace)
        try container.encodeIfPresent(idempotencyKey, forKey: .idempotencyKey)
        if wantsProgress { try container.encode(true, forKey: .wantsProgress) }
    }
}
