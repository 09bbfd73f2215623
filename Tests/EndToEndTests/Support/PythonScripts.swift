import Foundation
import Shared
import TestSupport
import Testing
import Worker

/// The Python helpers under Tests/Fixtures/mcp, run with the venv's Python (`MCPGW_PYTHON`):
/// the official `mcp` SDK as a client, and the OpenAPI validator.
enum PythonScripts {
    static let directory = URL(fileURLWithPath: MCPTestEnvironment.fixtureServer).deletingLastPathComponent()

    /// Runs `sdk_client.py` and returns the JSON it printed.
    static func sdkClient(_ scenario: String, url: String, token: String, calls: [(String, String)] = [], extra: [String] = []) async throws -> JSONValue {
        var arguments = [directory.appendingPathComponent("sdk_client.py").path, scenario, "--url", url, "--token", token]
        for (name, json) in calls { arguments += ["--call", "\(name)=\(json)"] }
        return try await run(arguments + extra)
    }

    /// The mcp 2.x SDK's `Client(mode: "auto")` (`server/discover` first), from its own venv
    /// (`MCPGW_PYTHON_SDK2`, set by scripts/test.sh).
    static func sdk2Client(url: String, token: String, calls: [(String, String)]) async throws -> JSONValue {
        var arguments = [directory.appendingPathComponent("sdk2_client.py").path, "--url", url, "--token", token]
        for (name, json) in calls { arguments += ["--call", "\(name)=\(json)"] }
        return try await run(arguments, python: try TestEnvironment.require("MCPGW_PYTHON_SDK2"))
    }

    /// Validates an OpenAPI document with openapi-spec-validator: `{"valid": …, "error": …}`.
    static func validateOpenAPI(_ document: JSONValue) async throws -> JSONValue {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("openapi-\(UUID().uuidString).json")
        try JSONEncoder().encode(document).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        return try await run([directory.appendingPathComponent("validate_openapi.py").path, file.path])
    }

    private static func run(_ arguments: [String], python: String? = nil) async throws -> JSONValue {
        let result = try await ScriptRunner.run(try python ?? MCPTestEnvironment.python(), arguments, timeout: .seconds(120))
        try #require(result.succeeded, "\(result)")
        let line = try #require(result.stdout.split(separator: "\n").last, "\(result)")
        return try JSONDecoder().decode(JSONValue.self, from: Data(line.utf8))
    }
}

extension GatewayHarness {
    /// One JSON-RPC message posted to an MCP endpoint, as a client of the Streamable HTTP
    /// transport sends it.
    func mcp(
        _ path: String = "/mcp", token: String?, _ message: JSONValue, session: String? = nil, version: String? = nil,
        accept: String = "application/json, text/event-stream", keepStream: Bool = false
    ) async throws -> Answer {
        var headers = ["Accept": accept, "Content-Type": "application/json"]
        if let session { headers["Mcp-Session-Id"] = session }
        if let version { headers["MCP-Protocol-Version"] = version }
        let answer = try await send("POST", path, token: token, headers: headers, body: Array(try JSONEncoder().encode(message)))
        return keepStream ? answer : Self.unstreamed(answer)
    }

    /// An answer the endpoint streamed (a call that took longer than `MCP_STREAM_AFTER_MS`, as
    /// on a loaded machine) with its body replaced by the stream's last JSON-RPC message, so that
    /// tests read the answer the same way whichever form it took.
    static func unstreamed(_ answer: Answer) -> Answer {
        guard case .string(let text) = answer.body, answer.headers["content-type"]?.hasPrefix("text/event-stream") == true,
            let last = text.split(separator: "\n").last(where: { $0.hasPrefix("data: ") }),
            let message = try? JSONDecoder().decode(JSONValue.self, from: Data(last.dropFirst(6).utf8))
        else { return answer }
        var parsed = answer
        parsed.body = message
        return parsed
    }

    /// `initialize`, then `notifications/initialized`: the session id.
    func mcpSession(_ path: String = "/mcp", token: String, version: String = "2025-06-18") async throws -> String {
        let answer = try await mcp(path, token: token, Self.request(0, "initialize", ["protocolVersion": .string(version), "capabilities": [:], "clientInfo": ["name": "test", "version": "1"]]))
        let session = try #require(answer.headers["mcp-session-id"], "\(answer.body)")
        let initialized = try await mcp(path, token: token, ["jsonrpc": "2.0", "method": "notifications/initialized"], session: session, version: version)
        #expect(initialized.status == 202)
        return session
    }

    static func request(_ id: Int64, _ method: String, _ params: JSONValue? = nil) -> JSONValue {
        var message: [String: JSONValue] = ["jsonrpc": "2.0", "id": .integer(id), "method": .string(method)]
        if let params { message["params"] = params }
        return .object(message)
    }
}

extension Fixtures {
    /// The fixture server over stdio with the surface tests' extra tools (an oddly named tool, a
    /// tool with a non-object schema, `wait_for_cancel`; see fixture_server.py).
    static func surfaceServer(_ id: String) throws -> ServerRecord {
        var record = try stdioServer(id)
        record.environment["FIXTURE_SURFACE_TOOLS"] = "1"
        return record
    }
}
