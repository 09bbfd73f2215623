import Foundation
import Shared
import Synchronization
import Testing
import TestSupport

@testable import Worker

/// The behaviour every transport must have, each test run against the fixture server over
/// stdio, legacy SSE, and streamable HTTP in both its answer styles (event stream and JSON).
@Suite("MCP transports", .timeLimit(.minutes(3)))
struct MCPTransportTests {
    @Test(arguments: FixtureTransport.allCases)
    func initializesListsToolsAndCallsEchoAndAdd(_ transport: FixtureTransport) async throws {
        try await withFixture(transport) { server, pool in
            let backend = try pool.backend(for: server.definition())
            let tools = try await backend.listTools()
            let names = Set(tools.compactMap { $0["name"]?.stringValue })
            #expect(names.isSuperset(of: ["echo", "add", "sleep", "fail", "crash", "whoami"]))
            let echoTool = try #require(tools.first { $0["name"] == "echo" })
            #expect(echoTool["inputSchema"]?["properties"]?["text"] != nil)

            let session = try #require(backend.session)
            #expect(MCPProtocol.supportedVersions.contains(session.protocolVersion))
            #expect(session.serverName == "fixture")
            if transport == .sse { #expect(session.protocolVersion == "2024-11-05") }

            let echo = try await backend.callTool(name: "echo", arguments: ["text": "héllo, wörld"])
            #expect(echo["isError"] == false)
            #expect(echo["content"] == [["type": "text", "text": "héllo, wörld"]])

            let sum = try await backend.callTool(name: "add", arguments: ["a": 2, "b": 40])
            #expect(sum["isError"] == false)
            #expect(sum["structuredContent"]?["result"]?.doubleValue == 42)
            #expect(sum.firstText.flatMap(Double.init) == 42)
            #expect(backend.sessionsStarted == 1)
        }
    }

    @Test(arguments: FixtureTransport.allCases)
    func toolErrorIsAResultWithIsErrorTrue(_ transport: FixtureTransport) async throws {
        try await withFixture(transport) { server, pool in
            let backend = try pool.backend(for: server.definition())
            let result = try await backend.callTool(name: "fail", arguments: ["message": "the printer is on fire"])
            #expect(result["isError"] == true)
            #expect(result.firstText?.contains("the printer is on fire") == true)
        }
    }

    @Test(arguments: FixtureTransport.allCases)
    func unknownToolIsAnErrorResultOrServerError(_ transport: FixtureTransport) async throws {
        try await withFixture(transport) { server, pool in
            let backend = try pool.backend(for: server.definition())
            do {
                let result = try await backend.callTool(name: "no_such_tool", arguments: [:])
                #expect(result["isError"] == true)
            } catch let error as MCPClientError {
                #expect(error.code == .server)
            }
        }
    }

    @Test(arguments: FixtureTransport.allCases)
    func jsonRPCErrorIsThrownWithItsCodeAndMessage(_ transport: FixtureTransport) async throws {
        try await withFixture(transport) { server, pool in
            let backend = try pool.backend(for: server.definition())
            let error = await #expect(throws: MCPClientError.self) {
                try await backend.callTool(name: "rpc_error", arguments: ["code": -32099, "message": "backend says no"])
            }
            #expect(error?.code == .server)
            #expect(error?.rpcCode == -32099)
            #expect(error?.message == "backend says no")
            // A JSON-RPC error ends the call, not the session.
            let echo = try await backend.callTool(name: "echo", arguments: ["text": "fine"])
            #expect(echo.firstText == "fine")
            #expect(backend.sessionsStarted == 1)
        }
    }

    @Test(arguments: FixtureTransport.allCases)
    func listToolsFollowsPaginationToTheLastPage(_ transport: FixtureTransport) async throws {
        try await withFixture(transport, arguments: ["--page-size", "2"]) { server, pool in
            let backend = try pool.backend(for: server.definition())
            let tools = try await backend.listTools()
            let names = tools.compactMap { $0["name"]?.stringValue }
            #expect(
                Set(names) == ["echo", "add", "sleep", "fail", "crash", "whoami", "add_tool", "events", "rpc_error", "poll_echo", "show_credential"])
            #expect(names.count == 11)
            let pages = server.events().filter { $0["event"] == "list_tools_page" }
            #expect(pages.map { $0["cursor"] ?? .null } == [.null, "2", "4", "6", "8", "10"])
        }
    }

    @Test(arguments: FixtureTransport.allCases)
    func callPastItsDeadlineTimesOutAndTheServerIsToldToCancel(_ transport: FixtureTransport) async throws {
        try await withFixture(transport) { server, pool in
            let backend = try pool.backend(for: server.definition())
            _ = try await backend.listTools()  // the session is up, so the deadline covers only the call
            let error = await #expect(throws: MCPClientError.self) {
                try await backend.callTool(name: "sleep", arguments: ["seconds": 30], deadline: .now + .seconds(1.5))
            }
            #expect(error?.code == .timeout)
            let told = await MCPTestEnvironment.eventually {
                server.events().contains { $0["event"] == "cancel_notification" }
            }
            #expect(told, "the server never received notifications/cancelled; events: \(server.events())")
            // The session survives a cancelled call.
            let echo = try await backend.callTool(name: "echo", arguments: ["text": "still here"])
            #expect(echo.firstText == "still here")
        }
    }

    @Test(arguments: FixtureTransport.allCases)
    func cancellingTheCallingTaskCancelsTheCall(_ transport: FixtureTransport) async throws {
        try await withFixture(transport) { server, pool in
            let backend = try pool.backend(for: server.definition())
            _ = try await backend.listTools()
            let call = Task {
                try await backend.callTool(name: "sleep", arguments: ["seconds": 30])
            }
            // Cancel once the server is working on it (its first progress would need a token; poll the in-flight count).
            _ = await MCPTestEnvironment.eventually { backend.callsInFlight == 1 }
            try await Task.sleep(for: .milliseconds(300))
            call.cancel()
            let result = await call.result
            #expect(throws: MCPClientError.self) { try result.get() }
            if case .failure(let error as MCPClientError) = result { #expect(error.code == .cancelled) }
            let told = await MCPTestEnvironment.eventually {
                server.events().contains { $0["event"] == "cancel_notification" }
            }
            #expect(told, "the server never received notifications/cancelled")
        }
    }

    @Test(arguments: FixtureTransport.allCases)
    func twentyConcurrentCallsAreAllAnsweredCorrectly(_ transport: FixtureTransport) async throws {
        try await withFixture(transport) { server, pool in
            let backend = try pool.backend(for: server.definition())
            try await withThrowingTaskGroup(of: (Int, JSONValue).self) { group in
                for index in 0..<20 {
                    group.addTask {
                        if index.isMultiple(of: 2) {
                            return (index, try await backend.callTool(name: "echo", arguments: ["text": .string("call \(index)")]))
                        }
                        return (index, try await backend.callTool(name: "add", arguments: ["a": .integer(Int64(index)), "b": 1000]))
                    }
                }
                var answered = 0
                for try await (index, result) in group {
                    answered += 1
                    if index.isMultiple(of: 2) {
                        #expect(result.firstText == "call \(index)")
                    } else {
                        #expect(result["structuredContent"]?["result"]?.doubleValue == Double(index + 1000))
                    }
                }
                #expect(answered == 20)
            }
            // All twenty shared one session (the first calls raced to start it).
            #expect(backend.sessionsStarted == 1)
        }
    }

    @Test(arguments: FixtureTransport.allCases)
    func serverDyingMidCallGivesATypedErrorAndTheBackendRecovers(_ transport: FixtureTransport) async throws {
        try await withFixture(transport) { server, pool in
            let backend = try pool.backend(for: server.definition())
            let before = try await backend.callTool(name: "whoami", arguments: [:])
            let error = await #expect(throws: MCPClientError.self) {
                try await backend.callTool(name: "crash", arguments: [:], deadline: .now + .seconds(20))
            }
            if transport == .stdio {
                #expect(error?.code == .processExited)
            } else {
                #expect(error?.code == .transport)
            }
            try await server.restartAfterCrash()
            let echo = try await backend.callTool(name: "echo", arguments: ["text": "back again"])
            #expect(echo.firstText == "back again")
            let after = try await backend.callTool(name: "whoami", arguments: [:])
            #expect(after["structuredContent"]?["pid"] != before["structuredContent"]?["pid"])
            #expect(backend.sessionsStarted == 2)
        }
    }

    @Test(arguments: FixtureTransport.allCases)
    func progressNotificationsReachTheCallersHandler(_ transport: FixtureTransport) async throws {
        try await withFixture(transport) { server, pool in
            let backend = try pool.backend(for: server.definition())
            let received = Mutex<[MCPProgress]>([])
            let result = try await backend.callTool(name: "sleep", arguments: ["seconds": 2]) { progress in
                received.withLock { $0.append(progress) }
            }
            #expect(result.firstText == "slept 2s")
            let progress = received.withLock { $0 }
            if transport == .streamableHTTPJSON {
                // A JSON answer has no room for notifications; the call still completes.
                #expect(progress.isEmpty)
            } else {
                #expect(progress.map(\.progress) == [1, 2])
                #expect(progress.last?.total == 2)
            }
        }
    }

    @Test(arguments: [FixtureTransport.stdio, .sse, .streamableHTTP])
    func toolListChangedNotificationRefreshesTheCachedToolList(_ transport: FixtureTransport) async throws {
        try await withFixture(transport) { server, pool in
            let definition = server.definition()
            let first = try await pool.listTools(for: definition).tools
            #expect(!first.contains { $0["name"] == "late_tool" })
            let added = try await pool.callTool(on: definition, name: "add_tool", arguments: ["name": "late_tool"])
            #expect(added["isError"] == false)
            // The notification came before the answer, on the same stream: the cache is already stale.
            let second = try await pool.listTools(for: definition).tools
            #expect(second.contains { $0["name"] == "late_tool" })
        }
    }

    @Test(arguments: FixtureTransport.http)
    func definitionHeadersReachTheServer(_ transport: FixtureTransport) async throws {
        try await withFixture(transport) { server, pool in
            let definition = server.definition(headers: ["Authorization": "Bearer tenant-token", "X-Tenant": "acme"])
            let result = try await pool.callTool(on: definition, name: "whoami", arguments: [:])
            let headers = try #require(result["structuredContent"]?["headers"])
            #expect(headers["authorization"] == "Bearer tenant-token")
            #expect(headers["x-tenant"] == "acme")
        }
    }
}
