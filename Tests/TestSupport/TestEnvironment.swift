import Foundation
import Logging
import Testing

import Shared

/// Where the integration tests find the services `scripts/test.sh` started. A missing
/// variable fails the test that needs it: integration tests never pass by skipping.
public enum TestEnvironment {
    public static func require(_ name: String) throws -> String {
        try #require(
            ProcessInfo.processInfo.environment[name].flatMap { $0.isEmpty ? nil : $0 },
            "\(name) is not set: run the tests through scripts/test.sh, which starts the services"
        )
    }

    public static var logger: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = ProcessInfo.processInfo.environment["TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        return logger
    }

    /// A name no other test (or earlier run) uses, for queues, exchanges and schemas.
    public static func uniqueName(_ prefix: String) -> String {
        "\(prefix)-\(UUID().uuidString.prefix(12).lowercased())"
    }

    /// A TCP port that was free a moment ago on 127.0.0.1, with `port + offset` free too
    /// (a RabbitMQ node also listens on its AMQP port + 10000 for Erlang distribution).
    public static func freePort(alsoFreeAt offset: Int = 0) throws -> Int {
        for _ in 0..<200 {
            let port = Int.random(in: 20_000...29_999)
            if MCPTestEnvironment.canBind(port) && (offset == 0 || MCPTestEnvironment.canBind(port + offset)) { return port }
        }
        try #require(Bool(false), "no free port found")
        return 0
    }

    /// Runs one of the repository's scripts (`MCPGW_SCRIPTS`) and returns its output; a
    /// non-zero exit fails the test with that output.
    @discardableResult
    public static func runScript(_ name: String, _ arguments: [String]) async throws -> String {
        let result = try await ScriptRunner.run(try ScriptRunner.requireScript(name), arguments)
        try #require(result.succeeded, "\(result)")
        return result.stdout
    }
}

/// Polls `body` until it returns a value, for effects that take a moment (broker, database).
public func eventually<T>(timeout: Duration = .seconds(15), _ body: () async throws -> T?) async throws -> T {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if let value = try await body() { return value }
        try await Task.sleep(for: .milliseconds(100))
    }
    return try #require(try await body(), "condition not met within \(timeout)")
}
