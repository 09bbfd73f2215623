import CoreMetrics
import Prometheus

/// The process's one metrics backend: a Prometheus registry that swift-metrics records into,
/// so that what any library or our own code records (`Counter`, `Timer`…, such as
/// `mcp_client_requests_total`) is on the process's `/metrics` beside the series our components
/// register on the same registry directly.
public enum ProcessMetrics {
    /// Bootstraps swift-metrics with a Prometheus factory over the process's registry (once:
    /// swift-metrics refuses a second bootstrap, so later calls only return it), and returns
    /// that registry, which the process's components then register their own series on. Called
    /// from the servers' `run`; tests give each component a registry of its own instead.
    public static func bootstrap() -> PrometheusCollectorRegistry {
        registry
    }

    private static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // swift-metrics `Timer`s become histograms in seconds, with the buckets our own latency
        // histograms use, from 1 ms to a minute.
        factory.defaultDurationHistogramBuckets = latencyBuckets
        MetricsSystem.bootstrap(factory)
        return registry
    }()

    /// Latency buckets shared by every duration histogram of the gateway.
    public static let latencyBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30), .seconds(60),
    ]
}
