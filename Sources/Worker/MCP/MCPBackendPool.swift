import AsyncHTTPClient
import Logging
import NIOCore
import ServiceLifecycle
import Shared
import Synchronization

/// All of a worker's MCP backends: one ``MCPBackend`` per server id, made on first use, and the
/// last known tool list of each (served while a fresh one is fetched, or when the server fails).
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
        /// The one tool-list fetch in flight for this backend.
        var refresh = SingleFlight<[JSONValue]>()
    }

    private struct CachedTools {
        var serial: Int
        var tools: [JSONValue]
        var fetchedAt: ContinuousClock.Instant
        /// The cache epoch the list belongs to: older than the current one, it is only the last
        /// known list (the server said it changed since).
        var epoch: Int
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var cache: [String: CachedTools] = [:]
        /// Bumped by every invalidation, so that a listing that started before it is not fresh.
        var cacheEpochs: [String: Int] = [:]
        var nextSerial = 0
        var retiring: [Int: Task<Void, Never>] = [:]
        var shutDown = false
    }

    public let configuration: MCPClientConfiguration
    private let httpClient: HTTPClient
    private let logger: Logger
    private let state = Mutex(State())
    private let circuitObserver = Mutex<(@Sendable (String, CircuitBreaker.Phase, String?) -> Void)?>(nil)

    /// Calls `observer` (server id, new phase, the failure that opened it) whenever a backend's
    /// circuit breaker changes phase; the worker records it for `mcpgw servers status`.
    public func observeCircuits(_ observer: @escaping @Sendable (String, CircuitBreaker.Phase, String?) -> Void) {
        circuitObserver.withLock { $0 = observer }
    }

    public init(configuration: MCPClientConfiguration = MCPClientConfiguration(), logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        self.httpClient = HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: HTTPClient.Configuration(
                redirectConfiguration: .disallow,
                timeout: .init(connect: .nanoseconds(configuration.httpConnectTimeout.nanoseconds), read: nil),
                connectionPool: Self.connectionPool(configuration)
            )
        )
    }

    /// A refused or failed connect fails the requests waiting for it at once, instead of being
    /// retried until the connect timeout: a backend that is down answers its callers in
    /// milliseconds, and its circuit breaker (not the HTTP client) decides when to try again.
    private static func connectionPool(_ configuration: MCPClientConfiguration) -> HTTPClient.Configuration.ConnectionPool {
        var pool = HTTPClient.Configuration.ConnectionPool(
            idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: configuration.httpConnectionsPerHost)
        pool.retryConnectionEstablishment = false
        return pool
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
                onToolListChanged: { [weak self] in self?.invalidateTools(poolKey: definition.poolKey, serial: serial) },
                onCircuitChange: { [weak self] phase, failure in
                    guard let observer = self?.circuitObserver.withLock({ $0 }) else { return }
                    observer(definition.id, phase, failure)
                }
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

    /// The server's tools, as fresh as this worker can have them without making the caller wait
    /// for a broken server (stale-while-revalidate):
    ///
    /// - a list fetched less than ``MCPClientConfiguration/toolCacheTTL`` ago, and not since said
    ///   to have changed, is served as it is;
    /// - an older one is served at once while a fresh one is fetched in the background;
    /// - when none is known, or the server said its list changed, the caller waits for the fetch
    ///   until `waitUntil`, and at most `budget` (unless the fetch is a stdio server's first,
    ///   which includes starting its process); if it fails or takes longer, the last known list is
    ///   served (``MCPToolList/staleness`` says why), and with none known the error is thrown;
    /// - while the server's circuit breaker is not closed, nobody waits: the known list is served
    ///   (or ``MCPClientError/Code/circuitOpen`` thrown) and the fetch runs in the background,
    ///   where it is the breaker's probe once the breaker lets one through.
    ///
    /// One fetch runs at a time per backend, whoever asked; it continues after its waiters give up,
    /// for at most ``MCPClientConfiguration/listBudget`` (a stdio server's first listing, which
    /// includes starting the process, gets the server's own timeout if that is longer).
    public func listTools(
        for definition: MCPServerDefinition,
        waitUntil: ContinuousClock.Instant? = nil,
        budget: Duration? = nil,
        logger: Logger? = nil
    ) async throws(MCPClientError) -> MCPToolList {
        let backend = try backend(for: definition)
        let key = definition.poolKey
        let known = state.withLock { state -> (entry: Entry?, cached: CachedTools?, epoch: Int) in
            let entry = state.entries[key]
            let cached = state.cache[key].flatMap { $0.serial == entry?.serial ? $0 : nil }
            return (entry, cached, state.cacheEpochs[key, default: 0])
        }
        guard let entry = known.entry, entry.backend === backend else {
            // Replaced while we looked: ask the backend directly, without caching.
            return MCPToolList(tools: try await backend.listTools(deadline: waitUntil, logger: logger))
        }
        let cached = known.cached
        let changed = cached.map { $0.epoch != known.epoch } ?? true
        if let cached, !changed, cached.fetchedAt.duration(to: .now) < configuration.toolCacheTTL {
            return MCPToolList(tools: cached.tools)
        }
        let refresh: @Sendable () async throws -> [JSONValue] = { [self] in
            try await self.fetchTools(backend: backend, key: key, serial: entry.serial, epoch: known.epoch, firstListing: cached == nil)
        }
        let phase = backend.circuitPhase
        if phase != .closed || (cached != nil && !changed) {
            Task { _ = try? await entry.refresh.run(refresh) }
            if let cached {
                return MCPToolList(tools: cached.tools, staleness: changed || phase != .closed ? Self.staleness(phase) : nil)
            }
            var error = MCPClientError(.circuitOpen, serverID: definition.id, message: "its tools cannot be listed while its circuit breaker is open")
            error.retryAfter = .seconds(1)
            throw error
        }
        var until = waitUntil ?? .now + definition.timeout
        if let budget, !(cached == nil && definition.isStdio) { until = min(until, .now + budget) }
        do {
            let tools = try await withDeadline(until) { try await entry.refresh.run(refresh) }
            return MCPToolList(tools: tools)
        } catch {
            let failure = Self.listingFailure(error, serverID: definition.id)
            if let cached {
                (logger ?? self.logger).warning(
                    "Serving the last known tool list", metadata: [LogKeys.server: "\(definition.id)", LogKeys.error: "\(failure)"])
                return MCPToolList(tools: cached.tools, staleness: "its latest tool list could not be fetched (\(failure.code))")
            }
            throw failure
        }
    }

    private static func staleness(_ phase: CircuitBreaker.Phase) -> String {
        phase == .closed ? "it said its tool list changed; the new list is being fetched" : "it is failing (circuit breaker \(phase.rawValue)); this is its last known tool list"
    }

    private static func listingFailure(_ error: any Error, serverID: String) -> MCPClientError {
        if let error = error as? MCPClientError { return error }
        if error is DeadlineExceeded {
            return MCPClientError(.timeout, serverID: serverID, message: "its tools were not listed within the listing's time budget")
        }
        return MCPClientError(.cancelled, serverID: serverID, message: "the listing was cancelled")
    }

    /// One fetch of a backend's tool list, cached when nothing was invalidated meanwhile.
    private func fetchTools(backend: MCPBackend, key: String, serial: Int, epoch: Int, firstListing: Bool) async throws -> [JSONValue] {
        var budget = configuration.listBudget
        if firstListing, backend.definition.isStdio { budget = max(budget, backend.definition.timeout) }
        let tools = try await backend.listTools(deadline: .now + budget)
        state.withLock { state in
            guard state.entries[key]?.serial == serial else { return }
            // Fetched before an invalidation: kept as the last known list, but not as a fresh one.
            let current = state.cacheEpochs[key, default: 0]
            state.cache[key] = CachedTools(serial: serial, tools: tools, fetchedAt: .now, epoch: current == epoch ? epoch : current - 1)
        }
        return tools
    }

    /// Marks the cached tool lists of `serverID` as changed, for every tenant's backend of it: the
    /// next ``listTools(for:waitUntil:logger:)`` asks the server, and serves the old list only if
    /// the server cannot answer.
    public func invalidateTools(serverID: String) {
        state.withLock { state in
            let keys = Set(state.cache.keys).union(state.cacheEpochs.keys).union(state.entries.keys)
            for key in keys where key == serverID || key.hasPrefix(serverID + MCPServerDefinition.poolKeySeparator) {
                state.cacheEpochs[key, default: 0] += 1
            }
        }
    }

    private func invalidateTools(poolKey: String, serial: Int) {
        state.withLock { state in
            guard state.entries[poolKey]?.serial == serial else { return }
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

extension MCPServerDefinition {
    var isStdio: Bool {
        if case .stdio = transport { return true }
        return false
    }
}

/// A server's tools as a worker knows them.
public struct MCPToolList: Sendable {
    public var tools: [JSONValue]
    /// Why the list may be out of date (the server is failing, or changed and the new list is
    /// not in yet); nil for a list the server gave recently.
    public var staleness: String?

    public init(tools: [JSONValue], staleness: String? = nil) {
        self.tools = tools
        self.staleness = staleness
    }
}
