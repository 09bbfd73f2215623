import Foundation
import Shared
import Testing
import TestSupport

@testable import Worker

/// Streamable HTTP sessions: one `initialize` serves many calls, and a server that forgets the
/// session (here: restarted) gets a new one without the caller noticing.
@Suite("MCP streamable HTTP sessions", .timeLimit(.minutes(3)))
struct MCPStreamableHTTPSessionTests {
    @Test(arguments: [FixtureTransport.streamableHTTP, .streamableHTTPJSON])
    func oneInitializeServesManyCalls(_ transport: FixtureTransport) async throws {
        try await withFixture(transport) { server, pool in
            let backend = try pool.backend(for: server.definition())
            var sessionIDs: Set<String> = []
            for _ in 0..<10 {
                let result = try await backend.callTool(name: "whoami", arguments: [:])
                let headers = try #require(result["structuredContent"]?["headers"])
                sessionIDs.insert(try #require(headers["mcp-session-id"]?.stringValue))
                #expect(headers["mcp-protocol-version"]?.stringValue == backend.session?.protocolVersion)
            }
            #expect(sessionIDs.count == 1)
            #expect(backend.sessionsStarted == 1)
        }
    }

    @Test(arguments: [FixtureTransport.streamableHTTP, .streamableHTTPJSON])
    func serverThatForgotTheSessionIsReinitialisedOnce(_ transport: FixtureTransport) async throws {
        try await withFixture(transport) { server, pool in
            let backend = try pool.backend(for: server.definition())
            let before = try await backend.callTool(name: "whoami", arguments: [:])
            await server.kill()
            try await server.start()
            // The new server answers 404 to the old session id; the backend starts a new session and retries.
            let after = try await backend.callTool(name: "whoami", arguments: [:])
            let oldSession = before["structuredContent"]?["headers"]?["mcp-session-id"]
            let newSession = after["structuredContent"]?["headers"]?["mcp-session-id"]
            #expect(oldSession != nil && newSession != nil && oldSession != newSession)
            #expect(backend.sessionsStarted == 2)
        }
    }

    @Test func eventStreamClosedByTheServerIsResumedWithLastEventID() async throws {
        try await withFixture(.streamableHTTP, arguments: ["--resumable"]) { server, pool in
            let backend = try pool.backend(for: server.definition())
            let result = try await backend.callTool(name: "poll_echo", arguments: ["text": "after a break"])
            #expect(result.firstText == "after a break")
            let events = server.events().map { $0["event"] ?? .null }
            #expect(events.contains("stream_closed"))
            #expect(events.contains("resumed"))
        }
    }

    @Test func unreachableServerIsATransportError() async throws {
        let port = try MCPTestEnvironment.freePort()
        let definition = MCPServerDefinition(
            id: "nowhere",
            transport: .streamableHTTP(URL(string: "http://127.0.0.1:\(port)/mcp")!),
            timeout: .seconds(60)
        )
        // The HTTP client retries refused connections until its connect timeout, then fails the request.
        var configuration = MCPTestEnvironment.configuration
        configuration.httpConnectTimeout = .seconds(1)
        let pool = MCPBackendPool(configuration: configuration, logger: MCPTestEnvironment.logger)
        let error = await #expect(throws: MCPClientError.self) { try await pool.listTools(for: definition).tools }
        #expect(error?.code == .transport)
        await pool.shutdown()
    }

    @Test func httpErrorStatusKeepsStatusAndBodyExcerpt() async throws {
        try await withFixture(.streamableHTTP) { server, pool in
            // The fixture serves /mcp only; another path is a plain 404 without a session to blame.
            let definition = MCPServerDefinition(
                id: "wrong-path",
                transport: .streamableHTTP(URL(string: "http://127.0.0.1:\(server.port)/not-mcp")!)
            )
            let error = await #expect(throws: MCPClientError.self) { try await pool.listTools(for: definition).tools }
            #expect(error?.code == .transport)
            #expect(error?.httpStatus == 404)
            #expect(error?.bodyExcerpt?.isEmpty == false)
        }
    }

    @Test func changedDefinitionReplacesTheBackend() async throws {
        try await withFixture(.streamableHTTP) { server, pool in
            let first = try pool.backend(for: server.definition(headers: ["X-Tenant": "a"]))
            #expect(try pool.backend(for: server.definition(headers: ["X-Tenant": "a"])) === first)
            let second = try pool.backend(for: server.definition(headers: ["X-Tenant": "b"]))
            #expect(second !== first)
            let result = try await second.callTool(name: "whoami", arguments: [:])
            #expect(result["structuredContent"]?["headers"]?["x-tenant"] == "b")
        }
    }
}
