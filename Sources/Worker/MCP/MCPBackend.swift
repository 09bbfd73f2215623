import AsyncHTTPClient
import Foundation
import Logging
import Metrics
import Shared
import Synchronization

/// The worker's connection to one MCP server: lists its tools and calls them, over whichever
/// transport the server's definition names.
///
/// The session is started on first use (the `initialize` handshake offers protocol 2025-11-25 and
/// accepts 2025-06-18, 2025-03-26 and 2024-11-05), shared by all calls, and started again when
/// the server loses it. Any number of calls may run at once.
///
/// Each call has a deadline (its own, or ``MCPServerDefinition/timeout`` from now). When it
/// passes, or the calling task is cancelled, the server is sent `notifications/cancelled` for
/// the request and the call throws ``MCPClientError`` with ``MCPClientError/Code/timeout`` or
/// ``MCPClientError/Code/cancelled``. A tool that fails on its own terms is not an error here: its
/// result (with `isError: true`) is returned like any other.
public final class MCPBackend: Sendable {
    public let definition: MCPServerDefinition
    private let transport: any MCPTransport
    private let ids: MCPRequestIDs
    private let router: NotificationRouter
    private let logger: Logger
    private let inFlight = Atomic<Int>(0)
    private let breaker: Mutex<CircuitBreaker>
    private let onCircuitChange: @Sendable (CircuitBreaker.Phase, String?) -> Void

    /// - Parameters:
    ///   - httpClient: used by the HTTP transports; the caller owns it (and shuts it down after
    ///     the backend). It should not follow redirects, which could carry credentials elsewhere.
    ///   - onToolListChanged: called when the server says its tool list changed.
    public init(
        definition: MCPServerDefinition,
        httpClient: HTTPClient,
        configuration: MCPClientConfiguration = MCPClientConfiguration(),
        logger: Logger,
        onToolListChanged: @escaping @Sendable () -> Void = {},
        onCircuitChange: @escaping @Sendable (CircuitBreaker.Phase, String?) -> Void = { _, _ in }
    ) {
        self.onCircuitChange = onCircuitChange
        var logger = logger
        logger[metadataKey: LogKeys.server] = "\(definition.id)"
        self.definition = definition
        self.logger = logger
        self.breaker = Mutex(CircuitBreaker(policy: configuration.breakerPolicy))
        let ids = MCPRequestIDs()
        let router = NotificationRouter(serverID: definition.id, logger: logger, onToolListChanged: onToolListChanged)
        let inbound = MCPInboundHandler(notification: { method, params in router.route(method: method, params: params) })
        self.ids = ids
        self.router = router
        switch definition.transport {
        case .streamableHTTP(let url):
            transport = StreamableHTTPTransport(
                definition: definition,
                url: url,
                httpClient: httpClient,
                maximumMessageBytes: configuration.maximumMessageBytes,
                ids: ids,
                inbound: inbound,
                logger: logger
            )
        case .sse(let url):
            transport = LegacySSETransport(
                definition: definition,
                url: url,
                httpClient: httpClient,
                maximumMessageBytes: configuration.maximumMessageBytes,
                ids: ids,
                inbound: inbound,
                logger: logger
            )
        case .stdio(let command, let arguments, let environment):
            transport = StdioTransport(
                definition: definition,
                command: command,
                arguments: arguments,
                environment: environment,
                configuration: configuration,
                ids: ids,
                inbound: inbound,
                logger: logger
            )
        }
    }

    /// What the current session agreed on (protocol version, server info, capabilities), if one is up.
    public var session: MCPSessionInfo? { transport.session }

    /// How many sessions this backend has initialised (one, unless the server lost sessions or restarted).
    public var sessionsStarted: Int { transport.sessionsStarted }

    /// Calls running now.
    public var callsInFlight: Int { inFlight.load(ordering: .relaxed) }

    /// Where this backend's circuit breaker stands (see ``CircuitBreaker``).
    var circuitPhase: CircuitBreaker.Phase { breaker.withLock { $0.phase(at: .now) } }

    /// The pid of the stdio server process while one runs; nil for HTTP servers.
    public var processID: Int32? { (transport as? StdioTransport)?.processID }

    /// Every tool the server offers (`tools/list`, following `nextCursor` to the last page), each
    /// as the server describes it (`name`, `description`, `inputSchema`, ...).
    ///
    /// - Parameters:
    ///   - deadline: when to give up on the whole listing; default ``MCPServerDefinition/timeout`` from now.
    ///   - logger: the caller's logger (with its `call_id`); default the backend's.
    public func listTools(deadline: ContinuousClock.Instant? = nil, logger: Logger? = nil) async throws(MCPClientError) -> [JSONValue] {
        let deadline = deadline ?? .now + definition.timeout
        let logger = logger.map(withServer) ?? self.logger
        var tools: [JSONValue] = []
        var cursor: String?
        var cursorsSeen: Set<String> = []
        repeat {
            let params: JSONValue? = cursor.map { ["cursor": .string($0)] }
            let result = try await perform(MCPProtocol.Method.listTools, params: params, deadline: deadline, logger: logger)
            guard let page = result["tools"]?.arrayValue else {
                throw MCPClientError(.protocolError, serverID: definition.id, message: "the tools/list result has no tools array")
            }
            tools += page
            cursor = result["nextCursor"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
            if let cursor, !cursorsSeen.insert(cursor).inserted {
                throw MCPClientError(.protocolError, serverID: definition.id, message: "tools/list pagination returned a cursor twice")
            }
        } while cursor != nil
        return tools
    }

    /// Calls tool `name` and returns its `CallToolResult` object: `content` (always an array),
    /// `structuredContent` when the tool gave one, and `isError` (always present).
    ///
    /// - Parameters:
    ///   - arguments: a JSON object (or `.null` for none).
    ///   - deadline: default ``MCPServerDefinition/timeout`` from now.
    ///   - progress: receives the server's progress notifications for this call; when given, the
    ///     request carries a progress token.
    ///   - logger: the caller's logger (with its `call_id`); default the backend's.
    public func callTool(
        name: String,
        arguments: JSONValue = [:],
        deadline: ContinuousClock.Instant? = nil,
        progress: MCPProgressHandler? = nil,
        logger: Logger? = nil
    ) async throws(MCPClientError) -> JSONValue {
        let deadline = deadline ?? .now + definition.timeout
        var logger = logger.map(withServer) ?? self.logger
        logger[metadataKey: LogKeys.tool] = "\(name)"
        var params: [String: JSONValue] = ["name": .string(name)]
        switch arguments {
        case .object: params["arguments"] = arguments
        case .null: break
        default:
            throw MCPClientError(.protocolError, serverID: definition.id, message: "tool arguments must be a JSON object")
        }
        let id = ids.next()
        // W3C trace context in `_meta` (`traceparent`, `tracestate`), for servers without HTTP headers.
        var meta = (GatewayTracing.currentContext?.headers ?? [:]).mapValues(JSONValue.string)
        if let progress {
            meta["progressToken"] = .integer(id)
            router.addProgressHandler(progress, token: id)
        }
        if !meta.isEmpty { params["_meta"] = .object(meta) }
        defer { if progress != nil { router.removeProgressHandler(token: id) } }
        let result = try await perform(MCPProtocol.Method.callTool, params: .object(params), id: id, deadline: deadline, logger: logger)
        guard case .object(var object) = result else {
            throw MCPClientError(.protocolError, serverID: definition.id, message: "the tools/call result is not an object")
        }
        if object["content"] == nil { object["content"] = [] }
        guard object["content"]?.arrayValue != nil else {
            throw MCPClientError(.protocolError, serverID: definition.id, message: "the tools/call result's content is not an array")
        }
        if object["isError"]?.boolValue == nil { object["isError"] = false }
        return .object(object)
    }

    /// Ends the session (closing the stream, or ending the process) and fails calls still in
    /// flight with ``MCPClientError/Code/shutdown``. Later calls fail the same way.
    public func shutdown() async {
        await transport.shutdown()
    }

    /// Waits (up to `limit`) for the calls in flight to finish, then shuts down: for a backend
    /// being replaced, whose calls deserve their answers.
    func retire(waitingAtMost limit: Duration) async {
        let end = ContinuousClock.now + limit
        while callsInFlight > 0, ContinuousClock.now < end {
            try? await Task.sleep(for: .milliseconds(100))
        }
        await shutdown()
    }

    // MARK: Requests

    private func withServer(_ logger: Logger) -> Logger {
        var logger = logger
        logger[metadataKey: LogKeys.server] = "\(definition.id)"
        return logger
    }

    /// Sends one request under `deadline`, turning every failure into an ``MCPClientError`` and
    /// telling the server when we stop waiting.
    private func perform(
        _ method: String,
        params: JSONValue?,
        id: Int64? = nil,
        deadline: ContinuousClock.Instant,
        logger: Logger
    ) async throws(MCPClientError) -> JSONValue {
        let id = id ?? ids.next()
        let transport = self.transport
        let admission = breaker.withLock { $0.admit(at: .now) }
        if case .refused(let retryAfter) = admission {
            Counter(label: "mcp_backend_circuit_refusals_total", dimensions: [("server", definition.id)]).increment()
            var error = MCPClientError(
                .circuitOpen, serverID: definition.id,
                message: "it failed too often in a row; requests to it are refused for \(CircuitBreaker.seconds(retryAfter)) s")
            error.retryAfter = retryAfter
            throw error
        }
        inFlight.add(1, ordering: .relaxed)
        defer { inFlight.subtract(1, ordering: .relaxed) }
        logger.debug("MCP request", metadata: ["mcp_method": "\(method)", "mcp_request_id": "\(id)"])
        let started = ContinuousClock.now
        do {
            let result = try await withDeadline(deadline) {
                try await transport.request(id: id, method: method, params: params, deadline: deadline, logger: logger)
            }
            record(method: method, outcome: "ok", since: started)
            recordForBreaker(success: true, admission: admission, logger: logger)
            return result
        } catch {
            let failure = classify(error, method: method)
            record(method: method, outcome: failure.code.description, since: started)
            switch failure.code {
            case .server: recordForBreaker(success: true, admission: admission, logger: logger)
            case .cancelled, .shutdown: if admission == .probe { breaker.withLock { $0.abandonProbe() } }
            default: recordForBreaker(success: false, admission: admission, logger: logger, failure: failure)
            }
            if failure.code == .timeout || failure.code == .cancelled {
                logger.warning(
                    "MCP request abandoned",
                    metadata: ["mcp_method": "\(method)", "mcp_request_id": "\(id)", "reason": "\(failure.code)"]
                )
                await sendCancelled(id, reason: failure.code == .timeout ? "deadline exceeded" : "cancelled by the gateway", logger: logger)
            } else {
                logger.warning(
                    "MCP request failed",
                    metadata: ["mcp_method": "\(method)", "mcp_request_id": "\(id)", LogKeys.error: "\(failure)"]
                )
            }
            throw failure
        }
    }

    /// Moves the breaker by a request's outcome (a JSON-RPC error is an answer, so a success
    /// here), and says when that changed its phase: a log line and `mcp_backend_circuit_state`
    /// (0 closed, 1 half-open, 2 open).
    private func recordForBreaker(success: Bool, admission: CircuitBreaker.Admission, logger: Logger, failure: MCPClientError? = nil) {
        guard let phase = breaker.withLock({ $0.record(success: success, probe: admission == .probe, at: .now) }) else { return }
        switch phase {
        case .open:
            logger.warning(
                "MCP server failing; circuit breaker open, its requests are refused for a while",
                metadata: [LogKeys.error: "\(failure.map { "\($0)" } ?? "-")"])
        case .closed, .halfOpen:
            logger.info("MCP server answering again; circuit breaker closed")
        }
        Self.recordCircuit(phase, server: definition.id)
        onCircuitChange(phase, failure.map { "\($0)" })
    }

    static func recordCircuit(_ phase: CircuitBreaker.Phase, server: String) {
        let value: Int = switch phase {
        case .closed: 0
        case .halfOpen: 1
        case .open: 2
        }
        Gauge(label: "mcp_backend_circuit_state", dimensions: [("server", server)]).record(value)
    }

    /// `mcp_client_requests_total` and `mcp_client_request_duration_seconds`, by server, method
    /// and outcome (`ok` or the ``MCPClientError/Code``).
    private func record(method: String, outcome: String, since started: ContinuousClock.Instant) {
        let dimensions = [("server", definition.id), ("method", method), ("outcome", outcome)]
        Counter(label: "mcp_client_requests_total", dimensions: dimensions).increment()
        Metrics.Timer(label: "mcp_client_request_duration_seconds", dimensions: dimensions)
            .recordNanoseconds(started.duration(to: .now).nanoseconds)
    }

    private func classify(_ error: any Error, method: String) -> MCPClientError {
        if error is DeadlineExceeded {
            return MCPClientError(.timeout, serverID: definition.id, message: "\(method) did not finish before its deadline")
        }
        if Task.isCancelled || error is CancellationError {
            return MCPClientError(.cancelled, serverID: definition.id, message: "\(method) was cancelled")
        }
        if let error = error as? MCPClientError { return error }
        return MCPClientError(.transport, serverID: definition.id, message: "\(error)")
    }

    /// Tells the server to stop working on `id`. Runs in a task of its own, because the calling
    /// task may be cancelled (which would stop the send), and waits for it (at most 2 s) so that
    /// the notification has left when the call's error reaches the caller.
    private func sendCancelled(_ id: Int64, reason: String, logger: Logger) async {
        let transport = self.transport
        let send = Task {
            await transport.notify(
                method: MCPProtocol.Method.cancelled,
                params: MCPProtocol.cancelledParams(requestID: id, reason: reason),
                deadline: .now + .seconds(2),
                logger: logger
            )
        }
        await send.value
    }
}

/// Routes notifications from a server: progress to the call that asked for it, list changes to
/// the tool cache, log messages to our log.
final class NotificationRouter: Sendable {
    private let serverID: String
    private let logger: Logger
    private let onToolListChanged: @Sendable () -> Void
    private let progressHandlers = Mutex<[Int64: MCPProgressHandler]>([:])

    init(serverID: String, logger: Logger, onToolListChanged: @escaping @Sendable () -> Void) {
        self.serverID = serverID
        self.logger = logger
        self.onToolListChanged = onToolListChanged
    }

    func addProgressHandler(_ handler: @escaping MCPProgressHandler, token: Int64) {
        progressHandlers.withLock { $0[token] = handler }
    }

    func removeProgressHandler(token: Int64) {
        _ = progressHandlers.withLock { $0.removeValue(forKey: token) }
    }

    func route(method: String, params: JSONValue?) {
        switch method {
        case MCPProtocol.Method.progress:
            guard let token = params?["progressToken"].flatMap(JSONRPCMessage.integerID),
                let value = params?["progress"]?.doubleValue,
                let handler = progressHandlers.withLock({ $0[token] })
            else { return }
            handler(MCPProgress(progress: value, total: params?["total"]?.doubleValue, message: params?["message"]?.stringValue))
        case MCPProtocol.Method.toolListChanged:
            logger.info("MCP server's tool list changed")
            onToolListChanged()
        case "notifications/message":
            logger.debug(
                "MCP server log message",
                metadata: ["mcp_log_level": "\(params?["level"]?.stringValue ?? "?")", "data": "\(params?["data"] ?? .null)"]
            )
        default:
            break
        }
    }
}
