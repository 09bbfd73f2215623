import Foundation
import Shared
import Testing
import TestSupport

@testable import Worker

#if canImport(Glibc)
import Glibc
#endif

/// What is particular to stdio servers: real servers from PyPI, the child's environment, and
/// what is left of the process after shutdown.
@Suite("MCP stdio backends", .timeLimit(.minutes(3)))
struct MCPStdioTests {
    @Test func mcpServerTimeFromPyPIListsAndCallsGetCurrentTime() async throws {
        let python = try MCPTestEnvironment.python()
        let definition = MCPServerDefinition(
            id: "time",
            transport: .stdio(command: python, arguments: ["-m", "mcp_server_time", "--local-timezone", "UTC"], environment: [:])
        )
        let pool = MCPBackendPool(configuration: MCPTestEnvironment.configuration, logger: MCPTestEnvironment.logger)
        do {
            let tools = try await pool.listTools(for: definition).tools
            #expect(tools.contains { $0["name"] == "get_current_time" })
            let result = try await pool.callTool(on: definition, name: "get_current_time", arguments: ["timezone": "Europe/Paris"])
            #expect(result["isError"] == false)
            let text = try #require(result.firstText)
            #expect(text.contains("Europe/Paris"))
        } catch {
            await pool.shutdown()
            throw error
        }
        await pool.shutdown()
    }

    @Test func childEnvironmentIsMinimalAndHoldsNoWorkerSecret() async throws {
        setenv("MCPGW_TEST_WORKER_SECRET", "hunter2", 1)
        defer { unsetenv("MCPGW_TEST_WORKER_SECRET") }
        try await withFixture(.stdio) { server, pool in
            let definition = server.definition(environment: ["TENANT_TOKEN": "tenant-token"])
            let result = try await pool.callTool(on: definition, name: "whoami", arguments: [:])
            let environment = try #require(result["structuredContent"]?["environment"]?.objectValue)
            #expect(environment["MCPGW_TEST_WORKER_SECRET"] == nil)
            #expect(environment["MCPGW_PYTHON"] == nil)
            #expect(environment["TENANT_TOKEN"] == "tenant-token")
            #expect(environment["PATH"] != nil)
            #expect(Set(environment.keys).isSubset(of: ["PATH", "HOME", "LANG", "TENANT_TOKEN"]))
        }
    }

    @Test func shutdownLeavesNoProcessBehind() async throws {
        try await withFixture(.stdio) { server, pool in
            let backend = try pool.backend(for: server.definition())
            let whoami = try await backend.callTool(name: "whoami", arguments: [:])
            let pid = try #require(backend.processID)
            #expect(whoami["structuredContent"]?["pid"] == .integer(Int64(pid)))
            #expect(MCPTestEnvironment.processExists(pid))
            await backend.shutdown()
            // Reaped, not a zombie: kill(pid, 0) fails once the pid is gone.
            #expect(!MCPTestEnvironment.processExists(pid))
            let error = await #expect(throws: MCPClientError.self) { try await backend.callTool(name: "echo", arguments: ["text": "x"]) }
            #expect(error?.code == .shutdown)
        }
    }

    @Test func shutdownEndsAServerThatIgnoresStdinClosing() async throws {
        // `sleep` holds the process busy; shutdown closes stdin, then SIGTERMs, then SIGKILLs the group.
        var configuration = MCPTestEnvironment.configuration
        configuration.stdioShutdownGrace = .milliseconds(500)
        try await withFixture(.stdio, configuration: configuration) { server, pool in
            let backend = try pool.backend(for: server.definition())
            _ = try await backend.listTools()
            let pid = try #require(backend.processID)
            let call = Task { try await backend.callTool(name: "sleep", arguments: ["seconds": 60]) }
            _ = await MCPTestEnvironment.eventually { backend.callsInFlight == 1 }
            await backend.shutdown()
            #expect(!MCPTestEnvironment.processExists(pid))
            let result = await call.result
            #expect(throws: MCPClientError.self) { try result.get() }
        }
    }

    @Test func stderrLinesAreLoggedWithTheServerID() async throws {
        let python = try MCPTestEnvironment.python()
        let capture = LogCapture()
        let definition = MCPServerDefinition(
            id: "noisy",
            transport: .stdio(
                command: "/bin/sh",
                arguments: ["-c", "echo 'starting up, says stderr' >&2; exec \"$0\" \"$1\" --transport stdio", python, MCPTestEnvironment.fixtureServer],
                environment: [:]
            )
        )
        let pool = MCPBackendPool(configuration: MCPTestEnvironment.configuration, logger: capture.logger)
        let result = try await pool.callTool(on: definition, name: "echo", arguments: ["text": "hi"])
        #expect(result.firstText == "hi")
        let logged = await MCPTestEnvironment.eventually {
            capture.lines.contains { $0.message == "starting up, says stderr" && $0.metadata[LogKeys.server] == "noisy" }
        }
        #expect(logged)
        await pool.shutdown()
    }

    @Test func shutdownEndsTheServersWholeProcessGroup() async throws {
        // The server starts a helper of its own (a grandchild of the worker) that would outlive it.
        let python = try MCPTestEnvironment.python()
        let pidFile = FileManager.default.temporaryDirectory.appendingPathComponent("mcp-helper-\(UUID().uuidString).pid").path
        defer { try? FileManager.default.removeItem(atPath: pidFile) }
        let definition = MCPServerDefinition(
            id: "with-helper",
            transport: .stdio(
                command: "/bin/sh",
                arguments: ["-c", "sleep 600 & echo $! > \"$2\"; exec \"$0\" \"$1\" --transport stdio", python, MCPTestEnvironment.fixtureServer, pidFile],
                environment: [:]
            )
        )
        let pool = MCPBackendPool(configuration: MCPTestEnvironment.configuration, logger: MCPTestEnvironment.logger)
        let backend = try pool.backend(for: definition)
        _ = try await backend.listTools()
        let serverPID = try #require(backend.processID)
        let helperText = try String(contentsOfFile: pidFile, encoding: .utf8)
        let helperPID = try #require(Int32(helperText.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(MCPTestEnvironment.processExists(helperPID))
        await pool.shutdown()
        #expect(!MCPTestEnvironment.processExists(serverPID))
        // The helper is the worker's grandchild: once killed, init reaps it.
        let helperGone = await MCPTestEnvironment.eventually { !MCPTestEnvironment.processExists(helperPID) }
        #expect(helperGone)
    }

    @Test func serverThatNeverAnswersInitializeTimesOutAndIsEnded() async throws {
        let pidFile = FileManager.default.temporaryDirectory.appendingPathComponent("mcp-silent-\(UUID().uuidString).pid").path
        defer { try? FileManager.default.removeItem(atPath: pidFile) }
        let definition = MCPServerDefinition(
            id: "silent",
            transport: .stdio(command: "/bin/sh", arguments: ["-c", "echo $$ > \"$0\"; exec sleep 600", pidFile], environment: [:]),
            timeout: .seconds(2)
        )
        let pool = MCPBackendPool(configuration: MCPTestEnvironment.configuration, logger: MCPTestEnvironment.logger)
        let error = await #expect(throws: MCPClientError.self) { try await pool.listTools(for: definition).tools }
        #expect(error?.code == .timeout)
        let pid = try #require(Int32(try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        let gone = await MCPTestEnvironment.eventually { !MCPTestEnvironment.processExists(pid) }
        #expect(gone, "the silent server was left running")
        await pool.shutdown()
    }

    @Test func missingCommandFailsToLaunch() async throws {
        let definition = MCPServerDefinition(
            id: "missing",
            transport: .stdio(command: "mcpgw-no-such-command", arguments: [], environment: [:])
        )
        let pool = MCPBackendPool(configuration: MCPTestEnvironment.configuration, logger: MCPTestEnvironment.logger)
        let error = await #expect(throws: MCPClientError.self) { try await pool.listTools(for: definition).tools }
        #expect(error?.code == .launchFailed)
        await pool.shutdown()
    }

    @Test func serverThatExitsAtStartIsRestartedWithBackoffAndFailsTyped() async throws {
        let definition = MCPServerDefinition(
            id: "exits",
            transport: .stdio(command: "/bin/sh", arguments: ["-c", "exit 7"], environment: [:]),
            timeout: .seconds(10)
        )
        let pool = MCPBackendPool(configuration: MCPTestEnvironment.configuration, logger: MCPTestEnvironment.logger)
        for _ in 0..<3 {
            let error = await #expect(throws: MCPClientError.self) { try await pool.listTools(for: definition).tools }
            #expect(error?.code == .processExited)
        }
        await pool.shutdown()
    }

    @Test func childEnvironmentKeepsOnlyPathHomeLang() {
        let environment = StdioTransport.childEnvironment(
            adding: ["API_KEY": "k", "LANG": "de_DE.UTF-8"],
            from: ["PATH": "/opt/bin", "HOME": "/home/w", "LANG": "C", "ENVELOPE_SIGNING_KEY": "secret", "DATABASE_URL": "postgres://"]
        )
        #expect(environment == ["PATH": "/opt/bin", "HOME": "/home/w", "LANG": "de_DE.UTF-8", "API_KEY": "k"])
    }
}
