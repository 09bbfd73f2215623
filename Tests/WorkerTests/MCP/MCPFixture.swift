import Foundation
import Logging
import Shared
import Synchronization
import Testing
import TestSupport

@testable import Worker

#if canImport(Glibc)
import Glibc
#endif

/// Runs `body` with a started fixture server and a pool, and stops both afterwards.
func withFixture(
    _ transport: FixtureTransport,
    arguments: [String] = [],
    configuration: MCPClientConfiguration = MCPTestEnvironment.configuration,
    logger: Logger = MCPTestEnvironment.logger,
    _ body: (FixtureServer, MCPBackendPool) async throws -> Void
) async throws {
    let server = try FixtureServer(transport, extraArguments: arguments)
    let pool = MCPBackendPool(configuration: configuration, logger: logger)
    do {
        try await server.start()
        try await body(server, pool)
    } catch {
        await pool.shutdown()
        await server.stop()
        throw error
    }
    await pool.shutdown()
    await server.stop()
}

extension MCPTestEnvironment {
    /// Quick restarts and shutdowns, so that tests of those paths stay short.
    static var configuration: MCPClientConfiguration {
        var configuration = MCPClientConfiguration()
        configuration.stdioRestartBackoff = .milliseconds(100)
        configuration.stdioShutdownGrace = .seconds(2)
        return configuration
    }
}


/// A logger whose lines the test can read back.
final class LogCapture: Sendable {
    struct Record: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
    }

    private let records = Mutex<[Record]>([])

    var logger: Logger {
        Logger(label: "mcp-test-capture") { _ in Handler(capture: self) }
    }

    var lines: [Record] { records.withLock { $0 } }

    fileprivate func append(_ record: Record) {
        records.withLock { $0.append(record) }
    }

    private struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            var merged = metadata
            if let extra = event.metadata { merged.merge(extra) { _, new in new } }
            capture.append(Record(level: event.level, message: event.message.description, metadata: merged.mapValues { "\($0)" }))
        }
    }
}
