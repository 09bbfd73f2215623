import Foundation
import Logging
import ServiceLifecycle
import Shared
import Synchronization

/// Sends signed request envelopes through the broker and waits for their replies.
///
/// Requests are published with confirms to the requests exchange; replies come back by
/// RabbitMQ's direct reply-to on the same connection and are matched to their caller by
/// correlation id (the call id). Replies can arrive before the publish confirm; both orders work.
/// When the connection drops, replies addressed to it are lost, so every waiting call fails at
/// once instead of waiting for its deadline: a listing with `unavailable` (it can simply be
/// asked again), a `tools/call` with `outcome_unknown` (it may have run; the caller learns its
/// outcome with `GET /calls/{callId}` or retries it with the same `Idempotency-Key`). Several
/// callers may wait for one call id (an idempotent retry while the first request still waits):
/// the first reply answers them all.
public final class RPCClient: Service, Sendable {
    private let amqp: AMQPConnection
    private let topology: GatewayTopology
    private let codec: SignedEnvelopeCodec
    private let logger: Logger
    private let waiters = Mutex<[String: [ReplyWaiter]]>([:])

    public init(amqp: AMQPConnection, topology: GatewayTopology, codec: SignedEnvelopeCodec, logger: Logger) {
        self.amqp = amqp
        self.topology = topology
        self.codec = codec
        self.logger = logger
    }

    /// Consumes replies until graceful shutdown or cancellation.
    public func run() async throws {
        let observer = amqp.addObserver { [weak self] event in
            guard let self, case .disconnected = event else { return }
            self.failAll()
        }
        defer { amqp.removeObserver(observer) }
        let replies = try await amqp.consumeDirectReplies()
        // The HTTP server stops before this service (reverse start order), so by the time
        // graceful shutdown reaches here no call waits for a reply any more.
        await cancelWhenGracefulShutdown {
            for await delivery in replies {
                self.handle(delivery)
            }
        }
        try? await replies.cancel()
    }

    private func handle(_ delivery: AMQPDelivery) {
        if delivery.properties.type == ProgressUpdate.amqpType {
            handleProgress(delivery)
            return
        }
        let reply: Reply
        do {
            reply = try Reply(decoding: delivery.body)
        } catch {
            logger.warning("Unreadable reply dropped", metadata: [LogKeys.callID: "\(delivery.properties.correlationID ?? "-")", LogKeys.error: "\(error)"])
            return
        }
        let id = delivery.properties.correlationID ?? reply.callID
        let waiting = waiters.withLock { $0[id] ?? [] }
        guard !waiting.isEmpty else {
            // The caller gave up (deadline) or a duplicate reply: nothing waits for it.
            logger.debug("Reply without a waiting caller", metadata: [LogKeys.callID: "\(id)"])
            return
        }
        for waiter in waiting { waiter.resolve(.success(reply)) }
    }

    /// A progress update goes to its caller's handler; one for a call that no longer waits is dropped.
    private func handleProgress(_ delivery: AMQPDelivery) {
        guard let update = try? ProgressUpdate(decoding: delivery.body) else {
            logger.debug("Unreadable progress update dropped", metadata: [LogKeys.callID: "\(delivery.properties.correlationID ?? "-")"])
            return
        }
        let id = delivery.properties.correlationID ?? update.callID
        for waiter in waiters.withLock({ $0[id] ?? [] }) { waiter.onProgress?(update) }
    }

    private func failAll() {
        let all = waiters.withLock { $0.values.flatMap { $0 } }
        for waiter in all {
            waiter.resolve(.failure(Self.connectionLost(kind: waiter.kind)))
        }
    }

    /// What a caller is told when the broker connection breaks while it waits (or while its
    /// request was being confirmed): the request may have reached a worker.
    static func connectionLost(kind: CallKind) -> GatewayError {
        guard kind == .callTool else {
            return GatewayError(.unavailable, "the connection to the message broker was lost before the answer came; ask again")
        }
        return GatewayError(
            .outcomeUnknown,
            "the connection to the message broker was lost after the call was sent, so it may have run; GET /calls/{callId} tells its outcome, and a retry with the same Idempotency-Key never runs it twice",
            mayHaveRun: true
        )
    }

    /// Publishes `envelope` and returns the worker's reply, or throws a ``GatewayError``:
    /// `unavailable` when the broker cannot take it, `deadline_exceeded` at the deadline.
    /// `onProgress` receives the call's progress updates (sent when the envelope asks for them).
    public func call(_ envelope: RequestEnvelope, onProgress: (@Sendable (ProgressUpdate) -> Void)? = nil) async throws(GatewayError) -> Reply {
        let encoded: (body: [UInt8], headers: [String: String])
        do {
            encoded = try codec.encode(envelope)
        } catch {
            throw GatewayError(.badRequest, "the request cannot be sent: \(error)")
        }
        let waiter = ReplyWaiter(kind: envelope.kind, onProgress: onProgress)
        let id = envelope.callID
        waiters.withLock { $0[id, default: []].append(waiter) }
        defer {
            waiters.withLock { waiters in
                waiters[id]?.removeAll { $0 === waiter }
                if waiters[id]?.isEmpty == true { waiters[id] = nil }
            }
        }

        let remaining = envelope.remaining()
        guard remaining > .zero else { throw GatewayError(.deadlineExceeded, "the deadline passed before the call was sent") }
        do {
            try await amqp.publish(
                encoded.body, exchange: topology.requestsExchange, routingKey: envelope.server,
                properties: RequestMessage.properties(for: envelope, signatureHeaders: encoded.headers),
                mandatory: true, timeout: min(remaining, amqp.configuration.publishTimeout)
            )
        } catch let error as AMQPError {
            throw Self.publishFailure(error, kind: envelope.kind)
        } catch {
            throw GatewayError(.internal, "publishing failed: \(error)")
        }
        do {
            return try await waiter.wait(until: envelope.deadline)
        } catch where error.code == .deadlineExceeded && envelope.kind == .callTool {
            // The call was sent: a worker may be running it still (it never starts one past the deadline).
            throw GatewayError(
                .deadlineExceeded, "no answer before the deadline; the call may have run (GET /calls/{callId} tells its outcome)",
                mayHaveRun: true
            )
        }
    }

    /// A publish that failed: `unavailable` (nothing was sent: retry later) unless the broker
    /// may have taken the message (the connection broke, or the confirm did not come in time),
    /// which for a `tools/call` means its outcome is unknown.
    static func publishFailure(_ error: AMQPError, kind: CallKind) -> GatewayError {
        switch error.code {
        case .blocked: return GatewayError(.unavailable, "the message broker is refusing new work for now (resource alarm)", detail: error.message)
        case .noRoute: return GatewayError(.notFound, "no queue takes requests for this server", detail: error.message)
        case .publishTimeout, .connectionLost:
            guard kind == .callTool else {
                return GatewayError(.unavailable, "the message broker did not confirm the request", detail: error.message)
            }
            var failure = connectionLost(kind: kind)
            failure.message = "the message broker did not confirm the call, but may have taken it, so it may have run; GET /calls/{callId} tells its outcome, and a retry with the same Idempotency-Key never runs it twice"
            failure.detail = error.message
            return failure
        default: return GatewayError(.unavailable, "the message broker is unreachable", detail: error.message)
        }
    }
}

/// One caller waiting for its reply; resolved at most once, by the reply, a connection loss,
/// the deadline or cancellation, whichever comes first.
final class ReplyWaiter: Sendable {
    private enum State {
        case waiting(CheckedContinuation<Reply, any Error>?)
        case done(Result<Reply, GatewayError>)
    }

    private let state = Mutex<State>(.waiting(nil))
    let kind: CallKind
    let onProgress: (@Sendable (ProgressUpdate) -> Void)?

    init(kind: CallKind, onProgress: (@Sendable (ProgressUpdate) -> Void)? = nil) {
        self.kind = kind
        self.onProgress = onProgress
    }

    func resolve(_ result: Result<Reply, GatewayError>) {
        let continuation: CheckedContinuation<Reply, any Error>? = state.withLock { state in
            guard case .waiting(let continuation) = state else { return nil }
            state = .done(result)
            return continuation
        }
        continuation?.resume(with: result.mapError { $0 as any Error })
    }

    func wait(until deadline: Date) async throws(GatewayError) -> Reply {
        do {
            return try await withThrowingTaskGroup(of: Reply.self) { group in
                group.addTask {
                    try await withTaskCancellationHandler {
                        try await withCheckedThrowingContinuation { continuation in
                            let early: Result<Reply, GatewayError>? = self.state.withLock { state in
                                switch state {
                                case .done(let result): return result
                                case .waiting: state = .waiting(continuation)
                                    return nil
                                }
                            }
                            if let early { continuation.resume(with: early.mapError { $0 as any Error }) }
                        }
                    } onCancel: {
                        self.resolve(.failure(GatewayError(.unavailable, "the call was cancelled")))
                    }
                }
                group.addTask {
                    try await Task.sleep(for: .milliseconds(max(0, Int64(deadline.timeIntervalSinceNow * 1000))))
                    throw GatewayError(.deadlineExceeded, "no reply before the deadline")
                }
                defer { group.cancelAll() }
                return try await group.next()!
            }
        } catch let error as GatewayError {
            throw error
        } catch {
            throw GatewayError(.unavailable, "the call was cancelled")
        }
    }
}
