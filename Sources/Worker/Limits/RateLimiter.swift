import Foundation
import Logging
import Shared
import Synchronization

/// Holds every call to the rate limits and concurrency quotas in `rate_limits`, across all
/// workers: the counters live in PostgreSQL (a GCRA token bucket per limited key, updated in
/// one statement under the row's lock; running calls counted in the call ledger), so any
/// number of ingress and worker replicas share them.
///
/// The limits themselves are read at most every `refresh` (default 5 s). When PostgreSQL cannot
/// answer a limit check, the call is let through (logged and counted): limits protect capacity,
/// and the call ledger that every call writes refuses calls while the database is down anyway.
public final class RateLimiter: Sendable {
    let database: PostgresClient
    let refresh: Duration
    let logger: Logger
    private let cache = Mutex<(limits: [RateLimit], loadedAt: ContinuousClock.Instant?)>(([], nil))

    public init(database: PostgresClient, refresh: Duration = .seconds(5), logger: Logger) {
        self.database = database
        self.refresh = refresh
        self.logger = logger
    }

    /// Every configured limit (cached for `refresh`).
    func limits() async throws -> [RateLimit] {
        let cached = cache.withLock { $0 }
        if let loadedAt = cached.loadedAt, loadedAt.duration(to: .now) < refresh {
            return cached.limits
        }
        let rows = try await database.query(
            "SELECT scope, subject, server_id, requests_per_minute, burst, max_concurrent FROM rate_limits")
        var limits: [RateLimit] = []
        for row in rows {
            guard let scope = RateLimit.Scope(rawValue: try row.decode(String.self, "scope")) else { continue }
            limits.append(
                RateLimit(
                    scope: scope, subject: try row.decode(String.self, "subject"), server: try row.decode(String.self, "server_id"),
                    requestsPerMinute: try row.decode(Int?.self, "requests_per_minute"), burst: try row.decode(Int?.self, "burst"),
                    maxConcurrent: try row.decode(Int?.self, "max_concurrent")))
        }
        cache.withLock { $0 = (limits, .now) }
        return limits
    }

    /// The limits that apply to a call by `principal` (in `tenant`) on `server`.
    public func applicable(principal: Principal, tenant: String?, server: String) async throws -> [(limit: RateLimit, subject: String)] {
        let limits = try await limits()
        var found: [(RateLimit, String)] = []
        let user = RateLimit.userSubject(principal)
        if let limit = RateLimit.applicable(limits, scope: .user, subject: user, server: server) { found.append((limit, user)) }
        if let tenant, let limit = RateLimit.applicable(limits, scope: .tenant, subject: tenant, server: server) { found.append((limit, tenant)) }
        return found
    }

    /// Admits the call `callID` (already claimed in the ledger) or throws ``GatewayErrorCode/rateLimited``.
    func admit(callID: String, principal: Principal, tenant: String?, server: String, metrics: WorkerMetrics?) async throws(GatewayError) {
        do {
            for (limit, subject) in try await applicable(principal: principal, tenant: tenant, server: server) {
                if let rate = limit.requestsPerMinute, let refusal = try await take(limit, rate: rate, subject: subject) {
                    metrics?.rateLimited(scope: limit.scope.rawValue)
                    throw refusal
                }
                if let quota = limit.maxConcurrent, let refusal = try await checkConcurrency(limit, quota: quota, subject: subject, callID: callID, principal: principal) {
                    metrics?.rateLimited(scope: "\(limit.scope.rawValue)-concurrency")
                    throw refusal
                }
            }
        } catch let error as GatewayError {
            throw error
        } catch {
            metrics?.rateLimitCheckFailed()
            logger.warning("Rate limits could not be checked; the call goes ahead", metadata: [LogKeys.callID: "\(callID)", LogKeys.error: "\(error)"])
        }
    }

    /// One GCRA step: the call fits when the bucket's theoretical arrival time is at most the
    /// burst's tolerance ahead of now, and then moves it one interval on.
    private func take(_ limit: RateLimit, rate: Int, subject: String) async throws -> GatewayError? {
        let interval = 60_000.0 / Double(rate)
        let burst = max(1, limit.burst ?? rate)
        let tolerance = interval * Double(burst - 1)
        let key = limit.bucketKey(subject: subject)
        let taken = try await database.query(
            """
            INSERT INTO rate_limit_buckets AS b (key, tat) VALUES (\(key), clock_timestamp() + \(interval) * interval '1 millisecond')
            ON CONFLICT (key) DO UPDATE SET tat = greatest(b.tat, clock_timestamp()) + \(interval) * interval '1 millisecond'
                WHERE greatest(b.tat, clock_timestamp()) <= clock_timestamp() + \(tolerance) * interval '1 millisecond'
            RETURNING key
            """)
        if !taken.isEmpty { return nil }
        let waiting = try await database.query(
            "SELECT greatest(extract(epoch FROM tat - clock_timestamp()) * 1000 - \(tolerance), 0) AS wait_ms FROM rate_limit_buckets WHERE key = \(key)")
        let waitMilliseconds = try waiting.first.map { try $0.decode(Double.self, "wait_ms") } ?? interval
        let seconds = max(1, Int((waitMilliseconds / 1000).rounded(.up)))
        let policy = limit.scope.rawValue
        return GatewayError(
            .rateLimited,
            "too many calls: the \(policy == "user" ? "user" : "tenant") limit is \(rate) per minute\(limit.server == RateLimit.everyone ? "" : " on '\(limit.server)'"); try again in \(seconds) s (nothing was run)",
            detail: "bucket \(key)", retryAfter: seconds,
            rateLimit: RateLimitState(policy: policy, quota: burst, windowSeconds: Int((Double(burst) * interval / 1000).rounded(.up)), remaining: 0, resetSeconds: seconds)
        )
    }

    /// Counts the calls of this user (or tenant) that are running now, this one included.
    private func checkConcurrency(_ limit: RateLimit, quota: Int, subject: String, callID: String, principal: Principal) async throws -> GatewayError? {
        let running: PostgresRows
        let serverFilter = limit.server == RateLimit.everyone ? nil : limit.server
        switch limit.scope {
        case .user:
            running = try await database.query(
                """
                SELECT count(*) AS n FROM call_executions
                WHERE caller_sub = \(principal.subject) AND caller_tid = \(principal.tenantID) AND finished_at IS NULL AND deadline > now()
                    AND (\(serverFilter)::text IS NULL OR server_id = \(serverFilter))
                """)
        case .tenant:
            _ = try await database.execute("UPDATE call_executions SET tenant_id = \(subject) WHERE call_id = \(callID)::uuid")
            running = try await database.query(
                """
                SELECT count(*) AS n FROM call_executions
                WHERE tenant_id = \(subject) AND finished_at IS NULL AND deadline > now()
                    AND (\(serverFilter)::text IS NULL OR server_id = \(serverFilter))
                """)
        }
        let count = try running.first.map { try $0.decode(Int.self, "n") } ?? 0
        guard count > quota else { return nil }
        let policy = "\(limit.scope.rawValue)-concurrency"
        return GatewayError(
            .rateLimited, "too many calls at once: at most \(quota) may run at a time for this \(limit.scope.rawValue); try again when one has finished (nothing was run)",
            detail: "\(count) running", retryAfter: 1,
            rateLimit: RateLimitState(policy: policy, quota: quota, windowSeconds: nil, remaining: 0, resetSeconds: 1)
        )
    }
}
