import Foundation
import Prometheus
import Shared
import Synchronization

/// The ingress's Prometheus metrics: requests by route and status, call latency by kind, and
/// calls in flight. The registry is owned here (not the process-global metrics system), so
/// tests can build as many applications as they like.
public final class IngressMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let inFlight: Gauge
    private let inFlightCount = Atomic<Int>(0)
    private let latency: [CallKind: DurationHistogram]

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        inFlight = registry.makeGauge(
            descriptor: .init(namespace: "mcpgw", subsystem: "ingress", metricName: "calls_in_flight", unitName: "", helpText: "Calls sent to the broker and not yet answered")
        )
        let buckets: [Duration] = [
            .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30), .seconds(60),
        ]
        var latency: [CallKind: DurationHistogram] = [:]
        for kind in CallKind.allCases {
            latency[kind] = registry.makeDurationHistogram(
                descriptor: .init(namespace: "mcpgw", subsystem: "ingress", metricName: "call_duration", unitName: "seconds", helpText: "Time from publishing a call to its reply"),
                labels: [("kind", kind.rawValue)], buckets: buckets
            )
        }
        self.latency = latency
    }

    func callStarted() {
        inFlight.set(Double(inFlightCount.wrappingAdd(1, ordering: .relaxed).newValue))
    }

    func callFinished(kind: CallKind, duration: Duration) {
        inFlight.set(Double(inFlightCount.wrappingSubtract(1, ordering: .relaxed).newValue))
        latency[kind]?.record(duration)
    }

    func requestFinished(route: String, method: String, status: Int) {
        registry.makeCounter(
            descriptor: .init(namespace: "mcpgw", subsystem: "ingress", metricName: "http_requests", unitName: "total", helpText: "HTTP requests by route and status"),
            labels: [("route", route), ("method", method), ("status", String(status))]
        ).increment()
    }

    /// The Prometheus text exposition of every metric.
    public func exposition() -> String {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}
