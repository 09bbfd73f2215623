import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Shared
import Synchronization

/// MCP over Streamable HTTP (protocol 2025-03-26 and later): every message is a POST to one
/// endpoint; the answer to a request comes back as the POST's response, either a JSON body or a
/// `text/event-stream` that may carry notifications (progress) before the answer.
///
/// The session id the server hands out at `initialize` (`Mcp-Session-Id`) is kept and sent on
/// every later POST, together with `MCP-Protocol-Version`. A 404 for a session id means the server
/// forgot the session (it restarted, or expired it): the transport initialises a new session once
/// and sends the request again; a second 404 is ``MCPClientError/Code/sessionExpired``.
///
/// Requests run concurrently, each on its own HTTP request. The optional GET stream for
/// server-initiated messages is not opened: a gateway has no use for server requests, and
/// list-change notifications are also caught on POST streams and by the tool cache's TTL.
final class StreamableHTTPTransport: MCPTransport {
    private struct Session: Sendable {
        var id: String?
        var info: MCPSessionInfo
        var generation: Int
    }

    private struct State {
        var session: Session?
        var generation = 0
        var sessionsStarted = 0
        var shutDown = false
    }

    /// The server answered 404 to a request that carried our session id.
    private struct SessionGone: Error {}

    private let serverID: String
    private let url: URL
    private let headers: [String: String]
    private let handshakeTimeout: Duration
    private let maximumMessageBytes: Int
    private let httpClient: HTTPClient
    private let inbound: MCPInboundHandler
    private let ids: MCPRequestIDs
    private let logger: Logger
    private let state = Mutex(State())
    private let starting = SingleFlight<Session>()

    init(
        definition: MCPServerDefinition,
        url: URL,
        httpClient: HTTPClient,
        maximumMessageBytes: Int,
        ids: MCPRequestIDs,
        inbound: MCPInboundHandler,
        logger: Logger
    ) {
        self.serverID = definition.id
        self.url = url
        self.headers = definition.headers
        self.handshakeTimeout = definition.timeout
        self.maximumMessageBytes = maximumMessageBytes
        self.httpClient = httpClient
        self.ids = ids
        self.inbound = inbound
        self.logger = logger
    }

    var session: MCPSessionInfo? { state.withLock { $0.session?.info } }
    var sessionsStarted: Int { state.withLock { $0.sessionsStarted } }

    func request(
        id: Int64,
        method: String,
        params: JSONValue?,
        deadline: ContinuousClock.Instant,
        logger: Logger
    ) async throws -> JSONValue {
        var session = try await currentSession()
        var retried = false
        while true {
            do {
                let answer = try await post(
                    .request(id: .integer(id), method: method, params: params),
                    session: session,
                    awaiting: id,
                    deadline: deadline,
                    logger: logger
                )
                guard let answer else {
                    throw MCPClientError(.protocolError, serverID: serverID, message: "the server accepted \(method) without answering it")
                }
                return try answer.resultOrThrow(serverID: serverID)
            } catch is SessionGone {
                forget(session)
                guard !retried else {
                    throw MCPClientError(.sessionExpired, serverID: serverID, message: "the server forgot a session it had just started")
                }
                logger.info("MCP server forgot the session; initialising a new one", metadata: [LogKeys.server: "\(serverID)"])
                retried = true
                session = try await currentSession()
            }
        }
    }

    func notify(method: String, params: JSONValue?, deadline: ContinuousClock.Instant, logger: Logger) async {
        guard let session = state.withLock({ $0.shutDown ? nil : $0.session }) else { return }
        do {
            _ = try await post(.notification(method: method, params: params), session: session, awaiting: nil, deadline: deadline, logger: logger)
        } catch {
            logger.debug(
                "MCP notification not delivered",
                metadata: [LogKeys.server: "\(serverID)", "mcp_method": "\(method)", LogKeys.error: "\(error)"]
            )
        }
    }

    func shutdown() async {
        let session = state.withLock { state -> Session? in
            state.shutDown = true
            defer { state.session = nil }
            return state.session
        }
        starting.cancel()
        // Tell the server it can drop the session (it may answer 405 if it does not let clients end sessions).
        guard let sessionID = session?.id else { return }
        var request = baseRequest(method: .DELETE, sessionID: sessionID, protocolVersion: session?.info.protocolVersion)
        request.headers.remove(name: "Content-Type")
        if let response = try? await httpClient.execute(request, deadline: .now() + .seconds(2), logger: logger) {
            _ = try? await response.body.collect(upTo: 64 * 1024)
        }
    }

    // MARK: Sessions

    private func currentSession() async throws -> Session {
        let current = try state.withLock { state throws(MCPClientError) -> Session? in
            if state.shutDown { throw MCPClientError(.shutdown, serverID: serverID, message: "the backend has been shut down") }
            return state.session
        }
        if let current { return current }
        return try await starting.run { [self] in
            do {
                return try await withDeadline(.now + handshakeTimeout) { try await self.startSession() }
            } catch is DeadlineExceeded {
                throw MCPClientError(.timeout, serverID: serverID, message: "the server did not complete initialisation in time")
            }
        }
    }

    private func forget(_ session: Session) {
        state.withLock { state in
            if state.session?.generation == session.generation { state.session = nil }
        }
    }

    /// `initialize`, then `notifications/initialized`, then the session is usable.
    private func startSession() async throws -> Session {
        if let existing = state.withLock({ $0.session }) { return existing }
        let deadline = ContinuousClock.now + handshakeTimeout
        let id = ids.next()
        let initialize = JSONRPCMessage.request(
            id: .integer(id),
            method: MCPProtocol.Method.initialize,
            params: MCPProtocol.initializeParams(offering: MCPProtocol.latestVersion)
        )
        var sessionID: String?
        guard
            let answer = try await post(
                initialize,
                session: nil,
                awaiting: id,
                deadline: deadline,
                logger: logger,
                sessionIDSink: { sessionID = $0 }
            )
        else {
            throw MCPClientError(.protocolError, serverID: serverID, message: "the server accepted initialize without answering it")
        }
        let info = try MCPProtocol.session(from: try answer.resultOrThrow(serverID: serverID), serverID: serverID)
        var session = Session(id: sessionID, info: info, generation: 0)
        _ = try await post(
            .notification(method: MCPProtocol.Method.initialized, params: nil),
            session: session,
            awaiting: nil,
            deadline: deadline,
            logger: logger
        )
        session = try state.withLock { state throws(MCPClientError) in
            if state.shutDown { throw MCPClientError(.shutdown, serverID: serverID, message: "the backend has been shut down") }
            state.generation += 1
            state.sessionsStarted += 1
            session.generation = state.generation
            state.session = session
            return session
        }
        logger.info(
            "MCP session initialised",
            metadata: [
                LogKeys.server: "\(serverID)", "mcp_transport": "streamable-http",
                "mcp_protocol_version": "\(info.protocolVersion)", "mcp_session": "\(sessionID != nil)",
            ]
        )
        return session
    }

    // MARK: HTTP

    private func baseRequest(method: HTTPMethod, sessionID: String?, protocolVersion: String?) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = method
        for (name, value) in headers { request.headers.replaceOrAdd(name: name, value: value) }
        request.headers.replaceOrAdd(name: "Accept", value: "application/json, text/event-stream")
        request.headers.replaceOrAdd(name: "Content-Type", value: "application/json")
        if let sessionID { request.headers.replaceOrAdd(name: "Mcp-Session-Id", value: sessionID) }
        if let protocolVersion { request.headers.replaceOrAdd(name: "MCP-Protocol-Version", value: protocolVersion) }
        return request
    }

    /// POSTs `message`; returns the response with id `awaiting` (nil when not awaiting one).
    private func post(
        _ message: JSONRPCMessage,
        session: Session?,
        awaiting id: Int64?,
        deadline: ContinuousClock.Instant,
        logger: Logger,
        sessionIDSink: ((String) -> Void)? = nil
    ) async throws -> JSONRPCMessage? {
        var request = baseRequest(method: .POST, sessionID: session?.id, protocolVersion: session?.info.protocolVersion)
        request.body = .bytes(ByteBuffer(bytes: try message.encoded()))
        let response: HTTPClientResponse
        do {
            response = try await httpClient.execute(request, deadline: deadline.nioDeadline, logger: logger)
        } catch {
            throw mapHTTPError(error)
        }
        let status = Int(response.status.code)
        if status == 404, session?.id != nil {
            _ = try? await response.body.collect(upTo: maximumMessageBytes)
            throw SessionGone()
        }
        guard (200..<300).contains(status) else {
            let body = (try? await response.body.collect(upTo: maximumMessageBytes)) ?? ByteBuffer()
            throw MCPClientError(
                .transport,
                serverID: serverID,
                message: "HTTP \(status) from the MCP endpoint",
                httpStatus: status,
                bodyExcerpt: MCPClientError.excerpt(body.readableBytesView)
            )
        }
        if let sessionIDSink, let sessionID = response.headers.first(name: "Mcp-Session-Id") {
            guard !sessionID.isEmpty, sessionID.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
                throw MCPClientError(.protocolError, serverID: serverID, message: "the server sent a malformed Mcp-Session-Id")
            }
            sessionIDSink(sessionID)
        }
        guard let id else {
            _ = try? await response.body.collect(upTo: maximumMessageBytes)
            return nil
        }
        if status == 202 || status == 204 {
            return nil
        }
        let contentType = response.headers.first(name: "Content-Type")?.lowercased() ?? ""
        do {
            if contentType.hasPrefix("text/event-stream") {
                return try await readEventStream(response.body, awaiting: id, session: session, deadline: deadline, logger: logger)
            }
            if contentType.hasPrefix("application/json") {
                let body = try await response.body.collect(upTo: maximumMessageBytes)
                let (answer, replies) = try dispatch(body.readableBytesView, awaiting: id, logger: logger)
                await send(replies, session: session, logger: logger)
                guard let answer else {
                    throw MCPClientError(.protocolError, serverID: serverID, message: "the JSON response holds no answer to request \(id)")
                }
                return answer
            }
        } catch let error as MCPClientError {
            throw error
        } catch {
            throw mapHTTPError(error)
        }
        let body = (try? await response.body.collect(upTo: maximumMessageBytes)) ?? ByteBuffer()
        throw MCPClientError(
            .protocolError,
            serverID: serverID,
            message: "unexpected Content-Type \(contentType.quotedForLog(limit: 60)) from the MCP endpoint",
            httpStatus: status,
            bodyExcerpt: MCPClientError.excerpt(body.readableBytesView)
        )
    }

    /// How often one answer's event stream may be resumed after the server closed it.
    private static let maximumResumptions = 20
    /// How long the rest of an event stream is read after its answer arrived. Servers close the
    /// stream right after the answer (the spec says they should); reading it to its end keeps the
    /// HTTP connection for the next request, where abandoning it mid-stream would close it.
    static let drainLimit = Duration.milliseconds(250)

    /// Reads an event-stream answer: returns the response to `id` as soon as it arrives, after
    /// reading the rest of the stream for at most ``drainLimit`` so that the connection can be
    /// reused. A stream that stays open longer is abandoned (and its connection closed).
    private func readEventStream(
        _ body: HTTPClientResponse.Body,
        awaiting id: Int64,
        session: Session?,
        deadline: ContinuousClock.Instant,
        logger: Logger
    ) async throws -> JSONRPCMessage {
        let (answers, answered) = AsyncThrowingStream.makeStream(of: JSONRPCMessage.self)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    try await self.consumeEventStream(body, awaiting: id, session: session, deadline: deadline, logger: logger) {
                        answered.yield($0)
                    }
                    answered.finish()
                } catch {
                    answered.finish(throwing: error)
                }
            }
            defer { group.cancelAll() }
            var pending = answers.makeAsyncIterator()
            guard let answer = try await pending.next() else {
                try Task.checkCancellation()
                throw MCPClientError(.transport, serverID: serverID, message: "the event stream ended before the answer to request \(id)")
            }
            group.addTask { try await Task.sleep(for: Self.drainLimit) }
            // Whichever ends first: the stream (connection kept) or the drain limit (connection dropped).
            _ = try? await group.next()
            return answer
        }
    }

    /// Reads an event stream to its end, handing the response to `id` to `onAnswer` when it
    /// arrives. When the server closes the stream early after giving its events ids (protocol
    /// 2025-11-25 lets it, to make the client poll), the stream is resumed with a GET carrying
    /// `Last-Event-ID`, after the server's `retry` time (at most 5 s). Throws when the stream
    /// ends for good before the answer.
    private func consumeEventStream(
        _ body: HTTPClientResponse.Body,
        awaiting id: Int64,
        session: Session?,
        deadline: ContinuousClock.Instant,
        logger: Logger,
        onAnswer: (JSONRPCMessage) -> Void
    ) async throws {
        var body = body
        var lastEventID: String?
        var resumptions = 0
        var answered = false
        while true {
            var parser = ServerSentEventParser(maximumLineLength: maximumMessageBytes)
            for try await buffer in body {
                let events: [ServerSentEvent]
                do {
                    events = try parser.feed(buffer.readableBytesView)
                } catch {
                    throw MCPClientError(.protocolError, serverID: serverID, message: "an event longer than \(maximumMessageBytes) bytes")
                }
                for event in events {
                    if let eventID = event.id { lastEventID = eventID }
                    guard event.event == "message", !event.data.isEmpty else { continue }
                    let (answer, replies) = try dispatch(Array(event.data.utf8), awaiting: id, logger: logger)
                    await send(replies, session: session, logger: logger)
                    if let answer, !answered {
                        answered = true
                        onAnswer(answer)
                    }
                }
            }
            if answered { return }
            guard let lastEventID, resumptions < Self.maximumResumptions else {
                throw MCPClientError(.transport, serverID: serverID, message: "the event stream ended before the answer to request \(id)")
            }
            resumptions += 1
            let wait = Duration.milliseconds(min(parser.retry ?? 0, 5_000))
            if wait > .zero { try await Task.sleep(for: wait) }
            logger.debug("MCP event stream resumed", metadata: [LogKeys.server: "\(serverID)", "mcp_request_id": "\(id)"])
            body = try await resumeEventStream(after: lastEventID, session: session, deadline: deadline, logger: logger)
        }
    }

    private func resumeEventStream(
        after lastEventID: String,
        session: Session?,
        deadline: ContinuousClock.Instant,
        logger: Logger
    ) async throws -> HTTPClientResponse.Body {
        var request = baseRequest(method: .GET, sessionID: session?.id, protocolVersion: session?.info.protocolVersion)
        request.headers.remove(name: "Content-Type")
        request.headers.replaceOrAdd(name: "Accept", value: "text/event-stream")
        request.headers.replaceOrAdd(name: "Last-Event-ID", value: lastEventID)
        let response: HTTPClientResponse
        do {
            response = try await httpClient.execute(request, deadline: deadline.nioDeadline, logger: logger)
        } catch {
            throw mapHTTPError(error)
        }
        let status = Int(response.status.code)
        let contentType = response.headers.first(name: "Content-Type")?.lowercased() ?? ""
        guard status == 200, contentType.hasPrefix("text/event-stream") else {
            let body = (try? await response.body.collect(upTo: 64 * 1024)) ?? ByteBuffer()
            throw MCPClientError(
                .transport,
                serverID: serverID,
                message: "resuming the event stream failed (HTTP \(status))",
                httpStatus: status,
                bodyExcerpt: MCPClientError.excerpt(body.readableBytesView)
            )
        }
        return response.body
    }

    /// Replies to requests from the server, each on a POST of its own (best effort).
    private func send(_ replies: [JSONRPCMessage], session: Session?, logger: Logger) async {
        for reply in replies {
            _ = try? await post(reply, session: session, awaiting: nil, deadline: .now + .seconds(5), logger: logger)
        }
    }

    /// Hands notifications to `inbound` and returns the response to `id` if these bytes hold it,
    /// and the replies owed to requests the server sent.
    private func dispatch(
        _ bytes: some Collection<UInt8>,
        awaiting id: Int64,
        logger: Logger
    ) throws -> (answer: JSONRPCMessage?, replies: [JSONRPCMessage]) {
        let messages: [JSONRPCMessage]
        do {
            messages = try JSONRPCMessage.parse(bytes)
        } catch {
            throw MCPClientError(.protocolError, serverID: serverID, message: error.description, bodyExcerpt: MCPClientError.excerpt(bytes))
        }
        var answer: JSONRPCMessage?
        var replies: [JSONRPCMessage] = []
        for message in messages {
            switch message {
            case .notification(let method, let params):
                inbound.notification(method, params)
            case .request(let requestID, let method, _):
                replies.append(MCPInboundHandler.reply(toServerRequest: requestID, method: method))
            case .result, .error:
                if message.responseID == id {
                    answer = message
                } else if case .error(nil, let code, let text, _) = message {
                    // An error without an id answers a request the server could not even read: ours.
                    throw MCPClientError(.server, serverID: serverID, message: text, rpcCode: code)
                } else {
                    logger.debug("MCP response for another request ignored", metadata: [LogKeys.server: "\(serverID)"])
                }
            }
        }
        return (answer, replies)
    }

    private func mapHTTPError(_ error: any Error) -> any Error {
        if let error = error as? HTTPClientError {
            if error == .deadlineExceeded { return DeadlineExceeded() }
            if error == .cancelled { return CancellationError() }
        }
        if error is CancellationError || error is MCPClientError || error is DeadlineExceeded { return error }
        return MCPClientError(.transport, serverID: serverID, message: "\(error)")
    }
}
