import AsyncHTTPClient
import Logging
import NIOCore
import ServiceLifecycle
import Shared
import Synchronization

/// All of a worker's MCP backends: one ``MCPBackend`` per server id, made on first use, and a
/// cache of each server's tool list.
///
/// A service: `run()` waits for graceful shutdown, then shuts every backend down (ending stdio
/// processes) and closes the HTTP client. Put it after the consumers in the service group, so
/// that it stops after them.
///
/// The pool owns one `HTTPClient` for all HTTP backends, configured not to follow redirects (a
/// redirect would carry a tenant's credential headers to wherever the server points) and with
/// no read timeout (a legacy SSE stream is quiet for as long as nothing happens; calls are bounded
/// by their deadlines instead).
public final class MCPBackendPool: Service, Sendable {
    private struct Entry {
        var backend: MCPBackend
        /// Distinguishes this backend from a later one for the same server id.
        var serial: Int
    }

    private struct CachedTools {
        var serial: Int
        var tools: [JSONValue]
        var fetchedAt: ContinuousClock.Instant
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var cache: [String: CachedTools] = [:]
        /// Bumped by every invalidation, so that a listing that started before it is not cached.
        var cacheEpochs: [String: Int] = [:]
        var nextSerial = 0
        var retiring: [Int: Task<Void, Never>] = [:]
        var shutDown = false
    }

    public let configuration: MCPClientConfiguration
    private let httpClient: HTTPClient
    private let logger: Logger
    private let state = Mutex(State())

    public init(configuration: MCPClientConfiguration = MCPClientConfiguration(), logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        self.httpClient = HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: HTTPClient.Configuration(
                redirectConfiguration: .disallow,
                timeout: .init(connect: .nanoseconds(configuration.httpConnectTimeout.nanoseconds), read: nil),
                connectionPool: .init(
                    idleTimeout: .seconds(60),
                    concurrentHTTP1ConnectionsPerHostSoftLimit: configuration.httpConnectionsPerHost
                )
            )
        )
    }

    public func run() async throws {
        try? await gracefulShutdown()
        await shutdown()
    }

    /// The backend for `definition.poolKey` (the server id, and the tenant whose credentials it
    /// carries: backends are never shared across credentials), made now if there is none. When the definition differs
    /// from the one the existing backend was made with, a new backend replaces it; the old one
    /// finishes its calls in flight (for at most its timeout) and is then shut down.
    public func backend(for definition: MCPServerDefinition) throws(MCPClientError) -> MCPBackend {
        let (backend, replaced) = try state.withLock { state throws(MCPClientError) -> (MCPBackend, Entry?) in
            guard !state.shutDown else {
                throw MCPClientError(.shutdown, serverID: definition.id, message: "the backend pool has been shut down")
            }
            if let entry = state.entries[definition.poolKey], entry.backend.definition == definition {
                return (entry.backend, nil)
            }
            state.nextSerial += 1
            let serial = state.nextSerial
            let backend = MCPBackend(
                definition: definition,
                httpClient: httpClient,
                configuration: configuration,
                logger: logger,
                onToolListChanged: { [weak self] in self?.invalidateTools(poolKey: definition.poolKey, serial: serial) }
            )
            let replaced = state.entries[definition.poolKey]
            state.entries[definition.poolKey] = Entry(backend: backend, serial: serial)
            if let replaced {
                state.cache[definition.poolKey] = nil
                state.cacheEpochs[definition.poolKey, default: 0] += 1
                let old = replaced.backend
                state.retiring[replaced.serial] = Task {
                    await old.retire(waitingAtMost: old.definition.timeout)
                    self.retired(serial: replaced.serial)
                }
            }
            return (backend, replaced)
        }
        if replaced != nil {
            logger.info("MCP server definition changed; replacing its backend", metadata: [LogKeys.server: "\(definition.id)"])
        }
        return backend
    }

    /// The server's tools, from the cache while it is younger than
    /// ``MCPClientConfiguration/toolCacheTTL`` and the server has not said the list changed.
    public func listTools(
        for definition: MCPServerDefinition,
        deadline: ContinuousClock.Instant? = nil,
        logger: Logger? = nil
    ) async throws(MCPClientError) -> [JSONValue] {
        let backend = try backend(for: definition)
        let (cached, epoch, serial) = state.withLock { state -> ([JSONValue]?, Int, Int?) in
            let serial = state.entries[definition.poolKey]?.serial
            let epoch = state.cacheEpochs[definition.poolKey, default: 0]
            guard let cached = state.cache[definition.poolKey], cached.serial == serial,
                cached.fetchedAt.duration(to: .now) < configuration.toolCacheTTL
            else { return (nil, epoch, serial) }
            return (cached.tools, epoch, serial)
        }
        if let cached { return cached }
        let tools = try await backend.listTools(deadline: deadline, logger: logger)
        state.withLock { state in
            guard let serial, state.entries[definition.poolKey]?.serial == serial,
                state.cacheEpochs[definition.poolKey, default: 0] == epoch
            else { return }
            state.cache[definition.poolKey] = CachedTools(serial: serial, tools: tools, fetchedAt: .now)
        }
        return tools
    }

    /// Drops the cached tool lists of `serverID`, for every tenant's backend of it (the next
    /// ``listTools(for:deadline:logger:)`` asks the server).
    public func invalidateTools(serverID: String) {
        state.withLock { state in
            let keys = Set(state.cache.keys).union(state.cacheEpochs.keys).union(state.entries.keys)
            for key in keys where key == serverID || key.hasPrefix(serverID + MCPServerDefinition.poolKeySeparator) {
                state.cache[key] = nil
                state.cacheEpochs[key, default: 0] += 1
            }
        }
    }

    private func invalidateTools(poolKey: String, serial: Int) {
        state.withLock { state in
            guard state.entries[poolKey]?.serial == serial else { return }
            state.cache[poolKey] = nil
            state.cacheEpochs[poolKey, default: 0] += 1
        }
    }

    /// Calls tool `name` on the server's backend; see ``MCPBackend/callTool(name:arguments:deadline:progress:logger:)``.
    public func callTool(
        on definition: MCPServerDefinition,
        name: String,
        arguments: JSONValue = [:],
        deadline: ContinuousClock.Instant? = nil,
        progress: MCPProgressHandler? = nil,
        logger: Logger? = nil
    ) async throws(MCPClientError) -> JSONValue {
        try await backend(for: definition).callTool(name: name, arguments: arguments, deadline: deadline, progress: progress, logger: logger)
    }

    /// Shuts every backend down and closes the HTTP client; later requests fail with
    /// ``MCPClientError/Code/shutdown``. Safe to call more than once.
    public func shutdown() async {
        let (backends, retiring, first) = state.withLock { state in
            let first = !state.shutDown
            state.shutDown = true
            defer {
                state.entries.removeAll()
                state.cache.removeAll()
                state.retiring.removeAll()
            }
            return (state.entries.values.map(\.backend), Array(state.retiring.values), first)
        }
        guard first else { return }
        logger.info("MCP backends shutting down", metadata: ["count": "\(backends.count)"])
        await withDiscardingTaskGroup { group in
            for backend in backends { group.addTask { await backend.shutdown() } }
            for task in retiring { group.addTask { await task.value } }
        }
        do {
            try await httpClient.shutdown()
        } catch {
            logger.warning("HTTP client shutdown failed", metadata: [LogKeys.error: "\(error)"])
        }
    }

    private func retired(serial: Int) {
        _ = state.withLock { $0.retiring.removeValue(forKey: serial) }
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return seconds > 0 ? .max : .min }
        return product + attoseconds / 1_000_000_000
    }
}
