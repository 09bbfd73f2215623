import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Shared
import Synchronization

/// MCP over the legacy HTTP+SSE transport (protocol 2024-11-05): a long-lived GET event stream
/// whose first `endpoint` event names the URL to POST messages to; the server answers each POST
/// with 202 and sends the JSON-RPC answer later as a `message` event on the stream, matched to
/// its request by id.
///
/// The session is the stream: when it drops, every request waiting on it fails with
/// ``MCPClientError/Code/transport``, and the next request opens a new stream and initialises a
/// new session. The endpoint must have the stream's scheme, host and port, so that a server
/// cannot make us send its credentials elsewhere.
///
/// The stream is read by a task of this transport's own (it outlives any one request);
/// ``shutdown()`` cancels it and waits for it.
final class LegacySSETransport: MCPTransport {
    private struct Connection: Sendable {
        var generation: Int
        var endpoint: URL
        var info: MCPSessionInfo
    }

    private struct State {
        var connection: Connection?
        var generation = 0
        var readers: [Int: Task<Void, Never>] = [:]
        var sessionsStarted = 0
        var shutDown = false
    }

    /// The server answered 404 to a POST: it no longer knows the session.
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
    private let pending = PendingRequests()
    private let connecting = SingleFlight<Connection>()

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

    var session: MCPSessionInfo? { state.withLock { $0.connection?.info } }
    var sessionsStarted: Int { state.withLock { $0.sessionsStarted } }

    func request(
        id: Int64,
        method: String,
        params: JSONValue?,
        deadline: ContinuousClock.Instant,
        logger: Logger
    ) async throws -> JSONValue {
        var retried = false
        while true {
            let connection = try await currentConnection()
            do {
                let answer = try await exchange(
                    .request(id: .integer(id), method: method, params: params),
                    id: id,
                    on: connection,
                    deadline: deadline,
                    logger: logger
                )
                return try answer.resultOrThrow(serverID: serverID)
            } catch is SessionGone {
                drop(connection, because: "the server no longer knows the session")
                guard !retried else {
                    throw MCPClientError(.sessionExpired, serverID: serverID, message: "the server forgot a session it had just started")
                }
                retried = true
            }
        }
    }

    func notify(method: String, params: JSONValue?, deadline: ContinuousClock.Instant, logger: Logger) async {
        guard let connection = state.withLock({ $0.shutDown ? nil : $0.connection }) else { return }
        do {
            try await postMessage(.notification(method: method, params: params), to: connection.endpoint, deadline: deadline, logger: logger)
        } catch {
            logger.debug(
                "MCP notification not delivered",
                metadata: [LogKeys.server: "\(serverID)", "mcp_method": "\(method)", LogKeys.error: "\(error)"]
            )
        }
    }

    func shutdown() async {
        let readers = state.withLock { state in
            state.shutDown = true
            state.connection = nil
            defer { state.readers.removeAll() }
            return Array(state.readers.values)
        }
        connecting.cancel()
        for reader in readers { reader.cancel() }
        for reader in readers { await reader.value }
        pending.failAll(with: MCPClientError(.shutdown, serverID: serverID, message: "the backend has been shut down"))
    }

    // MARK: Requests

    /// Registers `id`, POSTs the message and waits for its answer on the stream.
    private func exchange(
        _ message: JSONRPCMessage,
        id: Int64,
        on connection: Connection,
        deadline: ContinuousClock.Instant,
        logger: Logger
    ) async throws -> JSONRPCMessage {
        pending.register(id, generation: connection.generation)
        do {
            try await postMessage(message, to: connection.endpoint, deadline: deadline, logger: logger)
        } catch {
            pending.remove(id)
            throw error
        }
        return try await pending.wait(for: id)
    }

    private func postMessage(_ message: JSONRPCMessage, to endpoint: URL, deadline: ContinuousClock.Instant, logger: Logger) async throws {
        var request = HTTPClientRequest(url: endpoint.absoluteString)
        request.method = .POST
        for (name, value) in headers { request.headers.replaceOrAdd(name: name, value: value) }
        request.headers.replaceOrAdd(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: try message.encoded()))
        let response: HTTPClientResponse
        do {
            response = try await httpClient.execute(request, deadline: deadline.nioDeadline, logger: logger)
        } catch {
            throw mapHTTPError(error)
        }
        let status = Int(response.status.code)
        let body = (try? await response.body.collect(upTo: 64 * 1024)) ?? ByteBuffer()
        if status == 404 { throw SessionGone() }
        guard (200..<300).contains(status) else {
            throw MCPClientError(
                .transport,
                serverID: serverID,
                message: "HTTP \(status) from the MCP message endpoint",
                httpStatus: status,
                bodyExcerpt: MCPClientError.excerpt(body.readableBytesView)
            )
        }
    }

    // MARK: Connection

    private func currentConnection() async throws -> Connection {
        let current = try state.withLock { state throws(MCPClientError) -> Connection? in
            if state.shutDown { throw MCPClientError(.shutdown, serverID: serverID, message: "the backend has been shut down") }
            return state.connection
        }
        if let current { return current }
        return try await connecting.run { [self] in
            do {
                return try await withDeadline(.now + handshakeTimeout) { try await self.connect() }
            } catch is DeadlineExceeded {
                throw MCPClientError(.timeout, serverID: serverID, message: "the server did not complete initialisation in time")
            }
        }
    }

    private func drop(_ connection: Connection, because reason: String) {
        let reader = state.withLock { state -> Task<Void, Never>? in
            if state.connection?.generation == connection.generation { state.connection = nil }
            return state.readers[connection.generation]
        }
        reader?.cancel()
        pending.failAll(
            generation: connection.generation,
            with: MCPClientError(.transport, serverID: serverID, message: reason)
        )
    }

    /// Opens the event stream, waits for the endpoint, and initialises a session over it.
    private func connect() async throws -> Connection {
        if let existing = state.withLock({ $0.connection }) { return existing }
        let (endpoints, endpointSink) = AsyncThrowingStream<URL, any Error>.makeStream()
        let generation = try state.withLock { state throws(MCPClientError) -> Int in
            if state.shutDown { throw MCPClientError(.shutdown, serverID: serverID, message: "the backend has been shut down") }
            state.generation += 1
            let generation = state.generation
            state.readers[generation] = Task { await self.readStream(generation: generation, endpoint: endpointSink) }
            return generation
        }
        do {
            var endpoint: URL?
            for try await url in endpoints {
                endpoint = url
                break
            }
            guard let endpoint else {
                throw MCPClientError(.protocolError, serverID: serverID, message: "the event stream sent no endpoint")
            }
            let deadline = ContinuousClock.now + handshakeTimeout
            let id = ids.next()
            var connection = Connection(
                generation: generation,
                endpoint: endpoint,
                info: MCPSessionInfo(protocolVersion: MCPProtocol.legacySSEVersion, capabilities: [:])
            )
            let answer = try await exchange(
                .request(
                    id: .integer(id),
                    method: MCPProtocol.Method.initialize,
                    params: MCPProtocol.initializeParams(offering: MCPProtocol.legacySSEVersion)
                ),
                id: id,
                on: connection,
                deadline: deadline,
                logger: logger
            )
            connection.info = try MCPProtocol.session(from: try answer.resultOrThrow(serverID: serverID), serverID: serverID)
            try await postMessage(
                .notification(method: MCPProtocol.Method.initialized, params: nil),
                to: endpoint,
                deadline: deadline,
                logger: logger
            )
            try state.withLock { state throws(MCPClientError) in
                guard !state.shutDown else {
                    throw MCPClientError(.shutdown, serverID: serverID, message: "the backend has been shut down")
                }
                guard state.readers[generation] != nil else {
                    throw MCPClientError(.transport, serverID: serverID, message: "the event stream closed during initialisation")
                }
                state.connection = connection
                state.sessionsStarted += 1
            }
            logger.info(
                "MCP session initialised",
                metadata: [
                    LogKeys.server: "\(serverID)", "mcp_transport": "sse",
                    "mcp_protocol_version": "\(connection.info.protocolVersion)",
                ]
            )
            return connection
        } catch {
            let reader = state.withLock { $0.readers[generation] }
            reader?.cancel()
            pending.failAll(generation: generation, with: error)
            throw error is SessionGone
                ? MCPClientError(.transport, serverID: serverID, message: "the server rejected the session it had just announced")
                : error
        }
    }

    /// Reads the event stream of connection `generation` until it ends or is cancelled.
    private func readStream(generation: Int, endpoint endpointSink: AsyncThrowingStream<URL, any Error>.Continuation) async {
        var endpoint: URL?
        let failure: any Error
        do {
            var request = HTTPClientRequest(url: url.absoluteString)
            request.method = .GET
            for (name, value) in headers { request.headers.replaceOrAdd(name: name, value: value) }
            request.headers.replaceOrAdd(name: "Accept", value: "text/event-stream")
            request.headers.replaceOrAdd(name: "Cache-Control", value: "no-cache")
            let response: HTTPClientResponse
            do {
                // The stream lives as long as the session; only connecting is bounded (by the client's connect timeout).
                response = try await httpClient.execute(request, deadline: .distantFuture, logger: logger)
            } catch {
                throw mapHTTPError(error)
            }
            let status = Int(response.status.code)
            guard status == 200 else {
                let body = (try? await response.body.collect(upTo: 64 * 1024)) ?? ByteBuffer()
                throw MCPClientError(
                    .transport,
                    serverID: serverID,
                    message: "HTTP \(status) from the SSE endpoint",
                    httpStatus: status,
                    bodyExcerpt: MCPClientError.excerpt(body.readableBytesView)
                )
            }
            let contentType = response.headers.first(name: "Content-Type")?.lowercased() ?? ""
            guard contentType.hasPrefix("text/event-stream") else {
                throw MCPClientError(
                    .protocolError,
                    serverID: serverID,
                    message: "the SSE endpoint answered with Content-Type \(contentType.quotedForLog(limit: 60))"
                )
            }
            var parser = ServerSentEventParser(maximumLineLength: maximumMessageBytes)
            for try await buffer in response.body {
                let events: [ServerSentEvent]
                do {
                    events = try parser.feed(buffer.readableBytesView)
                } catch {
                    throw MCPClientError(.protocolError, serverID: serverID, message: "an event longer than \(maximumMessageBytes) bytes")
                }
                for event in events {
                    switch event.event {
                    case "endpoint":
                        let resolved = try resolveEndpoint(event.data)
                        if endpoint == nil { endpointSink.yield(resolved) }
                        endpoint = resolved
                    case "message":
                        await handleMessage(event.data, generation: generation, endpoint: endpoint)
                    default:
                        break
                    }
                }
            }
            failure = MCPClientError(.transport, serverID: serverID, message: "the SSE stream ended")
        } catch {
            failure = Task.isCancelled ? MCPClientError(.transport, serverID: serverID, message: "the SSE stream was closed") : error
        }
        endpointSink.finish(throwing: failure)
        let wasCurrent = state.withLock { state -> Bool in
            state.readers[generation] = nil
            guard state.connection?.generation == generation else { return false }
            state.connection = nil
            return true
        }
        if wasCurrent {
            logger.warning("MCP SSE stream lost", metadata: [LogKeys.server: "\(serverID)", LogKeys.error: "\(failure)"])
        }
        pending.failAll(generation: generation, with: failure)
    }

    private func handleMessage(_ data: String, generation: Int, endpoint: URL?) async {
        let messages: [JSONRPCMessage]
        do {
            messages = try JSONRPCMessage.parse(Array(data.utf8))
        } catch {
            logger.warning("MCP server sent a malformed message", metadata: [LogKeys.server: "\(serverID)", LogKeys.error: "\(error)"])
            return
        }
        for message in messages {
            switch message {
            case .notification(let method, let params):
                inbound.notification(method, params)
            case .request(let id, let method, _):
                guard let endpoint else { continue }
                let reply = MCPInboundHandler.reply(toServerRequest: id, method: method)
                try? await postMessage(reply, to: endpoint, deadline: .now + .seconds(5), logger: logger)
            case .result, .error:
                if let id = message.responseID, pending.complete(id, with: .success(message)) { continue }
                logger.debug("MCP response for no waiting request ignored", metadata: [LogKeys.server: "\(serverID)"])
            }
        }
    }

    /// The POST endpoint an `endpoint` event names, resolved against the stream's URL and held
    /// to its origin.
    private func resolveEndpoint(_ text: String) throws(MCPClientError) -> URL {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let resolved = URL(string: trimmed, relativeTo: url)?.absoluteURL else {
            throw MCPClientError(.protocolError, serverID: serverID, message: "the endpoint event holds no URL")
        }
        guard resolved.scheme?.lowercased() == url.scheme?.lowercased(),
            resolved.host?.lowercased() == url.host?.lowercased(),
            (resolved.port ?? defaultPort(resolved)) == (url.port ?? defaultPort(url))
        else {
            throw MCPClientError(
                .protocolError,
                serverID: serverID,
                message: "the endpoint event names another origin (\(resolved.redactingCredentials))"
            )
        }
        return resolved
    }

    private func defaultPort(_ url: URL) -> Int {
        url.scheme?.lowercased() == "https" ? 443 : 80
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
