import Foundation
import Shared

/// Answers `GET /calls/{callId}` (``CallKind/callStatus``) from the call ledger.
///
/// Only the caller who made the call (same `tid` and `sub`) or a gateway administrator learns
/// anything; anyone else gets the same `not_found` as for an id that was never used, so call
/// ids cannot be probed.
struct CallStatus {
    let ledger: CallLedger
    let database: PostgresClient

    func answer(_ arguments: JSONValue, askedBy asker: Principal) async throws(GatewayError) -> JSONValue {
        guard let callID = arguments["callId"]?.stringValue, UUID(uuidString: callID) != nil else {
            throw GatewayError(.badRequest, "the call id must be a UUID")
        }
        let entry: CallLedger.Entry?
        let admin: Bool
        do {
            entry = try await ledger.lookup(callID.lowercased())
            admin = try await GrantStore(database: database).isAdmin(asker)
        } catch {
            throw GatewayError(.authorizationUnavailable, "the call ledger is unavailable right now", detail: "\(error)")
        }
        let notFound = GatewayError(.notFound, "no call '\(callID)' is known to the gateway for you")
        guard let entry else { throw notFound }
        let owner = entry.callerTenantID == asker.tenantID && entry.callerSubject == asker.subject
        guard owner || admin else { throw notFound }
        return Self.document(entry)
    }

    /// The call's state as a JSON object: `state` is `running`, `answered` (with `result` or
    /// `error`) or `outcome_unknown`.
    static func document(_ entry: CallLedger.Entry) -> JSONValue {
        var fields: [String: JSONValue] = [
            "callId": .string(entry.callID), "server": .string(entry.server), "worker": .string(entry.worker),
            "startedAt": .string(entry.startedAt.formatted(.iso8601)),
        ]
        if let tool = entry.tool { fields["tool"] = .string(tool) }
        if let finished = entry.finishedAt { fields["finishedAt"] = .string(finished.formatted(.iso8601)) }
        if let deadline = entry.deadline { fields["deadline"] = .string(deadline.formatted(.iso8601)) }
        if let key = entry.idempotencyKey { fields["idempotencyKey"] = .string(key) }
        switch entry.claim {
        case .answered(let body):
            let outcome = (try? Reply(decoding: body))?.outcome
            // An unknown outcome recorded by a redelivery is not an answer of the call itself.
            if case .error(let error) = outcome, error.code == .outcomeUnknown {
                fields["state"] = "outcome_unknown"
            } else {
                fields["state"] = "answered"
            }
            switch outcome {
            case .result(let result): fields["result"] = result
            case .error(let error):
                var detail: [String: JSONValue] = ["code": .string(error.code.rawValue), "message": .string(error.message)]
                if error.mayHaveRun == true { detail["mayHaveRun"] = true }
                fields["error"] = .object(detail)
            case nil: fields["error"] = ["code": "internal", "message": "the stored reply cannot be read"]
            }
        case .running:
            fields["state"] = "running"
        case .interrupted, .claimed, .mismatch:
            fields["state"] = "outcome_unknown"
            fields["error"] = .object([
                "code": .string(GatewayErrorCode.outcomeUnknown.rawValue),
                "message": "the worker running the call stopped before it answered; the call may have run, and it is not run again",
                "mayHaveRun": true,
            ])
        }
        return .object(fields)
    }
}
