import Foundation
import Shared

/// The worker's own settings. The broker, the database, the signing key and the MCP client
/// have their own configuration types.
public struct WorkerConfiguration: Sendable {
    /// `WORKER_ID` (default: host name and process id): names this worker in replies, the
    /// audit record and the call ledger.
    public var workerID: String
    /// `WORKER_CONCURRENCY` (default 8): the prefetch of each request queue, so at most this
    /// many calls per server run at once on this worker.
    public var concurrency = 8
    /// `WORKER_SERVERS` (comma-separated ids; default: every enabled server in the catalog).
    public var servers: [String] = []
    /// `WORKER_CATALOG_REFRESH_MS` (default 10 s): how often the catalog is re-read to start
    /// consuming newly added servers.
    public var catalogRefresh: Duration = .seconds(10)
    /// `WORKER_SHUTDOWN_GRACE_MS` (default 30 s): how long in-flight calls may finish after SIGTERM.
    public var shutdownGrace: Duration = .seconds(30)
    /// `WORKER_HEALTH_HOST` / `WORKER_HEALTH_PORT` (default 0.0.0.0:9090): `/healthz`, `/readyz`, `/metrics`.
    public var healthHost = "0.0.0.0"
    public var healthPort = 9090
    /// `AUTHZ_CACHE_TTL_MS` (default 60 s): the longest a cached grant set or credential is
    /// used. Changes normally apply at once through PostgreSQL `NOTIFY`; this is the safety net.
    public var authorizationCacheTTL: Duration = .seconds(60)
    /// `CALL_MIN_START_BUDGET_MS` (default 50 ms): a backend call does not start with less time
    /// than this left before its deadline (it fails `deadline_exceeded`, not run), so that a
    /// cancellation never races a call the backend has just begun.
    public var minimumStartBudget: Duration = .milliseconds(50)
    /// `CALL_LEDGER_RETENTION_MS` (default 7 days): how long the call ledger keeps a call (its
    /// stored reply, and so its `Idempotency-Key`: a retry after this runs as a new call).
    public var ledgerRetention: Duration = .seconds(7 * 86_400)
    /// `WORKER_STARTUP_RETRY_MAX_MS` (default 30 s): the longest pause between attempts to reach
    /// the database (and a schema at the version this worker needs) while starting.
    public var startupRetryMaximum: Duration = .seconds(30)

    public init(workerID: String = WorkerConfiguration.defaultWorkerID) {
        self.workerID = workerID
    }

    public init(environment: EnvironmentReader) throws(ConfigurationError) {
        workerID = environment.string("WORKER_ID", default: Self.defaultWorkerID)
        concurrency = try environment.int("WORKER_CONCURRENCY", default: concurrency, range: 1...1000)
        servers = environment.list("WORKER_SERVERS")
        for server in servers where !RequestEnvelope.isValidServerID(server) {
            throw ConfigurationError(variable: "WORKER_SERVERS", reason: "names an invalid server id '\(server)'")
        }
        catalogRefresh = try environment.milliseconds("WORKER_CATALOG_REFRESH_MS", default: catalogRefresh, range: 100...3_600_000)
        shutdownGrace = try environment.milliseconds("WORKER_SHUTDOWN_GRACE_MS", default: shutdownGrace, range: 0...3_600_000)
        healthHost = environment.string("WORKER_HEALTH_HOST", default: healthHost)
        healthPort = try environment.int("WORKER_HEALTH_PORT", default: healthPort, range: 0...65535)
        authorizationCacheTTL = try environment.milliseconds("AUTHZ_CACHE_TTL_MS", default: authorizationCacheTTL, range: 0...86_400_000)
        minimumStartBudget = try environment.milliseconds("CALL_MIN_START_BUDGET_MS", default: minimumStartBudget, range: 0...60_000)
        ledgerRetention = try environment.milliseconds("CALL_LEDGER_RETENTION_MS", default: ledgerRetention, range: 60_000...31_536_000_000)
        startupRetryMaximum = try environment.milliseconds("WORKER_STARTUP_RETRY_MAX_MS", default: startupRetryMaximum, range: 100...600_000)
    }

    public static var defaultWorkerID: String {
        "\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)"
    }
}
