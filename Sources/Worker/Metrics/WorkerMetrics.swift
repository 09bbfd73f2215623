import Foundation
import Prometheus
import Shared

/// The worker's Prometheus metrics: deliveries by queue and disposition, and processing time.
public final class WorkerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let duration: DurationHistogram

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        duration = registry.makeDurationHistogram(
            descriptor: .init(namespace: "mcpgw", subsystem: "worker", metricName: "processing_duration", unitName: "seconds", helpText: "Time to process one request delivery"),
            buckets: [
                .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(50), .milliseconds(100), .milliseconds(500), .seconds(1),
                .seconds(5), .seconds(10), .seconds(30), .seconds(60),
            ]
        )
    }

    func processed(queue: String, disposition: RequestProcessor.Disposition, duration: Duration) {
        let outcome: String
        switch disposition {
        case .ack: outcome = "ack"
        case .deadLetter: outcome = "dead_letter"
        }
        registry.makeCounter(
            descriptor: .init(namespace: "mcpgw", subsystem: "worker", metricName: "deliveries", unitName: "total", helpText: "Request deliveries processed"),
            labels: [("server", queue), ("disposition", outcome)]
        ).increment()
        self.duration.record(duration)
    }

    /// `mcpgw_worker_calls_total`: answers sent, by server, call kind and outcome (`ok`, or the
    /// error code: `forbidden`, `backend_error`, `deadline_exceeded`…); and
    /// `mcpgw_worker_ledger_answers_total`: those sent again from the call ledger (a redelivery
    /// or an idempotent retry of a call that had already run).
    func answered(server: String, kind: CallKind, outcome: String, fromLedger: Bool) {
        registry.makeCounter(
            descriptor: .init(namespace: "mcpgw", subsystem: "worker", metricName: "calls", unitName: "total", helpText: "Calls answered, by outcome (ok or the error code)"),
            labels: [("server", server), ("kind", kind.rawValue), ("outcome", outcome)]
        ).increment()
        guard fromLedger else { return }
        registry.makeCounter(
            descriptor: .init(
                namespace: "mcpgw", subsystem: "worker", metricName: "ledger_answers", unitName: "total",
                helpText: "Repeated calls answered from the call ledger, not run again"
            ),
            labels: [("server", server)]
        ).increment()
    }

    /// An outcome record the broker never confirmed (after retrying): the audit stream misses it.
    func auditPublishFailed() {
        registry.makeCounter(
            descriptor: .init(
                namespace: "mcpgw", subsystem: "worker", metricName: "audit_publish_failures", unitName: "total",
                helpText: "Outcome records not confirmed by the broker after retrying"
            )
        ).increment()
    }

    /// A call refused by a rate limit or concurrency quota (`scope`: user, tenant, user-concurrency, tenant-concurrency).
    func rateLimited(scope: String) {
        registry.makeCounter(
            descriptor: .init(namespace: "mcpgw", subsystem: "worker", metricName: "rate_limited", unitName: "total", helpText: "Calls refused by a rate limit or quota"),
            labels: [("scope", scope)]
        ).increment()
    }

    /// A limit check PostgreSQL could not answer (the call went ahead).
    func rateLimitCheckFailed() {
        registry.makeCounter(
            descriptor: .init(
                namespace: "mcpgw", subsystem: "worker", metricName: "rate_limit_check_failures", unitName: "total",
                helpText: "Rate limit checks that failed, letting the call through"
            )
        ).increment()
    }

    public func exposition() -> String {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}
