import AsyncHTTPClient
import Foundation
import NIOCore
import Shared
import NIOHTTP1
import Synchronization
import Worker

#if canImport(Glibc)
import Glibc
#endif

/// The fixture MCP server (`Tests/Fixtures/mcp/fixture_server.py`, the official `mcp` Python
/// SDK) over streamable HTTP on a free loopback port: the one backend every scenario calls.
final class FixtureBackend: Sendable {
    let port: Int
    let url: URL
    private let process: Process
    private let logFile: URL

    /// The process id while it runs (0 otherwise); the signal handler ends it on Ctrl-C.
    static let runningPID = Atomic<Int32>(0)

    private init(port: Int, process: Process, logFile: URL) {
        self.port = port
        self.url = URL(string: "http://127.0.0.1:\(port)/mcp")!
        self.process = process
        self.logFile = logFile
    }

    var pid: Int32 { process.processIdentifier }

    /// Starts the server and waits (at most 60 s) until it answers HTTP on its port.
    static func start(python: String, script: String, jsonResponse: Bool, httpClient: HTTPClient) async throws -> FixtureBackend {
        guard FileManager.default.fileExists(atPath: script) else {
            throw BenchmarkError("the fixture server is not at \(script) (run from the repository root, or pass --fixture-server)")
        }
        let port = try freeLoopbackPort()
        let logFile = FileManager.default.temporaryDirectory.appendingPathComponent("mcpgw-benchmark-fixture-\(port).log")
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let child = Process()
        child.executableURL = URL(fileURLWithPath: python)
        child.arguments = [script, "--transport", "streamable-http", "--port", "\(port)"] + (jsonResponse ? ["--json-response"] : [])
        child.standardInput = FileHandle.nullDevice
        child.standardOutput = FileHandle.nullDevice
        child.standardError = try FileHandle(forWritingTo: logFile)
        try child.run()
        runningPID.store(child.processIdentifier, ordering: .relaxed)
        let backend = FixtureBackend(port: port, process: child, logFile: logFile)
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(60)
        while clock.now < deadline {
            guard child.isRunning else { break }
            if await backend.answersHTTP(httpClient) { return backend }
            try await Task.sleep(for: .milliseconds(100))
        }
        let log = (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
        await backend.stop()
        throw BenchmarkError("the fixture server did not start on 127.0.0.1:\(port); its log:\n\(log.suffix(2000))")
    }

    private func answersHTTP(_ httpClient: HTTPClient) async -> Bool {
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = .GET
        // Any answer (a 4xx for a GET without a session) means it listens.
        return (try? await httpClient.execute(request, timeout: .seconds(2))) != nil
    }

    /// Ends the server (SIGTERM, then SIGKILL after 5 s) and waits until it is gone.
    func stop() async {
        if process.isRunning { process.terminate() }
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(5)
        while process.isRunning, clock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        while process.isRunning { try? await Task.sleep(for: .milliseconds(50)) }
        Self.runningPID.store(0, ordering: .relaxed)
        try? FileManager.default.removeItem(at: logFile)
    }

    /// How our MCP client reaches it, under server id `id`.
    func definition(id: String, timeout: Duration = .seconds(30)) -> MCPServerDefinition {
        MCPServerDefinition(id: id, displayName: "Benchmark fixture", transport: .streamableHTTP(url), timeout: timeout)
    }

    /// Its catalog entry under server id `id`, as a worker finds it.
    func record(id: String, timeoutMilliseconds: Int = 30_000) -> ServerRecord {
        ServerRecord(id: id, displayName: "Benchmark fixture", transport: .streamableHTTP, url: url.absoluteString, timeoutMilliseconds: timeoutMilliseconds)
    }
}

/// A TCP port on 127.0.0.1 that nothing listened on a moment ago (the kernel's choice).
func freeLoopbackPort() throws -> Int {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw BenchmarkError("socket() failed: errno \(errno)") }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw BenchmarkError("bind() failed: errno \(errno)") }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let named = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
    }
    guard named == 0 else { throw BenchmarkError("getsockname() failed: errno \(errno)") }
    return Int(UInt16(bigEndian: address.sin_port))
}

struct BenchmarkError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Names the benchmark gives what it creates, unique per run so that runs never collide.
enum BenchmarkNames {
    /// The server id of the floors' routing and of the sample envelope.
    static let server = "bench"
    /// The server id our MCP client uses when the benchmark calls the backend directly.
    static let directServer = "bench-direct"

    /// The server id a gateway's catalog entry, queue and metrics carry, one per queue type, so
    /// that each worker serves only its own and the MCP client's timings tell them apart.
    static func server(for queueType: GatewayTopology.QueueType) -> String { "bench-\(queueType.rawValue)" }
    static let group = "bench-users"
    static let runID: String = "bench-" + UUID().uuidString.lowercased().prefix(8)
}
