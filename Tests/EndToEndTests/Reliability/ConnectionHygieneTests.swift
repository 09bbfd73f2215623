import Foundation
import Ingress
import Shared
import TestSupport
import Testing

/// Slow or silent clients cannot hold the ingress: connections that send nothing, a header a
/// byte at a time, or a body that never ends are closed, connections beyond the limit are
/// closed at once, and the ingress keeps answering everyone else meanwhile.
@Suite struct ConnectionHygieneTests {
    /// A raw TCP connection to the ingress, for clients no HTTP library would imitate.
    final class RawConnection {
        let fd: Int32
        private var open = true

        init(port: Int) throws {
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            let connected = MCPTestEnvironment.withLoopbackAddress(port: port) { [fd] in connect(fd, $0, $1) == 0 }
            try #require(connected, "cannot connect to 127.0.0.1:\(port)")
        }

        deinit { close() }

        func close() {
            guard open else { return }
            open = false
            _ = Foundation.close(fd)
        }

        func send(_ text: String) {
            _ = text.withCString { Foundation.send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        }

        /// Whether the server has closed the connection (end of stream or reset); whatever it
        /// sent before closing (an HTTP error for a malformed head) is read and dropped.
        var isClosedByServer: Bool {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let read = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
                if read > 0 { continue }
                return read == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)
            }
        }
    }

    @Test func silentAndSlowClientsAreClosedWhileOthersAreServed() async throws {
        var options = GatewayHarness.Options()
        options.ingress = { configuration in
            configuration.headerReadTimeout = .milliseconds(500)
            configuration.bodyReadTimeout = .milliseconds(500)
            configuration.idleTimeout = .seconds(2)
        }
        try await GatewayHarness.run(options) { gateway in
            let silent = try (0..<40).map { _ in try RawConnection(port: gateway.port) }
            let slowHeader = try (0..<5).map { _ in try RawConnection(port: gateway.port) }
            let slowBody = try (0..<5).map { _ in try RawConnection(port: gateway.port) }
            // A route that reads its body (a tool call, authenticated), sent a body that never ends.
            let token = gateway.token(groups: ["Team"])
            for connection in slowBody {
                connection.send("POST /servers/echo/tools/echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token)\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"te")
            }
            // A header a byte at a time, and the others served meanwhile.
            let started = ContinuousClock.now
            var served = 0
            while slowHeader.contains(where: { !$0.isClosedByServer }) && started.duration(to: .now) < .seconds(15) {
                for connection in slowHeader { connection.send("G") }
                if try await gateway.get("/healthz", token: nil).status == 200 { served += 1 }
                try await Task.sleep(for: .milliseconds(100))
            }
            let slowHeadersClosed = slowHeader.allSatisfy(\.isClosedByServer)
            #expect(slowHeadersClosed, "a client sending its header a byte at a time is closed")
            #expect(served > 0)
            let closed = try await eventually(timeout: .seconds(15)) { () -> Bool? in
                silent.allSatisfy(\.isClosedByServer) && slowBody.allSatisfy(\.isClosedByServer) ? true : nil
            }
            #expect(closed, "silent clients and unfinished bodies are closed")
            #expect(try await gateway.get("/healthz", token: nil).status == 200)
        }
    }

    @Test func connectionsBeyondTheLimitAreClosedAtOnce() async throws {
        var options = GatewayHarness.Options()
        options.ingress = { configuration in
            configuration.maxConnections = 20
            configuration.headerReadTimeout = .seconds(60)
        }
        try await GatewayHarness.run(options) { gateway in
            let held = try (0..<20).map { _ in try RawConnection(port: gateway.port) }
            try await Task.sleep(for: .milliseconds(300))
            let extra = try (0..<5).map { _ in try RawConnection(port: gateway.port) }
            // Bounds for a loaded machine (the suite runs tests in parallel): "at once" is the
            // server's doing; when the client sees it depends on scheduling.
            let refused = try await eventually(timeout: .seconds(30)) { () -> Bool? in extra.allSatisfy(\.isClosedByServer) ? true : nil }
            #expect(refused, "connections beyond INGRESS_MAX_CONNECTIONS are closed")
            let closedWithinLimit = held.filter(\.isClosedByServer).count
            #expect(closedWithinLimit == 0, "connections within the limit are kept")
            // Freeing connections makes room again.
            for connection in held { connection.close() }
            let back = try await eventually(timeout: .seconds(30)) { () -> Bool? in
                (try? await gateway.get("/healthz", token: nil))?.status == 200 ? true : nil
            }
            #expect(back)
        }
    }
}
