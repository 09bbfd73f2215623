import Foundation

/// One entry of the audit stream besides the request envelope itself (which reaches the stream
/// through its exchange binding): the ingress's account of a call it accepted, or a worker's
/// account of how a call ended.
///
/// Wire form (version 1):
/// ```json
/// {"v":1,"type":"outcome","callId":"…","kind":"tools/call","server":"github","tool":"search_issues",
///  "principal":{"sub":"…","tid":"…","oid":"…"},"outcome":"ok","durationMs":410,
///  "worker":"worker-7f9c","at":1767225600420}
/// ```
/// `outcome` is `ok` or a ``GatewayErrorCode`` raw value; `outcome`, `durationMs` and `worker`
/// are absent on `request` records.
public struct AuditRecord: Sendable, Equatable, Hashable {
    public static let currentVersion = 1

    public enum RecordType: String, Codable, Sendable, Hashable {
        /// A call was accepted and sent to the workers.
        case request
        /// A call ended (result or error).
        case outcome
    }

    /// How a call ended, in the audit stream's terms.
    public enum Outcome: Sendable, Hashable {
        /// The backend gave an MCP result (which may itself be a tool error, `isError: true`).
        case ok
        case error(GatewayErrorCode)

        public var rawValue: String {
            switch self {
            case .ok: "ok"
            case .error(let code): code.rawValue
            }
        }

        public init?(rawValue: String) {
            if rawValue == "ok" {
                self = .ok
            } else if let code = GatewayErrorCode(rawValue: rawValue) {
                self = .error(code)
            } else {
                return nil
            }
        }
    }

    /// Who made the call: the identifiers an auditor searches by, not the full principal.
    public struct Caller: Codable, Sendable, Hashable {
        public var subject: String
        public var tenantID: String
        public var objectID: String?

        public init(subject: String, tenantID: String, objectID: String? = nil) {
            self.subject = subject
            self.tenantID = tenantID
            self.objectID = objectID
        }

        public init(_ principal: Principal) {
            self.init(subject: principal.subject, tenantID: principal.tenantID, objectID: principal.objectID)
        }

        enum CodingKeys: String, CodingKey {
            case subject = "sub"
            case tenantID = "tid"
            case objectID = "oid"
        }
    }

    public var type: RecordType
    public var callID: String
    public var kind: CallKind
    public var server: String
    public var tool: String?
    public var principal: Caller
    public var outcome: Outcome?
    public var durationMilliseconds: Int64?
    public var worker: String?
    /// On an outcome record: `true` when the call failed after its backend call had started,
    /// so the tool may have run (see ``GatewayError/mayHaveRun``).
    public var mayHaveRun: Bool?
    /// On an outcome record: `true` when the call was answered from the call ledger (a
    /// redelivery or an idempotent retry), not run.
    public var fromLedger: Bool?
    /// When the record was written, to the millisecond.
    public var at: Date

    public init(
        type: RecordType,
        callID: String,
        kind: CallKind,
        server: String,
        tool: String?,
        principal: Caller,
        outcome: Outcome? = nil,
        durationMilliseconds: Int64? = nil,
        worker: String? = nil,
        at: Date
    ) {
        self.type = type
        self.callID = callID
        self.kind = kind
        self.server = server
        self.tool = tool
        self.principal = principal
        self.outcome = outcome
        self.durationMilliseconds = durationMilliseconds
        self.worker = worker
        self.at = at.roundedToMilliseconds
    }

    /// The record of `envelope` being accepted.
    public static func request(_ envelope: RequestEnvelope, at: Date = .now) -> AuditRecord {
        AuditRecord(
            type: .request,
            callID: envelope.callID,
            kind: envelope.kind,
            server: envelope.server,
            tool: envelope.tool,
            principal: Caller(envelope.principal),
            at: at
        )
    }

    /// The record of how `envelope` ended, as told by `reply`.
    public static func outcome(of envelope: RequestEnvelope, reply: Reply, at: Date = .now) -> AuditRecord {
        outcome(
            callID: envelope.callID, kind: envelope.kind, server: envelope.server, tool: envelope.tool, principal: Caller(envelope.principal),
            reply: reply, at: at
        )
    }

    /// The record of how a call ended, as told by `reply` (also for calls known only from the call ledger).
    public static func outcome(
        callID: String, kind: CallKind, server: String, tool: String?, principal: Caller, reply: Reply, at: Date = .now
    ) -> AuditRecord {
        let outcome: Outcome =
            switch reply.outcome {
            case .result: .ok
            case .error(let error): .error(error.code)
            }
        var record = AuditRecord(
            type: .outcome, callID: callID, kind: kind, server: server, tool: tool, principal: principal, outcome: outcome,
            durationMilliseconds: reply.durationMilliseconds, worker: reply.worker, at: at
        )
        if case .error(let error) = reply.outcome { record.mayHaveRun = error.mayHaveRun }
        return record
    }

    /// The record as JSON bytes (the stream message body).
    public func encoded() throws(EnvelopeError) -> [UInt8] {
        try ContractJSON.encodeMessage(self, what: "audit record")
    }

    /// Reads a record from the stream.
    public init(decoding body: [UInt8]) throws(EnvelopeError) {
        self = try ContractJSON.decodeMessage(AuditRecord.self, from: body)
    }
}

extension AuditRecord.Outcome: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let raw = try container.decode(String.self)
        guard let outcome = Self(rawValue: raw) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "unknown outcome '\(raw)'")
        }
        self = outcome
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

extension AuditRecord: Codable {
    enum CodingKeys: String, CodingKey {
        case version = "v"
        case type
        case callID = "callId"
        case kind
        case server
        case tool
        case principal
        case outcome
        case durationMilliseconds = "durationMs"
        case worker
        case mayHaveRun
        case fromLedger
        case at
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let version = try container.decode(Int.self, forKey: .version)
        guard version == Self.currentVersion else { throw UnsupportedContractVersion(version: version) }
        type = try container.decode(RecordType.self, forKey: .type)
        callID = try container.decode(String.self, forKey: .callID)
        kind = try container.decode(CallKind.self, forKey: .kind)
        server = try container.decode(String.self, forKey: .server)
        tool = try container.decodeIfPresent(String.self, forKey: .tool)
        principal = try container.decode(Caller.self, forKey: .principal)
        outcome = try container.decodeIfPresent(Outcome.self, forKey: .outcome)
        durationMilliseconds = try container.decodeIfPresent(Int64.self, forKey: .durationMilliseconds)
        worker = try container.decodeIfPresent(String.self, forKey: .worker)
        mayHaveRun = try container.decodeIfPresent(Bool.self, forKey: .mayHaveRun)
        fromLedger = try container.decodeIfPresent(Bool.self, forKey: .fromLedger)
        at = try container.decode(Date.self, forKey: .at)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(Self.currentVersion, forKey: .version)
        try container.encode(type, forKey: .type)
        try container.encode(callID, forKey: .callID)
        try container.encode(kind, forKey: .kind)
        try container.encode(server, forKey: .server)
        try container.encodeIfPresent(tool, forKey: .tool)
        try container.encode(principal, forKey: .principal)
        try container.encodeIfPresent(outcome, forKey: .outcome)
        try container.encodeIfPresent(durationMilliseconds, forKey: .durationMilliseconds)
        try container.encodeIfPresent(worker, forKey: .worker)
        try container.encodeIfPresent(mayHaveRun, forKey: .mayHaveRun)
        try container.encodeIfPresent(fromLedger, forKey: .fromLedger)
        try container.encode(at, forKey: .at)
    }
}
