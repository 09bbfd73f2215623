import Hummingbird
import Logging
import Shared

/// `/healthz` (the process answers), `/readyz` (connected to the broker with the topology
/// declared: load balancers send traffic only then), `/metrics` (Prometheus text format).
struct HealthRoutes {
    let amqp: AMQPConnection
    let metrics: IngressMetrics

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
        router.get("metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: ByteBuffer(string: metrics.exposition()))
            )
        }
    }
}
