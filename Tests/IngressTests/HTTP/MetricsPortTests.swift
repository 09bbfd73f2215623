import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Ingress
import Logging
import NIOCore
import ServiceLifecycle
import Shared
import TestSupport
import Testing

/// `INGRESS_METRICS_PORT`: `/metrics` moves to a port of its own (for a ServiceMonitor or a
/// NetworkPolicy that admits only the monitoring namespace) and leaves the public port, while
/// `/healthz` and `/readyz` stay where the probes look for them.
@Suite("Ingress metrics port")
struct MetricsPortTests {
    @Test func unsetKeepsMetricsOnThePublicPort() throws {
        let configuration = try IngressConfiguration(environment: EnvironmentReader([:]))
        #expect(configuration.metricsPort == nil)
        let set = try IngressConfiguration(environment: EnvironmentReader(["INGRESS_PORT": "8080", "INGRESS_METRICS_PORT": "9464"]))
        #expect(set.metricsPort == 9464)
    }

    @Test(arguments: ["8080", "-1", "65536", "metrics", "9464.5"])
    func badValuesAreRefused(_ value: String) {
        do {
            _ = try IngressConfiguration(environment: EnvironmentReader(["INGRESS_PORT": "8080", "INGRESS_METRICS_PORT": value]))
            Issue.record("INGRESS_METRICS_PORT=\(value) was accepted")
        } catch {
            #expect(error.variable == "INGRESS_METRICS_PORT")
        }
    }

    /// Both listeners for real: the public port answers probes but 404s `/metrics`; the metrics
    /// port answers `/metrics` and nothing else. No broker is needed: `/healthz` does not ask it.
    @Test func withAMetricsPortOnlyThatPortServesMetrics() async throws {
        var configuration = IngressConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.metricsPort = 0
        var amqp = try AMQPConfiguration(environment: EnvironmentReader(["AMQP_URL": "amqp://guest:guest@127.0.0.1:1/%2f"]), connectionName: "metrics-port-test")
        amqp.reconnectMinimum = .milliseconds(200)
        amqp.reconnectMaximum = .seconds(1)
        let logger = Self.quietLogger
        let components = IngressComponents(
            configuration: configuration, amqpConfiguration: amqp, topology: try GatewayTopology(environment: EnvironmentReader([:])),
            signer: EnvelopeSigner(currentKeyID: "test", currentKey: SymmetricKey(size: .bits256)), authenticator: RefuseEveryone(), logger: logger
        )
        let (ports, continuation) = AsyncStream.makeStream(of: (String, Int).self)
        let application = components.buildApplication(
            logger: logger,
            onServerRunning: { continuation.yield(("public", $0.localAddress?.port ?? 0)) },
            onMetricsServerRunning: { continuation.yield(("metrics", $0.localAddress?.port ?? 0)) }
        )
        let group = ServiceGroup(services: [application], logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var bound: [String: Int] = [:]
            for await (name, port) in ports {
                bound[name] = port
                if bound.count == 2 { break }
            }
            let publicPort = try #require(bound["public"])
            let metricsPort = try #require(bound["metrics"])
            #expect(publicPort != metricsPort)
            let (health, publicMetrics) = try await TestClient.withClient(host: "127.0.0.1", port: publicPort) { client in
                (try await client.get("/healthz").status, try await client.get("/metrics").status)
            }
            #expect(health == .ok)
            #expect(publicMetrics == .notFound)
            let (metrics, contentType, metricsHealth, servers) = try await TestClient.withClient(host: "127.0.0.1", port: metricsPort) { client in
                let metrics = try await client.get("/metrics")
                return (
                    metrics.status, metrics.headers[.contentType] ?? "", try await client.get("/healthz").status,
                    try await client.get("/servers").status
                )
            }
            #expect(metrics == .ok)
            #expect(contentType.hasPrefix("text/plain"))
            #expect(metricsHealth == .notFound)
            #expect(servers == .notFound)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    static var quietLogger: Logger {
        var logger = Logger(label: "metrics-port-test")
        logger.logLevel = ProcessInfo.processInfo.environment["TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        return logger
    }
}

private struct RefuseEveryone: RequestAuthenticator {
    func authenticate(headers: HTTPFields, callID: String) async throws(GatewayHTTPError) -> Principal {
        throw GatewayHTTPError(status: .unauthorized, code: "unauthenticated", message: "no", callID: callID)
    }
}
