import Foundation
import Logging
import Shared
import Tracing

/// Turns an authenticated HTTP request into a request envelope, sends it through the broker,
/// and turns the worker's reply into a result or a ``GatewayError``. Shared by every HTTP
/// surface (REST, MCP, OpenAPI), so that all of them answer alike.
public struct CallDispatcher: Sendable {
    let rpc: RPCClient
    let directory: ServerDirectory
    let configuration: IngressConfiguration
    let metrics: IngressMetrics

    public init(rpc: RPCClient, directory: ServerDirectory, configuration: IngressConfiguration, metrics: IngressMetrics) {
        self.rpc = rpc
        self.directory = directory
        self.configuration = configuration
        self.metrics = metrics
    }

    /// `servers/list`: the servers this principal may use, decided by a worker.
    /// When the principal's group overage could not be resolved, the listing says why in `notice`.
    public func listServers(principal: Principal, callID: String, trace: TraceContext?) async throws(GatewayError) -> JSONValue {
        let listing = try await send(
            kind: .listServers, server: RequestEnvelope.catalogServer, tool: nil, arguments: [:], principal: principal, callID: callID,
            timeout: configuration.listTimeout, trace: trace
        )
        guard let reason = principal.groupsOverageDetail, case .object(var fields) = listing else { return listing }
        fields["notice"] = .string(reason)
        return .object(fields)
    }

    /// `tools/list` of one server, filtered for this principal by the worker.
    public func listTools(server: String, principal: Principal, callID: String, trace: TraceContext?) async throws(GatewayError) -> JSONValue {
        try await requireKnown(server)
        return try await send(
            kind: .listTools, server: server, tool: nil, arguments: [:], principal: principal, callID: callID,
            timeout: configuration.listTimeout, trace: trace
        )
    }

    /// `tools/call`: the MCP result (`content`, `structuredContent`, `isError`). With `onProgress`,
    /// the backend's progress notifications reach it while the call runs.
    /// With an `idempotencyKey`, `callID` must be the one derived from it (``CallHeaders``): a
    /// retry then finds the first attempt in the workers' call ledger and never runs it again.
    public func callTool(
        server: String, tool: String, arguments: JSONValue, principal: Principal, callID: String, timeout: Duration, trace: TraceContext?,
        idempotencyKey: String? = nil, onProgress: (@Sendable (ProgressUpdate) -> Void)? = nil
    ) async throws(GatewayError) -> JSONValue {
        try await requireKnown(server)
        return try await send(
            kind: .callTool, server: server, tool: tool, arguments: arguments, principal: principal, callID: callID, timeout: timeout,
            trace: trace, idempotencyKey: idempotencyKey, onProgress: onProgress
        )
    }

    /// `GET /calls/{callId}`: what became of a call, from the workers' call ledger (its caller or
    /// a gateway administrator only).
    public func callStatus(of target: String, principal: Principal, callID: String, trace: TraceContext?) async throws(GatewayError) -> JSONValue {
        try await send(
            kind: .callStatus, server: RequestEnvelope.catalogServer, tool: nil, arguments: ["callId": .string(target)], principal: principal,
            callID: callID, timeout: configuration.listTimeout, trace: trace
        )
    }

    /// `gateway/explain`: an administrator asks a worker why a user may or may not call a tool.
    public func explain(arguments: JSONValue, principal: Principal, callID: String, trace: TraceContext?) async throws(GatewayError) -> JSONValue {
        try await send(
            kind: .explain, server: RequestEnvelope.catalogServer, tool: nil, arguments: arguments, principal: principal, callID: callID,
            timeout: configuration.listTimeout, trace: trace
        )
    }

    private func requireKnown(_ server: String) async throws(GatewayError) {
        guard try await directory.exists(server) else {
            throw GatewayError(.notFound, "no MCP server '\(server)' is served here")
        }
    }

    func send(
        kind: CallKind, server: String, tool: String?, arguments: JSONValue, principal: Principal, callID: String, timeout: Duration,
        trace: TraceContext?, idempotencyKey: String? = nil, onProgress: (@Sendable (ProgressUpdate) -> Void)? = nil
    ) async throws(GatewayError) -> JSONValue {
        // The producer span of the publish, whose context the envelope (and so the worker's
        // consumer span) carries; with tracing off, the caller's `traceparent` goes on as it came.
        try await GatewayTracing.withSpan("send \(kind.rawValue)", ofKind: .producer) { (span) async throws(GatewayError) -> JSONValue in
            span?.attributes["messaging.system"] = "rabbitmq"
            span?.attributes["messaging.operation.type"] = "send"
            span?.attributes["mcpgw.call_id"] = callID
            span?.attributes["mcp.server"] = server
            span?.attributes["mcp.tool"] = tool
            return try await publishAndWait(
                kind: kind, server: server, tool: tool, arguments: arguments, principal: principal, callID: callID, timeout: timeout,
                trace: GatewayTracing.currentContext ?? trace ?? .fresh(), idempotencyKey: idempotencyKey, onProgress: onProgress
            )
        }
    }

    private func publishAndWait(
        kind: CallKind, server: String, tool: String?, arguments: JSONValue, principal: Principal, callID: String, timeout: Duration,
        trace: TraceContext, idempotencyKey: String?, onProgress: (@Sendable (ProgressUpdate) -> Void)?
    ) async throws(GatewayError) -> JSONValue {
        let now = Date.now
        let envelope = RequestEnvelope(
            callID: callID, kind: kind, server: server, tool: tool, arguments: arguments, principal: principal, issuedAt: now,
            deadline: now.addingTimeInterval(Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18),
            trace: trace, idempotencyKey: idempotencyKey, wantsProgress: onProgress != nil
        )
        do {
            try envelope.validate()
        } catch {
            throw GatewayError(.badRequest, "\(error)")
        }
        let started = ContinuousClock.now
        metrics.callStarted()
        defer { metrics.callFinished(kind: kind, duration: started.duration(to: .now)) }
        let reply = try await rpc.call(envelope, onProgress: onProgress)
        switch reply.outcome {
        case .result(let result): return result
        case .error(var error):
            // A user whose groups could not be resolved learns why a grant through them did not count.
            if error.code == .forbidden, let reason = principal.groupsOverageDetail { error.message += " " + reason }
            throw error
        }
    }
}
