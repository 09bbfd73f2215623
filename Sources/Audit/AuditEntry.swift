import Foundation
import Shared

/// One message of the audit stream, in the terms operators search by.
///
/// The stream holds two kinds of message: the request envelope itself (the ingress publishes it
/// to the requests exchange, whose `#` binding copies it into the stream) and the worker's
/// ``AuditRecord`` of the outcome (AMQP `type` `outcome`). Both become an entry; a message that is
/// neither (foreign or damaged) becomes an `unreadable` entry with the reason, never a crash.
public struct AuditEntry: Sendable, Equatable {
    public enum RecordType: String, Sendable, CaseIterable {
        case request, outcome, unreadable
    }

    /// The message's offset in the stream.
    public var offset: Int64
    public var type: RecordType
    public var callID: String
    /// When the ingress accepted the call (request) or the worker finished it (outcome).
    public var at: Date
    public var kind: String?
    public var server: String?
    public var tool: String?
    public var subject: String?
    public var tenant: String?
    public var objectID: String?
    public var userName: String?
    /// `ok` or a gateway error code (outcome records only).
    public var outcome: String?
    public var durationMilliseconds: Int64?
    public var worker: String?
    public var mayHaveRun: Bool?
    public var fromLedger: Bool?
    /// The tool's arguments (request records only).
    public var arguments: JSONValue?
    public var idempotencyKey: String?
    public var deadline: Date?
    /// Why an `unreadable` message could not be read.
    public var detail: String?

    public init(offset: Int64, type: RecordType, callID: String, at: Date) {
        self.offset = offset
        self.type = type
        self.callID = callID
        self.at = at
    }

    /// Reads a stream delivery. Never throws: what cannot be read is an `unreadable` entry. The
    /// bulk path (``AuditFastDecoding``) reads what it recognises exactly; the contract's decoders
    /// read the rest, or say why they cannot.
    public init(delivery: AMQPDelivery) {
        let offset = delivery.streamOffset ?? -1
        let fallbackID = delivery.properties.messageID ?? delivery.properties.correlationID ?? ""
        let fallbackTime = delivery.properties.timestamp.map { Date(timeIntervalSince1970: Double($0)) } ?? Date(timeIntervalSince1970: 0)
        let isOutcome = delivery.properties.type == "outcome"
        if let entry = isOutcome ? AuditFastDecoding.outcome(delivery.body, offset: offset) : AuditFastDecoding.request(delivery.body, offset: offset) {
            self = entry
            return
        }
        do {
            if isOutcome {
                self.init(offset: offset, record: try AuditRecord(decoding: delivery.body))
            } else {
                self.init(offset: offset, envelope: try ContractJSON.decodeMessage(RequestEnvelope.self, from: delivery.body))
            }
        } catch {
            self.init(offset: offset, type: .unreadable, callID: fallbackID, at: fallbackTime)
            detail = "\(error)"
        }
    }

    public init(offset: Int64, envelope: RequestEnvelope) {
        self.init(offset: offset, type: .request, callID: envelope.callID, at: envelope.issuedAt)
        kind = envelope.kind.rawValue
        server = envelope.server
        tool = envelope.tool
        subject = envelope.principal.subject
        tenant = envelope.principal.tenantID
        objectID = envelope.principal.objectID
        userName = envelope.principal.userName
        arguments = envelope.arguments
        idempotencyKey = envelope.idempotencyKey
        deadline = envelope.deadline
    }

    public init(offset: Int64, record: AuditRecord) {
        self.init(offset: offset, type: record.type == .request ? .request : .outcome, callID: record.callID, at: record.at)
        kind = record.kind.rawValue
        server = record.server
        tool = record.tool
        subject = record.principal.subject
        tenant = record.principal.tenantID
        objectID = record.principal.objectID
        outcome = record.outcome?.rawValue
        durationMilliseconds = record.durationMilliseconds
        worker = record.worker
        mayHaveRun = record.mayHaveRun
        fromLedger = record.fromLedger
    }
}
