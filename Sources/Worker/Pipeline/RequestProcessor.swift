import Foundation
import Logging
import Shared
import Tracing

/// What happens to one request delivery, from the envelope's signature to the ack.
///
/// In order: verify and decode the envelope (a forged, tampered, malformed or unknown-version
/// message is dead-lettered and never run); skip work whose deadline has passed; for
/// `tools/call`, claim the call id in the call ledger so that a redelivery or an idempotent retry
/// never runs the tool twice; decide authorization (deny by default); run the call on the
/// backend, but only with at least `minimumStartBudget` left; record the reply in the ledger
/// while publishing it to `reply_to` with the same correlation id (retried until the deadline);
/// write the outcome to the audit stream (retried, confirmed); and only then acknowledge.
///
/// A delivery that reached the backend is never requeued: its reply lives in the ledger, so a
/// redelivery or `GET /calls/{callId}` answers from there. Every answer is truthful: an error
/// says `mayHaveRun` whenever the backend call had started, and a call whose worker vanished
/// mid-call is `outcome_unknown`, never "not run".
public struct RequestProcessor: Sendable {
    /// What the consumer does with the delivery afterwards.
    public enum Disposition: Sendable, Equatable {
        case ack
        /// Dead-letter it (`basic.nack`, no requeue), for messages that must never run.
        case deadLetter(reason: String)
    }

    let workerID: String
    let codec: SignedEnvelopeCodec
    let catalog: ServerCatalog
    let authorizer: Authorizer
    let ledger: CallLedger
    let executor: any ToolExecutor
    let publisher: AMQPConnection
    let topology: GatewayTopology
    let logger: Logger
    /// Cancellations broadcast by the ingress (MCP `notifications/cancelled`).
    let cancellations: CancellationRegistry
    /// No backend call starts with less than this left before its deadline (`CALL_MIN_START_BUDGET_MS`).
    let minimumStartBudget: Duration
    let metrics: WorkerMetrics?
    /// How long an outcome record is retried while the broker does not confirm it.
    let auditPatience: Duration
    /// Rate limits and concurrency quotas (`rate_limits`); nil checks none.
    let limiter: RateLimiter?

    public init(
        workerID: String, codec: SignedEnvelopeCodec, catalog: ServerCatalog, authorizer: Authorizer, ledger: CallLedger,
        executor: any ToolExecutor, publisher: AMQPConnection, topology: GatewayTopology, logger: Logger,
        cancellations: CancellationRegistry = CancellationRegistry(), minimumStartBudget: Duration = .milliseconds(50),
        metrics: WorkerMetrics? = nil, auditPatience: Duration = .seconds(30), limiter: RateLimiter? = nil
    ) {
        self.limiter = limiter
        self.cancellations = cancellations
        self.workerID = workerID
        self.codec = codec
        self.catalog = catalog
        self.authorizer = authorizer
        self.ledger = ledger
        self.executor = executor
        self.publisher = publisher
        self.topology = topology
        self.logger = logger
        self.minimumStartBudget = minimumStartBudget
        self.metrics = metrics
        self.auditPatience = auditPatience
    }

    public func process(_ delivery: AMQPDelivery) async -> Disposition {
        var logger = self.logger
        logger[metadataKey: LogKeys.callID] = .string(delivery.properties.correlationID ?? delivery.properties.messageID ?? "-")
        let envelope: RequestEnvelope
        do {
            envelope = try codec.decode(body: delivery.body, headers: RequestMessage.stringHeaders(of: delivery))
        } catch {
            logger.warning("Request refused and dead-lettered", metadata: ["reason": "\(error.deadLetterReason)", LogKeys.error: "\(error)"])
            return .deadLetter(reason: error.deadLetterReason)
        }
        logger[metadataKey: LogKeys.server] = .string(envelope.server)
        if let tool = envelope.tool { logger[metadataKey: LogKeys.tool] = .string(tool) }
        // The consumer span, a child of the ingress's producer span through the envelope's trace context.
        return await GatewayTracing.withSpan("process \(envelope.kind.rawValue)", ofKind: .consumer, parent: envelope.trace) { span in
            span?.attributes["messaging.system"] = "rabbitmq"
            span?.attributes["messaging.operation.type"] = "process"
            span?.attributes["messaging.destination.name"] = delivery.routingKey
            span?.attributes["mcpgw.call_id"] = envelope.callID
            span?.attributes["mcp.server"] = envelope.server
            span?.attributes["mcp.tool"] = envelope.tool
            return await process(envelope, delivery: delivery, logger: logger)
        }
    }

    private func process(_ envelope: RequestEnvelope, delivery: AMQPDelivery, logger: Logger) async -> Disposition {
        guard let replyTo = delivery.properties.replyTo, !replyTo.isEmpty else {
            logger.warning("Request without reply_to dead-lettered")
            return .deadLetter(reason: "no_reply_to")
        }
        let call = Call(envelope: envelope, delivery: delivery, replyTo: replyTo, started: .now, logger: logger)
        guard envelope.kind == .callTool else {
            let executed = await execute(call)
            return await send(encode(executed, logger: logger), decoded: executed, call: call)
        }

        let claim: CallLedger.Claim
        do {
            claim = try await GatewayTracing.withSpan("ledger claim") { _ in try await ledger.claim(envelope, worker: workerID) }
        } catch {
            logger.error("Call ledger unavailable; the call is refused, not run", metadata: [LogKeys.error: "\(error)"])
            return await answer(call, .error(GatewayError(.authorizationUnavailable, "the gateway's database is unavailable; the call was not run")))
        }
        switch claim {
        case .claimed:
            let executed = await forwardingProgress(of: call) { progress in await execute(call, progress: progress) }
            let body = encode(executed, logger: logger)
            if case .error(let error) = executed.outcome, error.code == .rateLimited {
                // Refused before it started: not kept, so that a retry is a call of its own.
                return await send(body, decoded: executed, call: call, ledgerRecord: { [ledger, logger] in
                    do { try await ledger.release(envelope.callID) } catch {
                        logger.warning("Rate-limited call not released from the call ledger", metadata: [LogKeys.error: "\(error)"])
                    }
                    return false
                })
            }
            // The ledger records the reply while it is published, not before: off the caller's path.
            return await send(body, decoded: executed, call: call, ledgerRecord: { [ledger, logger, auditPatience] in
                // Retried through a short database outage: a reply the ledger lacks would make a
                // redelivery or an idempotent retry answer `outcome_unknown` for a call that has one.
                var lastError: (any Error)?
                let recorded = await retrying(until: .now + auditPatience, failed: { lastError = $1; return true }) {
                    try await ledger.record(body, for: envelope.callID)
                }
                if !recorded { logger.error("Reply not recorded in the call ledger", metadata: [LogKeys.error: "\(lastError.map { "\($0)" } ?? "-")"]) }
                return recorded
            })
        case .answered(let stored):
            logger.info("Repeated call answered from the ledger; not run again", metadata: ["redelivered": "\(delivery.redelivered)"])
            return await send(stored, decoded: nil, call: call, fromLedger: true)
        case .running(let worker):
            logger.info("Call already running on a live worker; waiting for its reply", metadata: ["first_worker": "\(worker)"])
            return await awaitFirstAttempt(call)
        case .interrupted(let worker):
            logger.warning("Repeated call whose first attempt never answered; outcome unknown, not run again", metadata: ["first_worker": "\(worker)"])
            return await answerUnknown(call, worker: worker)
        case .mismatch:
            logger.info("Idempotency key reused for a different call; refused")
            return await answer(
                call,
                .error(GatewayError(.idempotencyKeyReused, "this Idempotency-Key was already used for a different call (another server, tool or arguments); it was not run"))
            )
        }
    }

    /// One delivery being processed: what every step needs to answer it.
    struct Call {
        var envelope: RequestEnvelope
        var delivery: AMQPDelivery
        var replyTo: String
        var started: Date
        var logger: Logger
    }

    static func outcomeUnknown(worker: String) -> GatewayError {
        GatewayError(
            .outcomeUnknown,
            "the worker running this call stopped before it answered, so the call may have run; it is not run again (GET /calls/{callId} tells its outcome, a retry with the same Idempotency-Key never runs it twice)",
            detail: "first worker: \(worker)", mayHaveRun: true
        )
    }

    /// The first attempt runs on a live worker: wait (until this delivery's deadline) for the
    /// reply it records, then answer with it; if it never comes, the outcome is unknown.
    private func awaitFirstAttempt(_ call: Call) async -> Disposition {
        let claim: CallLedger.Claim
        do {
            claim = try await ledger.awaitReply(callID: call.envelope.callID, until: call.envelope.deadline)
        } catch {
            call.logger.error("Call ledger unavailable while waiting for the first attempt", metadata: [LogKeys.error: "\(error)"])
            return await answer(call, .error(Self.outcomeUnknown(worker: "unknown (ledger unavailable)")))
        }
        switch claim {
        case .answered(let stored):
            return await send(stored, decoded: nil, call: call, fromLedger: true)
        case .running(let worker):
            var error = Self.outcomeUnknown(worker: worker)
            error.message = "the call is still running on another worker and did not answer before the deadline; it may have run, and it is not run again (GET /calls/{callId} tells its outcome)"
            return await answer(call, .error(error))
        case .interrupted(let worker):
            return await answerUnknown(call, worker: worker)
        case .claimed, .mismatch:
            return await answer(call, .error(Self.outcomeUnknown(worker: "unknown")))
        }
    }

    /// Answers `outcome_unknown` for a call whose first attempt's worker is gone, and records
    /// that answer in the ledger (unless a reply got there first), so that every later delivery
    /// or retry gives the same answer and the audit stream has one outcome for the call.
    private func answerUnknown(_ call: Call, worker: String) async -> Disposition {
        let reply = Reply(
            callID: call.envelope.callID, outcome: .error(Self.outcomeUnknown(worker: worker)), worker: workerID, startedAt: call.started, finishedAt: .now
        )
        let body = encode(reply, logger: call.logger)
        return await send(body, decoded: reply, call: call, ledgerRecord: { [ledger, logger = call.logger] in
            do {
                try await ledger.recordIfUnanswered(body, for: call.envelope.callID)
                return true
            } catch {
                logger.warning("Unknown outcome not recorded in the call ledger", metadata: [LogKeys.error: "\(error)"])
                return false
            }
        })
    }

    /// Decides and runs the call; always returns a reply (result or typed error). A call the
    /// client cancelled does not start, and stops if it is running (``CancellationRegistry``).
    private func execute(_ call: Call, progress: MCPProgressHandler? = nil) async -> Reply {
        let envelope = call.envelope
        let outcome = await cancellations.run(envelope.callID) { () async -> Reply.Outcome in
            do throws(GatewayError) {
                return .result(try await decideAndRun(envelope, logger: call.logger, progress: progress))
            } catch {
                return .error(error)
            }
        }
        return Reply(callID: envelope.callID, outcome: outcome, worker: workerID, startedAt: call.started, finishedAt: .now)
    }

    private func decideAndRun(_ envelope: RequestEnvelope, logger: Logger, progress: MCPProgressHandler?) async throws(GatewayError) -> JSONValue {
        guard !envelope.isExpired() else {
            throw GatewayError(.deadlineExceeded, "the deadline passed before a worker could start the call; it was not run")
        }
        switch envelope.kind {
        case .catalogTools:
            return try await CatalogListing(catalog: catalog, executor: executor).all(deadline: envelope.deadline, callID: envelope.callID, logger: logger)
        case .listServers:
            let servers = try await authorizer.allowedServers(for: envelope.principal)
            return ["servers": .array(servers.map(\.summary))]
        case .explain:
            return try await authorizer.explain(envelope.arguments, askedBy: envelope.principal)
        case .callStatus:
            return try await CallStatus(ledger: ledger, database: authorizer.database).answer(envelope.arguments, askedBy: envelope.principal)
        case .listTools, .callTool:
            break
        }
        // The decision (issue 5): one function for listing and calling; it names the tenant and
        // the credential, and the server record it returns carries that credential.
        let principal = envelope.principal
        let decision = try await GatewayTracing.withSpan("authorize") { (span) async throws(GatewayError) in
            let decision = try await authorizer.decide(principal, server: envelope.server, tool: envelope.kind == .callTool ? envelope.tool ?? "" : nil)
            span?.attributes["mcpgw.authorization.allowed"] = decision.allowed
            span?.attributes["mcpgw.authorization.rule"] = decision.decidingRule
            return decision
        }
        guard decision.allowed, let server = decision.record else {
            logger.info(
                "Call denied",
                metadata: [
                    "principal_sub": "\(principal.subject)", "principal_tid": "\(principal.tenantID)", "tenant": "\(decision.tenant ?? "-")",
                    "decided_by": "\(decision.decidingRule)",
                ])
            throw decision.error ?? GatewayError(.forbidden, "you are not allowed to use the MCP server '\(envelope.server)'")
        }
        logger.debug("Call allowed", metadata: ["tenant": "\(decision.tenant ?? "-")", "decided_by": "\(decision.decidingRule)"])
        if envelope.kind == .callTool, let limiter {
            try await limiter.admit(callID: envelope.callID, principal: principal, tenant: decision.tenant, server: server.id, metrics: metrics)
        }
        let listing = try await executor.listTools(
            on: server, deadline: envelope.deadline, purpose: envelope.kind == .callTool ? .call : .listing, callID: envelope.callID)
        let tools = listing.tools
        guard envelope.kind == .callTool else {
            var visible: [JSONValue] = []
            for tool in tools {
                guard let name = tool["name"]?.stringValue else { continue }
                if try await authorizer.decide(principal, server: server.id, tool: name).allowed { visible.append(tool) }
            }
            // A list that may be out of date says so (`stale`), for the edge to pass on.
            var result: [String: JSONValue] = ["tools": .array(visible)]
            if let staleness = listing.staleness { result["stale"] = .string(staleness) }
            return .object(result)
        }
        let name = envelope.tool ?? ""
        guard tools.contains(where: { $0["name"]?.stringValue == name }) else {
            throw GatewayError(.notFound, "the MCP server '\(server.id)' has no tool '\(name)'")
        }
        // A call handed to the backend at the last moment would outlive its deadline there (the
        // cancellation races the call), so it does not start at all.
        let left = envelope.remaining()
        guard left >= minimumStartBudget else {
            throw GatewayError(
                .deadlineExceeded,
                "too little time was left before the deadline to start the call (\(max(0, left.milliseconds)) ms, at least \(minimumStartBudget.milliseconds) ms needed); it was not run"
            )
        }
        do {
            return try await executor.callTool(
                name, arguments: envelope.arguments, on: server, deadline: envelope.deadline, callID: envelope.callID, progress: progress
            )
        } catch {
            throw Self.afterBackendStarted(error)
        }
    }

    /// An error of a backend call that had started: when it ended by deadline, cancellation or a
    /// broken backend, the tool may have run, and the error says so.
    static func afterBackendStarted(_ error: GatewayError) -> GatewayError {
        switch error.code {
        case .deadlineExceeded, .cancelled, .backendError:
            var error = error
            if error.mayHaveRun != true {
                error.mayHaveRun = true
                error.message += " (the backend had already received the call, so it may have run)"
            }
            return error
        default:
            return error
        }
    }

    /// Runs `body`; when the caller asked for progress, hands it a handler that sends each of the
    /// backend's progress notifications to `reply_to` as a ``ProgressUpdate``. Every update is
    /// published (best effort) before this returns, so before the reply on the same channel.
    private func forwardingProgress(of call: Call, _ body: (MCPProgressHandler?) async -> Reply) async -> Reply {
        let envelope = call.envelope
        guard envelope.wantsProgress else { return await body(nil) }
        let (updates, sink) = AsyncStream.makeStream(of: MCPProgress.self, bufferingPolicy: .bufferingNewest(16))
        return await withTaskGroup(of: Void.self) { group in
            group.addTask { [publisher] in
                let properties = AMQPProperties(
                    contentType: "application/json", correlationID: call.delivery.properties.correlationID ?? envelope.callID,
                    type: ProgressUpdate.amqpType, appID: "mcp-worker"
                )
                for await update in updates {
                    let message = ProgressUpdate(callID: envelope.callID, progress: update.progress, total: update.total, message: update.message)
                    do {
                        try await publisher.publish(try message.encoded(), exchange: "", routingKey: call.replyTo, properties: properties, mandatory: false)
                    } catch {
                        call.logger.debug("Progress update not sent", metadata: [LogKeys.error: "\(error)"])
                    }
                }
            }
            let reply = await body { sink.yield($0) }
            sink.finish()
            await group.waitForAll()
            return reply
        }
    }

    private func answer(_ call: Call, _ outcome: Reply.Outcome) async -> Disposition {
        let reply = Reply(callID: call.envelope.callID, outcome: outcome, worker: workerID, startedAt: call.started, finishedAt: .now)
        return await send(encode(reply, logger: call.logger), decoded: reply, call: call)
    }

    /// Publishes the reply (retried until the call's deadline while the broker cannot take it),
    /// then the audit outcome (retried for `auditPatience`), each confirmed, and acknowledges.
    /// `ledgerRecord` (the call ledger's record of a reply this worker made) runs while they are
    /// published, and ends before the ack. `fromLedger` marks a reply sent again from the ledger.
    private func send(
        _ body: [UInt8], decoded: Reply?, call: Call, fromLedger: Bool = false, ledgerRecord: (@Sendable () async -> Bool)? = nil
    ) async -> Disposition {
        let envelope = call.envelope
        let logger = call.logger
        async let recorded: Bool = ledgerRecord?() ?? false
        let replied = await publishPatiently(
            body, routingKey: call.replyTo, properties: RequestMessage.replyProperties(to: call.delivery, callID: envelope.callID),
            mandatory: false, until: envelope.deadline, what: "reply", logger: logger
        )
        if !replied {
            logger.error("Reply not published before the deadline; the caller can read it with GET /calls/{callId}")
        }
        // A reply answered from the ledger exists only as bytes.
        if let reply = decoded ?? (try? Reply(decoding: body)) {
            var record = AuditRecord.outcome(of: envelope, reply: reply)
            if fromLedger { record.fromLedger = true }
            let audited: Bool
            do {
                audited = await publishPatiently(
                    try record.encoded(), routingKey: topology.auditStream,
                    properties: AMQPProperties(contentType: "application/json", persistent: true, correlationID: envelope.callID, type: "outcome"),
                    mandatory: true, until: .now.addingTimeInterval(Double(auditPatience.milliseconds) / 1000), what: "audit outcome", logger: logger
                )
            } catch {
                logger.error("Audit outcome cannot be encoded", metadata: [LogKeys.error: "\(error)"])
                audited = false
            }
            if !audited {
                metrics?.auditPublishFailed()
                logger.error("Audit outcome not recorded")
            }
            switch reply.outcome {
            case .result:
                metrics?.answered(server: envelope.server, kind: envelope.kind, outcome: "ok", fromLedger: fromLedger)
                logger.info("Call answered", metadata: ["duration_ms": "\(reply.durationMilliseconds)", "from_ledger": "\(fromLedger)"])
            case .error(let error):
                metrics?.answered(server: envelope.server, kind: envelope.kind, outcome: error.code.rawValue, fromLedger: fromLedger)
                logger.log(
                    level: error.code.httpStatus >= 500 ? .warning : .info,
                    "Call failed",
                    metadata: [
                        "error_code": "\(error.code.rawValue)", LogKeys.error: "\(error.message)", "error_detail": "\(error.detail ?? "")",
                        "may_have_run": "\(error.mayHaveRun == true)",
                    ])
            }
            if await recorded, audited, envelope.kind == .callTool {
                do {
                    try await ledger.recordAudited(envelope.callID)
                } catch {
                    logger.warning("Audit confirmation not noted in the call ledger", metadata: [LogKeys.error: "\(error)"])
                }
            }
        }
        _ = await recorded
        return .ack
    }

    /// Publishes with confirms, retrying (``retrying(until:failed:_:)``) while the broker cannot
    /// take it, until `until`. Returns whether the broker confirmed it.
    private func publishPatiently(
        _ body: [UInt8], routingKey: String, properties: AMQPProperties, mandatory: Bool, until: Date, what: String, logger: Logger
    ) async -> Bool {
        var attempts = 0
        var lastError: (any Error)?
        let published = await retrying(until: .at(until), failed: { number, error in
            attempts = number
            lastError = error
            if number == 1 { logger.warning("Publish failed; retrying", metadata: ["what": "\(what)", LogKeys.error: "\(error)"]) }
            // A reply the broker closed the connection over (541 INTERNAL_ERROR, as RabbitMQ 3.10
            // does for a direct reply-to address whose node is gone) is not sent again: it would
            // break the connection again, and every other call's publishes with it. Its caller
            // reads the reply from the ledger. (Outcome records go to a stream and are retried.)
            return !(what == "reply" && (error as? AMQPError)?.replyCode == 541)
        }) {
            try await publisher.publish(body, exchange: "", routingKey: routingKey, properties: properties, mandatory: mandatory)
        }
        if published, attempts > 0 {
            logger.info("Published after retrying", metadata: ["what": "\(what)", "attempts": "\(attempts + 1)"])
        } else if !published {
            logger.error("Publish abandoned", metadata: ["what": "\(what)", "attempts": "\(attempts)", LogKeys.error: "\(lastError.map { "\($0)" } ?? "-")"])
        }
        return published
    }

    private func encode(_ reply: Reply, logger: Logger) -> [UInt8] {
        do {
            return try reply.encoded()
        } catch {
            logger.error("Reply could not be encoded", metadata: [LogKeys.error: "\(error)"])
            let fallback = Reply(
                callID: reply.callID, outcome: .error(GatewayError(.internal, "the reply could not be encoded")), worker: workerID,
                startedAt: reply.startedAt, finishedAt: reply.finishedAt
            )
            return (try? fallback.encoded()) ?? []
        }
    }
}
