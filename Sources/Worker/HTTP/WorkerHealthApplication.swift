import Foundation
import Hummingbird
import Logging
import Shared

/// The worker's small HTTP port: `/healthz`, `/readyz` (start-up checks passed and consuming,
/// both broker connections up and PostgreSQL answering), `/metrics`.
enum WorkerHealthApplication {
    static func build(
        configuration: WorkerConfiguration, consumer: AMQPConnection, publisher: AMQPConnection, database: PostgresClient,
        metrics: WorkerMetrics, service: WorkerService, logger: Logger
    ) -> some ApplicationProtocol {
        let router = Router()
        router.get("healthz") { _, _ in Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ok"}"#))) }
        router.get("readyz") { _, _ -> Response in
            let brokerUp = consumer.status.connected && publisher.status.connected
            let databaseUp = (try? await database.query("SELECT 1 AS ok")) != nil
            let started = service.isConsuming
            let ready = brokerUp && databaseUp && started
            let body = #"{"status":"\#(ready ? "ready" : "not ready")","started":\#(started),"broker":"\#(brokerUp ? "connected" : "disconnected")","database":"\#(databaseUp ? "reachable" : "unreachable")"}"#
            return Response(
                status: ready ? .ok : .serviceUnavailable, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body))
            )
        }
        router.get("metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(string: metrics.exposition())))
        }
        return Application(
            router: router, configuration: .init(address: .hostname(configuration.healthHost, port: configuration.healthPort), serverName: "mcp-worker"),
            logger: logger
        )
    }
}
