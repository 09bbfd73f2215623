import Foundation
import Logging
import Shared
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// MCP over stdio: the server is a child process (``StdioProcess``) that reads JSON-RPC messages
/// from its stdin and writes them to its stdout, one per line. Requests are multiplexed by id, so
/// any number can be in flight; stderr lines go to our logger with the server id.
///
/// The child gets a minimal environment: `PATH`, `HOME` and `LANG` from the worker (or plain
/// defaults) plus the definition's own variables, never the rest of the worker's environment,
/// which holds the worker's secrets.
///
/// When the process dies, the requests in flight fail with
/// ``MCPClientError/Code/processExited``, and the next request starts a new process, no sooner
/// than an exponential backoff allows (a server that keeps crashing at start is not respawned in
/// a tight loop). A process that ran longer than ``MCPClientConfiguration/stdioRestartResetAfter``
/// before dying starts the backoff afresh.
final class StdioTransport: MCPTransport {
    private struct Running: Sendable {
        var generation: Int
        var process: StdioProcess
        var info: MCPSessionInfo
    }

    private struct State {
        var running: Running?
        /// The process being started (and initialised), before it is `running`.
        var launching: (generation: Int, process: StdioProcess)?
        var generation = 0
        var sessionsStarted = 0
        var shutDown = false
        var startedAt: ContinuousClock.Instant?
        var lastExit: ContinuousClock.Instant?
        var consecutiveExits = 0
    }

    private let serverID: String
    private let command: String
    private let arguments: [String]
    private let environment: [String: String]
    private let handshakeTimeout: Duration
    private let configuration: MCPClientConfiguration
    private let inbound: MCPInboundHandler
    private let ids: MCPRequestIDs
    private let logger: Logger
    private let state = Mutex(State())
    private let pending = PendingRequests()
    private let starting = SingleFlight<Running>()

    init(
        definition: MCPServerDefinition,
        command: String,
        arguments: [String],
        environment: [String: String],
        configuration: MCPClientConfiguration,
        ids: MCPRequestIDs,
        inbound: MCPInboundHandler,
        logger: Logger,
        workerEnvironment: [String: String] = ProcessInfo.processInfo.environment
    ) {
        self.serverID = definition.id
        self.command = command
        self.arguments = arguments
        self.environment = Self.childEnvironment(adding: environment, from: workerEnvironment)
        self.handshakeTimeout = definition.timeout
        self.configuration = configuration
        self.ids = ids
        self.inbound = inbound
        self.logger = logger
    }

    /// `PATH`, `HOME` and `LANG` of the worker (or defaults), overridden and extended by `extra`.
    static func childEnvironment(adding extra: [String: String], from worker: [String: String]) -> [String: String] {
        var environment: [String: String] = [
            "PATH": worker["PATH"].flatMap { $0.isEmpty ? nil : $0 } ?? "/usr/local/bin:/usr/bin:/bin",
            "HOME": worker["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? "/nonexistent",
            "LANG": worker["LANG"].flatMap { $0.isEmpty ? nil : $0 } ?? "C.UTF-8",
        ]
        environment.merge(extra) { _, new in new }
        return environment
    }

    var session: MCPSessionInfo? { state.withLock { $0.running?.info } }
    var sessionsStarted: Int { state.withLock { $0.sessionsStarted } }

    /// The pid of the running server process, if any.
    var processID: pid_t? { state.withLock { $0.running?.process.pid ?? $0.launching?.process.pid } }

    func request(
        id: Int64,
        method: String,
        params: JSONValue?,
        deadline: ContinuousClock.Instant,
        logger: Logger
    ) async throws -> JSONValue {
        let running = try await currentProcess()
        let answer = try await exchange(
            .request(id: .integer(id), method: method, params: params),
            id: id,
            process: running.process,
            generation: running.generation
        )
        return try answer.resultOrThrow(serverID: serverID)
    }

    func notify(method: String, params: JSONValue?, deadline: ContinuousClock.Instant, logger: Logger) async {
        guard let running = state.withLock({ $0.shutDown ? nil : $0.running }) else { return }
        guard let data = try? Self.line(.notification(method: method, params: params)) else { return }
        running.process.send(data) { _ in }
    }

    func shutdown() async {
        let processes = state.withLock { state -> [StdioProcess] in
            state.shutDown = true
            defer {
                state.running = nil
                state.launching = nil
            }
            return [state.running?.process, state.launching?.process].compactMap { $0 }
        }
        starting.cancel()
        for process in processes {
            await process.terminate(grace: configuration.stdioShutdownGrace)
        }
        pending.failAll(with: MCPClientError(.shutdown, serverID: serverID, message: "the backend has been shut down"))
    }

    // MARK: Requests

    private static func line(_ message: JSONRPCMessage) throws -> Data {
        var data = try message.encoded()
        data.append(UInt8(ascii: "\n"))
        return data
    }

    private func exchange(_ message: JSONRPCMessage, id: Int64, process: StdioProcess, generation: Int) async throws -> JSONRPCMessage {
        let data = try Self.line(message)
        pending.register(id, generation: generation)
        if let status = process.exitStatus {
            pending.remove(id)
            throw MCPClientError(.processExited, serverID: serverID, message: "the server process exited (\(status))")
        }
        process.send(data) { [logger, serverID] error in
            guard let error else { return }
            // A server that stopped reading its stdin is of no use; ending it fails this request
            // (and every other one in flight) with processExited, and the next one restarts it.
            logger.warning("MCP server's stdin is broken; ending the process", metadata: [LogKeys.server: "\(serverID)", LogKeys.error: "\(error)"])
            process.signalGroup(SIGKILL)
        }
        return try await pending.wait(for: id)
    }

    // MARK: The process

    private func currentProcess() async throws -> Running {
        let current = try state.withLock { state throws(MCPClientError) -> Running? in
            if state.shutDown { throw MCPClientError(.shutdown, serverID: serverID, message: "the backend has been shut down") }
            return state.running
        }
        if let current { return current }
        return try await starting.run { [self] in try await self.start() }
    }

    /// Waits out the restart backoff, starts the process and initialises the session.
    private func start() async throws -> Running {
        if let existing = state.withLock({ $0.running }) { return existing }
        let notBefore = state.withLock { state -> ContinuousClock.Instant? in
            guard let lastExit = state.lastExit, state.consecutiveExits > 0 else { return nil }
            return lastExit + restartDelay(afterExits: state.consecutiveExits)
        }
        if let notBefore, notBefore > .now {
            logger.info(
                "MCP server process restart delayed",
                metadata: [LogKeys.server: "\(serverID)", "delay_ms": "\(ContinuousClock.now.duration(to: notBefore).milliseconds)"]
            )
            try await Task.sleep(until: notBefore, clock: .continuous)
        }
        let generation = state.withLock { state in
            state.generation += 1
            return state.generation
        }
        let process: StdioProcess
        do {
            process = try await StdioProcess.launch(
                command: command,
                arguments: arguments,
                environment: environment,
                name: serverID,
                maximumLineLength: configuration.maximumMessageBytes,
                onLine: { [weak self] line in self?.handleLine(line, generation: generation) },
                onOverlongLine: { [weak self] in self?.handleOverlongLine(generation: generation) },
                onStderrLine: { [logger, serverID] line in
                    logger.info("\(line)", metadata: [LogKeys.server: "\(serverID)", "mcp_stream": "stderr"])
                },
                onExit: { [weak self] status in self?.handleExit(status, generation: generation) }
            )
        } catch {
            throw MCPClientError(.launchFailed, serverID: serverID, message: "\(error)")
        }
        let accepted = state.withLock { state -> Bool in
            guard !state.shutDown else { return false }
            state.launching = (generation, process)
            state.startedAt = .now
            return true
        }
        guard accepted else {
            await process.terminate(grace: configuration.stdioShutdownGrace)
            throw MCPClientError(.shutdown, serverID: serverID, message: "the backend has been shut down")
        }
        logger.info("MCP server process started", metadata: [LogKeys.server: "\(serverID)", "pid": "\(process.pid)"])
        do {
            let info = try await withDeadline(.now + handshakeTimeout) { [self] in
                try await self.handshake(process: process, generation: generation)
            }
            let running = Running(generation: generation, process: process, info: info)
            try state.withLock { state throws(MCPClientError) in
                guard !state.shutDown, state.launching?.generation == generation else {
                    throw MCPClientError(.processExited, serverID: serverID, message: "the server process exited during initialisation")
                }
                state.launching = nil
                state.running = running
                state.sessionsStarted += 1
            }
            logger.info(
                "MCP session initialised",
                metadata: [
                    LogKeys.server: "\(serverID)", "mcp_transport": "stdio",
                    "mcp_protocol_version": "\(info.protocolVersion)", "pid": "\(process.pid)",
                ]
            )
            return running
        } catch {
            // A process we could not initialise is of no use; do not leave it behind.
            process.signalGroup(SIGKILL)
            state.withLock { state in
                if state.launching?.generation == generation { state.launching = nil }
            }
            throw error is DeadlineExceeded
                ? MCPClientError(.timeout, serverID: serverID, message: "the server process did not complete initialisation in time")
                : error
        }
    }

    private func handshake(process: StdioProcess, generation: Int) async throws -> MCPSessionInfo {
        let id = ids.next()
        let answer = try await exchange(
            .request(
                id: .integer(id),
                method: MCPProtocol.Method.initialize,
                params: MCPProtocol.initializeParams(offering: MCPProtocol.latestVersion)
            ),
            id: id,
            process: process,
            generation: generation
        )
        let info = try MCPProtocol.session(from: try answer.resultOrThrow(serverID: serverID), serverID: serverID)
        process.send(try Self.line(.notification(method: MCPProtocol.Method.initialized, params: nil))) { _ in }
        return info
    }

    private func restartDelay(afterExits exits: Int) -> Duration {
        let initial = configuration.stdioRestartBackoff
        let maximum = configuration.stdioRestartBackoffMaximum
        var delay = initial
        for _ in 1..<max(exits, 1) {
            delay *= 2
            if delay >= maximum { return maximum }
        }
        return min(delay, maximum)
    }

    // MARK: From the process's threads

    private func handleLine(_ line: [UInt8], generation: Int) {
        guard !line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }) else { return }
        let messages: [JSONRPCMessage]
        do {
            messages = try JSONRPCMessage.parse(line)
        } catch {
            logger.warning(
                "MCP server wrote a line that is not JSON-RPC to stdout",
                metadata: [LogKeys.server: "\(serverID)", LogKeys.error: "\(error)", "line": "\(MCPClientError.excerpt(line.prefix(200)))"]
            )
            return
        }
        for message in messages {
            switch message {
            case .notification(let method, let params):
                inbound.notification(method, params)
            case .request(let id, let method, _):
                let process = state.withLock { state in
                    state.running?.generation == generation ? state.running?.process : state.launching?.process
                }
                if let process, let data = try? Self.line(MCPInboundHandler.reply(toServerRequest: id, method: method)) {
                    process.send(data) { _ in }
                }
            case .result, .error:
                if let id = message.responseID, pending.complete(id, with: .success(message)) { continue }
                logger.debug("MCP response for no waiting request ignored", metadata: [LogKeys.server: "\(serverID)"])
            }
        }
    }

    private func handleOverlongLine(generation: Int) {
        logger.error(
            "MCP server wrote a message longer than the limit; ending the process",
            metadata: [LogKeys.server: "\(serverID)", "limit_bytes": "\(configuration.maximumMessageBytes)"]
        )
        let process = state.withLock { state in
            state.running?.generation == generation ? state.running?.process : state.launching?.process
        }
        process?.signalGroup(SIGKILL)
    }

    private func handleExit(_ status: StdioProcess.ExitStatus, generation: Int) {
        let (expected, pid) = state.withLock { state -> (Bool, pid_t?) in
            var pid: pid_t?
            if state.running?.generation == generation {
                pid = state.running?.process.pid
                state.running = nil
            }
            if state.launching?.generation == generation {
                pid = state.launching?.process.pid
                state.launching = nil
            }
            let now = ContinuousClock.now
            if let startedAt = state.startedAt, startedAt.duration(to: now) > configuration.stdioRestartResetAfter {
                state.consecutiveExits = 0
            }
            state.consecutiveExits += 1
            state.lastExit = now
            return (state.shutDown, pid)
        }
        if !expected {
            logger.warning(
                "MCP server process exited",
                metadata: [LogKeys.server: "\(serverID)", "pid": "\(pid.map { "\($0)" } ?? "?")", "status": "\(status)"]
            )
        }
        pending.failAll(
            generation: generation,
            with: MCPClientError(.processExited, serverID: serverID, message: "the server process exited (\(status))")
        )
    }
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
