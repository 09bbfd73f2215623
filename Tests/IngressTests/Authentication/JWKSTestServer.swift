import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing

/// What the local stand-in for Entra's key endpoints serves, and what it was asked.
actor JWKSServerState {
    private var documents: [String: String] = [:]
    private var requestCounts: [String: Int] = [:]
    private var failing = false
    private var delay: Duration = .zero

    /// Serves `jwks` at `path` from now on.
    func publish(_ jwks: String, at path: String) {
        documents[path] = jwks
    }

    /// Makes every request fail with 500 (or work again).
    func setFailing(_ failing: Bool) {
        self.failing = failing
    }

    /// Holds every answer back this long, so concurrent requests overlap.
    func setDelay(_ delay: Duration) {
        self.delay = delay
    }

    func requests(at path: String) -> Int {
        requestCounts[path, default: 0]
    }

    fileprivate func respond(to path: String) async -> (HTTPResponse.Status, String) {
        requestCounts[path, default: 0] += 1
        if delay > .zero { try? await Task.sleep(for: delay) }
        if failing { return (.internalServerError, #"{"error":"temporarily_unavailable"}"#) }
        guard let document = documents[path] else { return (.notFound, #"{"error":"not_found"}"#) }
        return (.ok, document)
    }
}

/// A real HTTP server on 127.0.0.1 and an ephemeral port serving ``JWKSServerState``; it stops
/// when `body` returns.
enum JWKSTestServer {
    static let genericPath = "/keys"

    static func entraPath(tenant: String) -> String { "/\(tenant)/discovery/v2.0/keys" }

    static func run<Value: Sendable>(_ state: JWKSServerState, _ body: @escaping @Sendable (_ port: Int) async throws -> Value) async throws -> Value {
        let router = Router()
        router.get("**") { request, _ -> Response in
            let (status, document) = await state.respond(to: request.uri.path)
            return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: document)))
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: quietLogger)
        return try await app.test(.live) { client in
            try await body(try #require(client.port))
        }
    }

    static var quietLogger: Logger {
        var logger = Logger(label: "jwks-test")
        logger.logLevel = ProcessInfo.processInfo.environment["TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        return logger
    }
}
