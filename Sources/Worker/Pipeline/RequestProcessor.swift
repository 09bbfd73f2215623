import Foundation
import Logging
import Shared

/// What happens to one request delivery, from the envelope's signature to the ack.
///
/// In order: verify and decode the envelope (a forged, tampered, malformed or unknown-version
/// message is dead-lettered and never run); skip work whose deadline has passed; for
/// `tools/call`, claim the call id so that a redelivery never runs the tool twice; decide
/// authorization (deny by default); run the call on the backend; record the reply; publish it
/// to `reply_to` with the same correlation id; write the outcome to the audit stream; and only
/// then acknowledge the delivery.
public struct RequestProcessor: Sendable {
    /// What the consumer does with the delivery afterwards.
    public enum Disposition: Sendable, Equatable {
        case ack
        /// Dead-letter it (`basic.nack`, no requeue), for messages that must never run.
        case deadLetter(reason: String)
        /// Give it back to the queue (the reply could not be sent; a redelivery resends it).
        case requeue
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

    public init(
        workerID: String, codec: SignedEnvelopeCodec, catalog: ServerCatalog, authorizer: Authorizer, ledger: CallLedger,
        executor: any ToolExecutor, publisher: AMQPConnection, topology: GatewayTopology, logger: Logger,
        cancellations: CancellationRegistry = CancellationRegistry()
    ) {
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
        guard let replyTo = delivery.properties.replyTo, !replyTo.isEmpty else {
            logger.warning("Request without reply_to dead-lettered")
            return .deadLetter(reason: "no_reply_to")
        }

        let started = Date.now
        // The encoded reply, and the reply itself when this worker made it (so it is not decoded again).
        let reply: (body: [UInt8], decoded: Reply?)
        if envelope.kind == .callTool {
            let claim: CallLedger.Claim
            do {
                claim = try await ledger.claim(envelope, worker: workerID)
            } catch {
                logger.error("Call ledger unavailable; request returned to the queue", metadata: [LogKeys.error: "\(error)"])
                return await answer(
                    envelope, replyTo: replyTo, delivery: delivery, started: started, logger: logger,
                    outcome: .error(GatewayError(.authorizationUnavailable, "the gateway's database is unavailable; the call was not run"))
                )
            }
            switch claim {
            case .claimed:
                let executed = await forwardingProgress(of: envelope, replyTo: replyTo, delivery: delivery, logger: logger) { progress in
                    await execute(envelope, started: started, logger: logger, progress: progress)
                }
                let body = encode(executed, logger: logger)
                // The ledger records the reply while it is published, not before: off the caller's path.
                return await send(
                    body, decoded: executed, envelope: envelope, replyTo: replyTo, delivery: delivery, logger: logger,
                    alongside: { [ledger, logger] in
                        do {
                            try await ledger.record(body, for: envelope.callID)
                        } catch {
                            logger.error("Reply not recorded in the call ledger", metadata: [LogKeys.error: "\(error)"])
                        }
                    }
                )
            case .answered(let stored):
                logger.info("Redelivered call answered from the ledger; not run again")
                reply = (stored, nil)
            case .interrupted(let worker):
                logger.warning("Redelivered call was interrupted earlier; not run again", metadata: ["first_worker": "\(worker)"])
                return await answer(
                    envelope, replyTo: replyTo, delivery: delivery, started: started, logger: logger,
                    outcome: .error(GatewayError(.backendError, "the call was interrupted before it finished (a worker stopped); it is not run twice"))
                )
            }
        } else {
            let executed = await execute(envelope, started: started, logger: logger)
            reply = (encode(executed, logger: logger), executed)
        }
        return await send(reply.body, decoded: reply.decoded, envelope: envelope, replyTo: replyTo, delivery: delivery, logger: logger)
    }

    /// Decides and runs the call; always returns a reply (result or typed error). A call the
    /// client cancelled does not start, and stops if it is running (``CancellationRegistry``).
    private func execute(_ envelope: RequestEnvelope, started: Date, logger: Logger, progress: MCPProgressHandler? = nil) async -> Reply {
        let outcome = await cancellations.run(envelope.callID) { () async -> Reply.Outcome in
            do throws(GatewayError) {
                return .result(try await decideAndRun(envelope, logger: logger, progress: progress))
            } catch {
                return .error(error)
            }
        }
        return Reply(callID: envelope.callID, outcome: outcome, worker: workerID, startedAt: started, finishedAt: .now)
    }

    private func decideAndRun(_ envelope: RequestEnvelope, logger: Logger, progress: MCPProgressHandler?) async throws(GatewayError) -> JSONValue {
        guard !envelope.isExpired() else {
            throw GatewayError(.deadlineExceeded, "the deadline passed before a worker could start the call; it was not run")
        }
        if envelope.kind == .catalogTools {
            return try await CatalogListing(catalog: catalog, executor: executor).all(deadline: envelope.deadline, callID: envelope.callID, logger: logger)
        }
        if envelope.kind == .listServers {
            let servers = try await authorizer.allowedServers(for: envelope.principal)
            return ["servers": .array(servers.map(\.summary))]
        }
        if envelope.kind == .explain {
            return try await authorizer.explain(envelope.arguments, askedBy: envelope.principal)
        }
        // The decision (issue 5): one function for listing and calling; it names the tenant and
        // the credential, and the server record it returns carries that credential.
        let principal = envelope.principal
        let decision = try await authorizer.decide(principal, server: envelope.server, tool: envelope.kind == .callTool ? envelope.tool ?? "" : nil)
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
        let tools = try await executor.listTools(on: server, deadline: envelope.deadline, callID: envelope.callID)
        switch envelope.kind {
        case .listTools:
            var visible: [JSONValue] = []
            for tool in tools {
                guard let name = tool["name"]?.stringValue else { continue }
                if try await authorizer.decide(principal, server: server.id, tool: name).allowed { visible.append(tool) }
            }
            return ["tools": .array(visible)]
        case .callTool:
            let name = envelope.tool ?? ""
            guard tools.contains(where: { $0["name"]?.stringValue == name }) else {
                throw GatewayError(.notFound, "the MCP server '\(server.id)' has no tool '\(name)'")
            }
            return try await executor.callTool(
                name, arguments: envelope.arguments, on: server, deadline: envelope.deadline, callID: envelope.callID, progress: progress
            )
        case .listServers, .catalogTools, .explain:
            throw GatewayError(.internal, "unreachable")
        }
    }

    /// Runs `body`; when the caller asked for progress, hands it a handler that sends each of the
    /// backend's progress notifications to `reply_to` as a ``ProgressUpdate``. Every update is
    /// published (best effort) before this returns, so before the reply on the same channel.
    private func forwardingProgress(
        of envelope: RequestEnvelope, replyTo: String, delivery: AMQPDelivery, logger: Logger,
        _ body: (MCPProgressHandler?) async -> Reply
    ) async -> Reply {
        guard envelope.wantsProgress else { return await body(nil) }
        let (updates, sink) = AsyncStream.makeStream(of: MCPProgress.self, bufferingPolicy: .bufferingNewest(16))
        return await withTaskGroup(of: Void.self) { group in
            group.addTask { [publisher] in
                let properties = AMQPProperties(
                    contentType: "application/json", correlationID: delivery.properties.correlationID ?? envelope.callID,
                    type: ProgressUpdate.amqpType, appID: "mcp-worker"
                )
                for await update in updates {
                    let message = ProgressUpdate(callID: envelope.callID, progress: update.progress, total: update.total, message: update.message)
                    do {
                        try await publisher.publish(try message.encoded(), exchange: "", routingKey: replyTo, properties: properties, mandatory: false)
                    } catch {
                        logger.debug("Progress update not sent", metadata: [LogKeys.error: "\(error)"])
                    }
                }
            }
            let reply = await body { sink.yield($0) }
            sink.finish()
            await group.waitForAll()
            return reply
        }
    }

    private func answer(
        _ envelope: RequestEnvelope, replyTo: String, delivery: AMQPDelivery, started: Date, logger: Logger, outcome: Reply.Outcome
    ) async -> Disposition {
        let reply = Reply(callID: envelope.callID, outcome: outcome, worker: workerID, startedAt: started, finishedAt: .now)
        return await send(encode(reply, logger: logger), decoded: reply, envelope: envelope, replyTo: replyTo, delivery: delivery, logger: logger)
    }

    /// Publishes the reply, then the audit outcome, each confirmed; requeues when the reply
    /// cannot be sent. `alongside` (the call ledger's record of a reply this worker made) runs
    /// while the reply and the audit record are published, and ends before the ack, or before
    /// the requeue so that a redelivery finds the reply to send again.
    private func send(
        _ body: [UInt8], decoded: Reply?, envelope: RequestEnvelope, replyTo: String, delivery: AMQPDelivery, logger: Logger,
        alongside: (@Sendable () async -> Void)? = nil
    ) async -> Disposition {
        async let recorded: Void = alongside?() ?? ()
        do {
            try await publisher.publish(
                body, exchange: "", routingKey: replyTo, properties: RequestMessage.replyProperties(to: delivery, callID: envelope.callID),
                mandatory: false
            )
        } catch {
            logger.error("Reply not published; request returned to the queue", metadata: [LogKeys.error: "\(error)"])
            await recorded
            return .requeue
        }
        // A reply answered from the ledger exists only as bytes.
        if let reply = decoded ?? (try? Reply(decoding: body)) {
            let record = AuditRecord.outcome(of: envelope, reply: reply)
            do {
                try await publisher.publish(
                    try record.encoded(), exchange: "", routingKey: topology.auditStream,
                    properties: AMQPProperties(contentType: "application/json", persistent: true, correlationID: envelope.callID, type: "outcome"),
                    mandatory: true
                )
            } catch {
                logger.error("Audit outcome not recorded", metadata: [LogKeys.error: "\(error)"])
            }
            switch reply.outcome {
            case .result: logger.info("Call answered", metadata: ["duration_ms": "\(reply.durationMilliseconds)"])
            case .error(let error):
                logger.info("Call failed", metadata: ["error_code": "\(error.code.rawValue)", LogKeys.error: "\(error.message)", "error_detail": "\(error.detail ?? "")"])
            }
        }
        await recorded
        return .ack
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
