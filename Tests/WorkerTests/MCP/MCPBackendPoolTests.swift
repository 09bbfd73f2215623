import Foundation
import Logging
import ServiceLifecycle
import Shared
import Testing
import TestSupport

@testable import Worker

/// The pool: one backend per server, the tool-list cache, the service lifecycle, and logging.
@Suite("MCP backend pool", .timeLimit(.minutes(3)))
struct MCPBackendPoolTests {
    @Test func toolListIsServedFromCacheUntilInvalidated() async throws {
        // JSON answers drop the list-changed notification, so only the cache decides here.
        try await withFixture(.streamableHTTPJSON) { server, pool in
            let definition = server.definition()
            let first = try await pool.listTools(for: definition).tools
            _ = try await pool.callTool(on: definition, name: "add_tool", arguments: ["name": "late_tool"])
            let cached = try await pool.listTools(for: definition).tools
            #expect(cached == first)
            pool.invalidateTools(serverID: definition.id)
            let fresh = try await pool.listTools(for: definition).tools
            #expect(fresh.contains { $0["name"] == "late_tool" })
        }
    }

    @Test func anOldListIsServedAtOnceAndRefreshedBehindTheCaller() async throws {
        var configuration = MCPTestEnvironment.configuration
        configuration.toolCacheTTL = .zero
        try await withFixture(.streamableHTTPJSON, configuration: configuration) { server, pool in
            let definition = server.definition()
            let first = try await pool.listTools(for: definition).tools
            _ = try await pool.callTool(on: definition, name: "add_tool", arguments: ["name": "late_tool"])
            // Stale-while-revalidate: the known list may come back at once (not marked stale: it
            // is merely old), and the fresh one follows within a few listings.
            var listing = try await pool.listTools(for: definition)
            #expect(listing.staleness == nil)
            #expect(listing.tools == first || listing.tools.contains { $0["name"] == "late_tool" })
            for _ in 0..<100 where !listing.tools.contains(where: { $0["name"] == "late_tool" }) {
                try await Task.sleep(for: .milliseconds(50))
                listing = try await pool.listTools(for: definition)
            }
            #expect(listing.tools.contains { $0["name"] == "late_tool" })
        }
    }

    @Test func gracefulShutdownOfTheServiceGroupEndsEveryBackend() async throws {
        let server = try FixtureServer(.stdio)
        let pool = MCPBackendPool(configuration: MCPTestEnvironment.configuration, logger: MCPTestEnvironment.logger)
        let group = ServiceGroup(services: [pool], gracefulShutdownSignals: [], cancellationSignals: [], logger: MCPTestEnvironment.logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let backend = try pool.backend(for: server.definition())
            _ = try await backend.listTools()
            let pid = try #require(backend.processID)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            #expect(!MCPTestEnvironment.processExists(pid))
            #expect(throws: MCPClientError.self) { try pool.backend(for: server.definition()) }
        }
        await server.stop()
    }

    @Test func callersLoggerMetadataReachesTheClientsLogLines() async throws {
        let capture = LogCapture()
        try await withFixture(.stdio, logger: capture.logger) { server, pool in
            var logger = capture.logger
            logger[metadataKey: LogKeys.callID] = "call-1234"
            let backend = try pool.backend(for: server.definition())
            _ = try await backend.callTool(name: "echo", arguments: ["text": "x"], logger: logger)
            let lines = capture.lines.filter { $0.metadata[LogKeys.callID] == "call-1234" }
            #expect(lines.contains { $0.message == "MCP request" && $0.metadata[LogKeys.tool] == "echo" && $0.metadata[LogKeys.server] == "fixture" })
        }
    }

    @Test func headerValuesNeverReachTheLog() async throws {
        let capture = LogCapture()
        try await withFixture(.streamableHTTP, logger: capture.logger) { server, pool in
            let definition = server.definition(headers: ["Authorization": "Bearer very-secret-token"])
            _ = try await pool.listTools(for: definition).tools
            _ = try await pool.callTool(on: definition, name: "fail", arguments: ["message": "x"])
            _ = try? await pool.callTool(on: definition, name: "rpc_error", arguments: ["code": -1, "message": "y"])
            for line in capture.lines {
                #expect(!line.message.contains("very-secret-token"))
                #expect(!line.metadata.values.contains { $0.contains("very-secret-token") })
            }
            #expect(!capture.lines.isEmpty)
        }
    }
}
