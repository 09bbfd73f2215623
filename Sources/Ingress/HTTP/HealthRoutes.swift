import Hummingbird
import Logging
import Shared

/// `/healthz` (the process answers), `/readyz` (connected to the broker with the topology
/// declared: load balancers send traffic only then), `/metrics` (Prometheus text format), the
/// last unless it has a port of its own (`INGRESS_METRICS_PORT`, see `MetricsRoutes`).
struct HealthRoutes {
    let amqp: AMQPConnection
    let metrics: IngressMetrics
    /// Whether `/metrics` is served here (false when `INGRESS_METRICS_PORT` gives it its own port).
    var servesMetrics = true

    func add(to router: Router<GatewayRequestContext>) {
        router.get("healthz") { _, _ in
            try JSONResponse.make(["status": "ok"])
        }
        router.get("readyz") { _, _ in
            let status = amqp.status
            let ready = status.connected && !status.closed
            var body = ["status": ready ? "ready" : "not ready", "broker": status.connected ? "connected" : "disconnected"]
            if status.blocked { body["broker"] = "blocking publishers" }
            if let lastError = status.lastError, !ready { body["reason"] = lastError }
            return try JSONResponse.make(body, status: ready ? .ok : .serviceUnavailable, headers: ready ? [:] : [.retryAfter: "5"])
        }
        if servesMetrics {
            MetricsRoutes(metrics: metrics).add(to: router)
        }
    }
}

/// `/metrics` alone: on the public router, or on the metrics port's own router.
struct MetricsRoutes {
    let metrics: IngressMetrics

    func add<Context: RequestContext>(to router: Router<Context>) {
        router.get("metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: ByteBuffer(string: metrics.exposition()))
            )
        }
    }
}
