import Logging
import Shared

/// The ingress's own settings (HTTP listener, limits, deadlines). The broker, the signing key
/// and authentication have their own configuration types.
public struct IngressConfiguration: Sendable {
    /// `INGRESS_HOST` (default `0.0.0.0`) and `INGRESS_PORT` (default 8080).
    public var host = "0.0.0.0"
    public var port = 8080
    /// `INGRESS_METRICS_PORT` (default unset): when set, `/metrics` is served only on this port
    /// (same host), by a second small HTTP application, and no longer on the public port.
    /// `/healthz` and `/readyz` stay on the public port for the probes.
    public var metricsPort: Int?
    /// `INGRESS_MAX_BODY_BYTES` (default 1 MiB): larger request bodies get 413.
    public var maxBodyBytes = 1 << 20
    /// `CALL_DEFAULT_TIMEOUT_MS` (default 30 s): a call's deadline when the client names none.
    public var defaultTimeout: Duration = .seconds(30)
    /// `CALL_MAX_TIMEOUT_MS` (default 300 s): the longest deadline a client may ask for.
    public var maxTimeout: Duration = .seconds(300)
    /// `LIST_TIMEOUT_MS` (default 10 s): deadline of server and tool listings.
    public var listTimeout: Duration = .seconds(10)
    /// `INGRESS_SHUTDOWN_GRACE_MS` (default 30 s): how long in-flight calls may finish after SIGTERM.
    public var shutdownGrace: Duration = .seconds(30)
    /// `INGRESS_IDLE_TIMEOUT_MS` (default 75 s): a kept-alive connection with no request is closed
    /// after this. Longer than the 60 s idle timeout of common client pools (AsyncHTTPClient,
    /// nginx's upstreams), so that the client, not the server, closes an idle connection: a server
    /// closing one as the client reuses it would reset a request.
    public var idleTimeout: Duration = .seconds(75)
    /// `INGRESS_HEADER_READ_TIMEOUT_MS` (default 10 s): a new connection must send a complete request head within this.
    public var headerReadTimeout: Duration = .seconds(10)
    /// `INGRESS_BODY_READ_TIMEOUT_MS` (default 30 s): a request body must arrive in full within this after its head.
    public var bodyReadTimeout: Duration = .seconds(30)
    /// `INGRESS_MAX_CONNECTIONS` (default 10000): open connections beyond this are closed at once.
    public var maxConnections = 10_000
    /// `INGRESS_ACCESS_LOG_LEVEL` (default `info`): the level of the one access-log line per
    /// request (`none` writes none). Probes log at `debug`, 5xx answers at `warning` at least.
    public var accessLogLevel: Logger.Level? = .info
    /// `SERVICE_NAME`: reported in logs and as the AMQP connection name.
    public var serviceName = "mcp-ingress"

    public init() {}

    public init(environment: EnvironmentReader) throws(ConfigurationError) {
        host = environment.string("INGRESS_HOST", default: host)
        port = try environment.int("INGRESS_PORT", default: port, range: 0...65535)
        if environment.string("INGRESS_METRICS_PORT") != nil {
            let metrics = try environment.int("INGRESS_METRICS_PORT", default: 0, range: 0...65535)
            guard metrics == 0 || metrics != port else {
                throw ConfigurationError(variable: "INGRESS_METRICS_PORT", reason: "must differ from INGRESS_PORT (\(port))")
            }
            metricsPort = metrics
        }
        maxBodyBytes = try environment.int("INGRESS_MAX_BODY_BYTES", default: maxBodyBytes, range: 1024...(64 << 20))
        defaultTimeout = try environment.milliseconds("CALL_DEFAULT_TIMEOUT_MS", default: defaultTimeout, range: 100...3_600_000)
        maxTimeout = try environment.milliseconds("CALL_MAX_TIMEOUT_MS", default: maxTimeout, range: 100...3_600_000)
        listTimeout = try environment.milliseconds("LIST_TIMEOUT_MS", default: listTimeout, range: 100...600_000)
        shutdownGrace = try environment.milliseconds("INGRESS_SHUTDOWN_GRACE_MS", default: shutdownGrace, range: 0...3_600_000)
        idleTimeout = try environment.milliseconds("INGRESS_IDLE_TIMEOUT_MS", default: idleTimeout, range: 100...3_600_000)
        headerReadTimeout = try environment.milliseconds("INGRESS_HEADER_READ_TIMEOUT_MS", default: headerReadTimeout, range: 100...600_000)
        bodyReadTimeout = try environment.milliseconds("INGRESS_BODY_READ_TIMEOUT_MS", default: bodyReadTimeout, range: 100...3_600_000)
        maxConnections = try environment.int("INGRESS_MAX_CONNECTIONS", default: maxConnections, range: 1...1_000_000)
        serviceName = environment.string("SERVICE_NAME", default: serviceName)
        if let level = environment.string("INGRESS_ACCESS_LOG_LEVEL")?.lowercased() {
            guard level == "none" || Logger.Level(rawValue: level) != nil else {
                throw ConfigurationError(variable: "INGRESS_ACCESS_LOG_LEVEL", reason: "must be none, trace, debug, info, notice, warning, error or critical")
            }
            accessLogLevel = Logger.Level(rawValue: level)
        }
        guard defaultTimeout <= maxTimeout else {
            throw ConfigurationError(variable: "CALL_DEFAULT_TIMEOUT_MS", reason: "must not exceed CALL_MAX_TIMEOUT_MS")
        }
    }

    /// The deadline for a call: the client's requested timeout if it asked for one (capped at
    /// the maximum), else the default.
    public func timeout(requestedMilliseconds: Int?) -> Duration {
        guard let requestedMilliseconds, requestedMilliseconds > 0 else { return defaultTimeout }
        return min(.milliseconds(requestedMilliseconds), maxTimeout)
    }
}
