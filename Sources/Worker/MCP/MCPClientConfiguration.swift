import Shared

/// Settings of the worker's MCP client, shared by all backends. Defaults suit production;
/// ``init(environment:)`` reads overrides from `MCP_*` variables.
public struct MCPClientConfiguration: Sendable, Hashable {
    /// How long a server's tool list is served from cache (`MCP_TOOL_CACHE_TTL_MS`, default 60 s).
    /// A `notifications/tools/list_changed` from the server drops it sooner.
    public var toolCacheTTL: Duration = .seconds(60)
    /// The largest JSON-RPC message accepted from a server (`MCP_MAX_MESSAGE_BYTES`, default 16 MiB).
    public var maximumMessageBytes: Int = 16 * 1024 * 1024
    /// The wait before restarting a stdio server that died (`MCP_STDIO_RESTART_BACKOFF_MS`,
    /// default 500 ms), doubled for each further death in a row.
    public var stdioRestartBackoff: Duration = .milliseconds(500)
    /// The longest that wait gets (`MCP_STDIO_RESTART_BACKOFF_MAX_MS`, default 30 s).
    public var stdioRestartBackoffMaximum: Duration = .seconds(30)
    /// A stdio server that ran this long before dying restarts without delay (default 60 s).
    public var stdioRestartResetAfter: Duration = .seconds(60)
    /// At shutdown, how long a stdio server gets after stdin is closed, and again after SIGTERM,
    /// before SIGKILL (`MCP_STDIO_SHUTDOWN_GRACE_MS`, default 2 s).
    public var stdioShutdownGrace: Duration = .seconds(2)
    /// HTTP/1.1 connections per backend host (`MCP_HTTP_CONNECTIONS_PER_HOST`, default 64): each
    /// call in flight holds one, and so does each legacy SSE stream.
    public var httpConnectionsPerHost: Int = 64
    /// TCP (and TLS) connect timeout for HTTP backends (`MCP_HTTP_CONNECT_TIMEOUT_MS`, default 10 s).
    public var httpConnectTimeout: Duration = .seconds(10)
    /// Failures in a row (unreachable, broken connection, no answer in time) after which a
    /// backend's circuit breaker opens (`MCP_BREAKER_FAILURES`, default 5; 0 turns it off).
    public var breakerFailureThreshold: Int = 5
    /// How long an opened breaker refuses calls before one probe goes through
    /// (`MCP_BREAKER_OPEN_MS`, default 5 s), doubled after each failed probe up to
    /// `MCP_BREAKER_OPEN_MAX_MS` (default 60 s).
    public var breakerOpenDuration: Duration = .seconds(5)
    public var breakerMaximumOpenDuration: Duration = .seconds(60)
    /// The longest a listing waits for one server's tool list when none is known yet or the
    /// server said it changed (`MCP_LIST_BUDGET_MS`, default 5 s; never more than three quarters
    /// of the listing's own time left). A server that takes longer is left out of that listing
    /// while its list is fetched on, and a known list is served meanwhile.
    public var listBudget: Duration = .seconds(5)

    var breakerPolicy: CircuitBreaker.Policy {
        CircuitBreaker.Policy(
            failureThreshold: breakerFailureThreshold, openDuration: breakerOpenDuration,
            maximumOpenDuration: max(breakerOpenDuration, breakerMaximumOpenDuration))
    }

    public init() {}

    public init(environment: EnvironmentReader) throws(ConfigurationError) {
        toolCacheTTL = try environment.milliseconds("MCP_TOOL_CACHE_TTL_MS", default: toolCacheTTL, range: 0...86_400_000)
        maximumMessageBytes = try environment.int("MCP_MAX_MESSAGE_BYTES", default: maximumMessageBytes, range: 1024...1_073_741_824)
        stdioRestartBackoff = try environment.milliseconds("MCP_STDIO_RESTART_BACKOFF_MS", default: stdioRestartBackoff, range: 0...600_000)
        stdioRestartBackoffMaximum = try environment.milliseconds(
            "MCP_STDIO_RESTART_BACKOFF_MAX_MS",
            default: stdioRestartBackoffMaximum,
            range: 0...3_600_000
        )
        stdioShutdownGrace = try environment.milliseconds("MCP_STDIO_SHUTDOWN_GRACE_MS", default: stdioShutdownGrace, range: 0...600_000)
        httpConnectionsPerHost = try environment.int("MCP_HTTP_CONNECTIONS_PER_HOST", default: httpConnectionsPerHost, range: 1...10_000)
        httpConnectTimeout = try environment.milliseconds("MCP_HTTP_CONNECT_TIMEOUT_MS", default: httpConnectTimeout, range: 1...600_000)
        breakerFailureThreshold = try environment.int("MCP_BREAKER_FAILURES", default: breakerFailureThreshold, range: 0...10_000)
        breakerOpenDuration = try environment.milliseconds("MCP_BREAKER_OPEN_MS", default: breakerOpenDuration, range: 10...3_600_000)
        breakerMaximumOpenDuration = try environment.milliseconds(
            "MCP_BREAKER_OPEN_MAX_MS", default: breakerMaximumOpenDuration, range: 10...86_400_000)
        listBudget = try environment.milliseconds("MCP_LIST_BUDGET_MS", default: listBudget, range: 10...600_000)
    }
}
