import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Shared

extension HTTPField.Name {
    static let mcpSessionID = Self("Mcp-Session-Id")!
    static let mcpProtocolVersion = Self("MCP-Protocol-Version")!
}

/// The MCP Streamable HTTP endpoints: `POST /mcp` (every server the caller may use) and
/// `POST /servers/{server}/mcp` (one server). Every request is authenticated; all state a
/// session has lives in its signed `Mcp-Session-Id`, so any replica answers any request.
///
/// HTTP rules (Streamable HTTP transport): one JSON-RPC message per POST, or a batch in the
/// revisions that have them (2024-11-05, 2025-03-26); notifications and responses alone get
/// 202 with no body; a request gets its response as `application/json`, or as
/// `text/event-stream` when the client accepts it and a `tools/call` runs longer than
/// `MCP_STREAM_AFTER_MS`. Only POST is offered: `GET`, `DELETE`, `PUT` and `PATCH` get 405.
/// Headers that mirror the body (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`) must agree
/// with it (``MCPHeaderCheck``); in the 2026-07-28 revision an unknown method is a 404.
struct MCPRoutes {
    let handler: MCPMethodHandler
    let configuration: IngressConfiguration
    let surface: ToolSurfaceConfiguration
    let signer: EnvelopeSigner
    let canceller: CallCanceller

    func add(to group: RouterGroup<GatewayRequestContext>) {
        group.post("mcp") { request, context in
            try await handle(request, context: context, scope: .aggregate)
        }
        group.post("servers/:server/mcp") { request, context in
            try await handle(request, context: context, scope: .server(try context.parameters.require("server")))
        }
        // Only POST is offered: no server-initiated stream (GET), and no session to end (DELETE:
        // a session is a signed token any replica accepts until it expires, so "ended" could not
        // be kept; 405 is what the transport says a server that does not end sessions answers).
        for path in ["mcp", "servers/:server/mcp"] {
            for method in [HTTPRequest.Method.get, .delete, .put, .patch] {
                group.on(RouterPath(path), method: method) { _, _ in
                    Response(status: .methodNotAllowed, headers: [.allow: "POST"])
                }
            }
        }
    }

    private func handle(_ request: Request, context: GatewayRequestContext, scope: MCPScope) async throws -> Response {
        if let origin = request.header("origin"), !surface.allowsOrigin(origin) {
            context.logger.info("MCP request from a browser origin that is not allowed refused", metadata: ["origin": "\(origin.prefix(100))"])
            return try failure(.forbidden, .invalidRequest("requests from the origin '\(origin.prefix(100))' are not allowed (MCP_ALLOWED_ORIGINS)"))
        }
        let principal = try context.requirePrincipal()
        if case .server(let id) = scope, !RequestEnvelope.isValidServerID(id) {
            throw GatewayHTTPError(GatewayError(.notFound, "no MCP server '\(id)' is served here"), callID: context.callID)
        }
        let headerVersion = request.header("mcp-protocol-version")
        if let headerVersion, !MCPProtocolVersion.isKnown(headerVersion) {
            return try failure(.badRequest, MCPHeaderCheck.unsupported(headerVersion))
        }
        var session: MCPSessionToken?
        if let sessionID = request.header("mcp-session-id"), headerVersion != MCPProtocolVersion.stateless {
            do {
                session = try MCPSessionToken(verifying: sessionID, principal: principal, signer: signer)
            } catch {
                context.logger.info("MCP session refused", metadata: ["reason": "\(error)"])
                // 404 tells an MCP client to start a new session with initialize.
                return try failure(.notFound, JSONRPCError(code: -32001, message: "session not found or expired; send initialize again"))
            }
        }

        let headers: CallHeaders
        do {
            headers = try CallHeaders(request, configuration: configuration, callID: context.callID)
        } catch {
            return try failure(.badRequest, .invalidRequest(error.message))
        }
        let bytes = try await request.body.collectJSONBody(limit: configuration.maxBodyBytes, callID: context.callID)
        let value: JSONValue
        do {
            value = try JSONBody.parse(bytes)
        } catch {
            return try failure(.badRequest, error)
        }
        if value.arrayValue == nil, let mismatch = MCPHeaderCheck.check(value, headers: request) {
            context.logger.info("MCP request whose headers disagree with its body refused", metadata: ["reason": "\(mismatch.message)"])
            let id = value["id"].flatMap { JSONRPCMessage.isValidID($0) ? $0 : nil } ?? .null
            return try JSONResponse.make(JSONRPCResponse.error(id: id, mismatch), status: .badRequest)
        }
        let bodyVersion = value["params"]?["_meta"]?[MCPHeaderCheck.protocolVersionMetaKey]?.stringValue
        let mcpContext = MCPRequestContext(
            principal: principal, scope: scope, session: session,
            protocolVersion: headerVersion ?? bodyVersion ?? session?.protocolVersion ?? "2025-03-26", httpCallID: context.callID,
            trace: request.traceContext, timeout: headers.timeout, idempotencyKey: headers.idempotencyKey, logger: context.logger
        )

        if let batch = value.arrayValue {
            if headers.idempotencyKey != nil {
                return try failure(.badRequest, .invalidRequest("an Idempotency-Key names one tools/call; send it without a batch"))
            }
            return try await handleBatch(batch, context: mcpContext)
        }
        let message: JSONRPCMessage
        do {
            message = try JSONRPCMessage(value)
        } catch {
            return try JSONResponse.make(JSONRPCResponse.error(id: error.id, error.error), status: .badRequest)
        }
        switch message {
        case .notification(let method, let params):
            await handler.notify(method: method, params: params, context: mcpContext)
            return Response(status: .accepted)
        case .response:
            // Answers to server-initiated requests; this server sends none, so there is nothing to match.
            return Response(status: .accepted)
        case .request(let id, let method, let params):
            // A tools/call's id is decided here, so that the answer's X-Call-Id is the id of the
            // call (its audit records, its ledger entry, GET /calls/{callId}), not the request's.
            let callID = method == "tools/call" ? mcpContext.callID(forRequest: id) ?? UUID().uuidString.lowercased() : nil
            let acceptsStream = request.header("accept")?.contains("text/event-stream") == true
            if let callID, acceptsStream {
                var response = await streamingAnswer(
                    id: id, method: method, params: params, context: mcpContext, callID: callID, connectionClosed: context.connectionClosed)
                response.headers[.callID] = callID
                return response
            }
            let answer = await handler.answer(id: id, method: method, params: params, context: mcpContext, callID: callID)
            var headers: HTTPFields = [:]
            if let newSession = answer.newSession { headers[.mcpSessionID] = newSession.id }
            if let callID { headers[.callID] = callID }
            // 2026-07-28: a method the server does not implement is a 404 (with -32601).
            var status = HTTPResponse.Status.ok
            if mcpContext.isStateless, case .failure(let error) = answer.result, error.code == JSONRPCError.methodNotFound("").code { status = .notFound }
            return try JSONResponse.make(Self.response(id: id, answer.result), status: status, headers: headers)
        }
    }

    /// Waits up to `MCP_STREAM_AFTER_MS` for the answer; past that, answers with an event stream
    /// that carries keep-alives until the answer comes. A call with a `progressToken` is streamed
    /// at once, so that its progress notifications can reach the client. A client that drops the
    /// stream cancels the call.
    private func streamingAnswer(
        id: JSONValue, method: String, params: JSONValue?, context: MCPRequestContext, callID: String, connectionClosed: EventLoopFuture<Void>
    ) async -> Response {
        let answer = OneShot<JSONValue>()
        let (events, sink) = AsyncStream.makeStream(of: MCPEventStream.Event.self)
        let wantsProgress = MCPMethodHandler.progressToken(of: params) != nil
        let handler = self.handler
        // Unstructured on purpose: the call must outlive this function when its answer is
        // streamed after the handler has returned the response head. It ends with the call
        // (at its deadline at the latest) or when the stream's writer cancels it.
        var notify: (@Sendable (JSONValue) -> Void)?
        if wantsProgress { notify = { @Sendable message in sink.yield(.notification(message)) } }
        let work = Task { [notify] () async -> Void in
            let result = await handler.answer(id: id, method: method, params: params, context: context, callID: callID, notify: notify)
            let response = Self.response(id: id, result.result)
            answer.fulfil(response)
            sink.yield(.answer(response))
            sink.finish()
        }
        if !wantsProgress, let early = await answer.value(within: surface.streamAfter) {
            return (try? JSONResponse.make(early)) ?? Response(status: .internalServerError)
        }
        let canceller = self.canceller
        context.logger.debug("Call answered as an event stream", metadata: [LogKeys.callID: "\(callID)", "progress": "\(wantsProgress)"])
        // Closing the stream cancels the call (2026-07-28: "MUST be treated as cancellation"). A
        // closed connection is noticed at once; a failed write (the keep-alive's) is the fallback.
        let cancelOnce = OneShot<Void>()
        let cancel: @Sendable () async -> Void = {
            guard answer.peek() == nil, cancelOnce.fulfil(()) else { return }
            context.logger.info("MCP client closed the stream of a running call; cancelling it", metadata: [LogKeys.callID: "\(callID)"])
            work.cancel()
            await canceller.cancel(callID: callID, reason: "the client closed the stream", logger: context.logger)
        }
        connectionClosed.whenComplete { _ in Task { await cancel() } }
        return MCPEventStream.response(events: events, sink: sink, keepAlive: surface.keepAliveInterval, onDisconnect: cancel)
    }

    private func handleBatch(_ batch: [JSONValue], context: MCPRequestContext) async throws -> Response {
        guard !batch.isEmpty else { return try failure(.badRequest, .invalidRequest("an empty batch is not a valid JSON-RPC request")) }
        guard MCPProtocolVersion.allowsBatches(context.protocolVersion) else {
            return try failure(.badRequest, .invalidRequest("JSON-RPC batches are not part of MCP revision \(context.protocolVersion)"))
        }
        let handler = self.handler
        let answers = await withTaskGroup(of: (Int, JSONValue?).self) { group in
            for (index, element) in batch.enumerated() {
                group.addTask {
                    let message: JSONRPCMessage
                    do throws(JSONRPCFailure) {
                        message = try JSONRPCMessage(element)
                    } catch {
                        return (index, JSONRPCResponse.error(id: error.id, error.error))
                    }
                    switch message {
                    case .notification(let method, let params):
                        await handler.notify(method: method, params: params, context: context)
                        return (index, nil)
                    case .response:
                        return (index, nil)
                    case .request(let id, "initialize", _):
                        return (index, JSONRPCResponse.error(id: id, .invalidRequest("initialize must not be part of a batch")))
                    case .request(let id, let method, let params):
                        let answer = await handler.answer(id: id, method: method, params: params, context: context)
                        return (index, Self.response(id: id, answer.result))
                    }
                }
            }
            var answers = [JSONValue?](repeating: nil, count: batch.count)
            for await (index, answer) in group { answers[index] = answer }
            return answers.compactMap { $0 }
        }
        if answers.isEmpty { return Response(status: .accepted) }
        return try JSONResponse.make(JSONValue.array(answers))
    }

    static func response(id: JSONValue, _ result: Result<JSONValue, JSONRPCError>) -> JSONValue {
        switch result {
        case .success(let value): JSONRPCResponse.result(id: id, value)
        case .failure(let error): JSONRPCResponse.error(id: id, error)
        }
    }

    private func failure(_ status: HTTPResponse.Status, _ error: JSONRPCError) throws -> Response {
        try JSONResponse.make(JSONRPCResponse.error(id: .null, error), status: status)
    }
}

/// Parsing a JSON-RPC body: -32700 for bytes that are not JSON (or nest too deeply to be safe).
enum JSONBody {
    static func parse(_ bytes: [UInt8]) throws(JSONRPCError) -> JSONValue {
        guard !bytes.isEmpty else { throw .parseError("the request body is empty") }
        guard ContractJSON.isNestingWithinLimit(bytes, limit: ContractJSON.maximumNestingDepth) else {
            throw .parseError("the JSON is nested too deeply")
        }
        do {
            return try ContractJSON.decoder.decode(JSONValue.self, from: Data(bytes))
        } catch {
            throw .parseError("the request body is not valid JSON")
        }
    }
}

extension RequestBody {
    /// The whole body, or the 413 of the stable error shape when it is larger than `limit`.
    func collectJSONBody(limit: Int, callID: String) async throws -> [UInt8] {
        do {
            return Array(try await collect(upTo: limit).readableBytesView)
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            throw GatewayHTTPError(GatewayError(.payloadTooLarge, "the request body is larger than \(limit) bytes"), callID: callID)
        }
    }
}
