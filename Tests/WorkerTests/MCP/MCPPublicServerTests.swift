import Foundation
import Shared
import Testing
import TestSupport

@testable import Worker

/// Servers we did not write, from PyPI (`scripts/requirements.txt`): `mcp-server-git` over
/// stdio, and `mcp-server-time` behind `mcp-proxy`, which serves a stdio server over SSE and
/// streamable HTTP (also stateless, without session ids).
@Suite("MCP public servers", .timeLimit(.minutes(3)))
struct MCPPublicServerTests {
    enum ProxyMode: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case sse, streamableHTTP, statelessStreamableHTTP
        var testDescription: String { rawValue }
    }

    @Test(arguments: ProxyMode.allCases)
    func mcpServerTimeBehindMCPProxyAnswers(_ mode: ProxyMode) async throws {
        let python = try MCPTestEnvironment.python()
        let port = try MCPTestEnvironment.freePort()
        let proxy = URL(fileURLWithPath: python).deletingLastPathComponent().appendingPathComponent("mcp-proxy").path
        var arguments = ["--host", "127.0.0.1", "--port", "\(port)", "--log-level", "WARNING"]
        if mode == .statelessStreamableHTTP { arguments.append("--stateless") }
        arguments += ["--", python, "-m", "mcp_server_time", "--local-timezone", "UTC"]
        let server = try await MCPTestEnvironment.startHTTPServer(proxy, arguments, port: port)
        let transport: MCPServerDefinition.Transport =
            mode == .sse
            ? .sse(URL(string: "http://127.0.0.1:\(port)/sse")!)
            : .streamableHTTP(URL(string: "http://127.0.0.1:\(port)/mcp")!)
        let pool = MCPBackendPool(configuration: MCPTestEnvironment.configuration, logger: MCPTestEnvironment.logger)
        do {
            let definition = MCPServerDefinition(id: "time", transport: transport)
            let tools = try await pool.listTools(for: definition).tools
            #expect(tools.contains { $0["name"] == "get_current_time" })
            for _ in 0..<3 {
                let result = try await pool.callTool(on: definition, name: "get_current_time", arguments: ["timezone": "Asia/Tokyo"])
                #expect(result["isError"] == false)
                #expect(result.firstText?.contains("Asia/Tokyo") == true)
            }
            let converted = try await pool.callTool(
                on: definition,
                name: "convert_time",
                arguments: ["source_timezone": "UTC", "time": "12:00", "target_timezone": "Europe/Berlin"]
            )
            #expect(converted["isError"] == false)
        } catch {
            await pool.shutdown()
            await MCPTestEnvironment.stopHTTPServer(server)
            throw error
        }
        await pool.shutdown()
        await MCPTestEnvironment.stopHTTPServer(server)
    }

    @Test func mcpServerGitOverStdioReportsTheStatusOfARepository() async throws {
        let python = try MCPTestEnvironment.python()
        let repository = FileManager.default.temporaryDirectory.appendingPathComponent("mcp-git-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: repository, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: repository) }
        try await runGit(["init", "-q", repository])
        try "hello\n".write(toFile: "\(repository)/untracked-file.txt", atomically: true, encoding: .utf8)

        let definition = MCPServerDefinition(
            id: "git",
            transport: .stdio(command: python, arguments: ["-m", "mcp_server_git", "--repository", repository], environment: [:])
        )
        let pool = MCPBackendPool(configuration: MCPTestEnvironment.configuration, logger: MCPTestEnvironment.logger)
        do {
            let tools = try await pool.listTools(for: definition).tools
            #expect(tools.contains { $0["name"] == "git_status" })
            let status = try await pool.callTool(on: definition, name: "git_status", arguments: ["repo_path": .string(repository)])
            #expect(status["isError"] == false)
            #expect(status.firstText?.contains("untracked-file.txt") == true)
        } catch {
            await pool.shutdown()
            throw error
        }
        await pool.shutdown()
    }

    private func runGit(_ arguments: [String]) async throws {
        let git = Process()
        git.executableURL = URL(fileURLWithPath: "/usr/bin/git")
        git.arguments = arguments
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            git.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do { try git.run() } catch { continuation.resume(throwing: error) }
        }
        try #require(status == 0, "git \(arguments.joined(separator: " ")) failed")
    }
}
