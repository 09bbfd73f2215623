import Foundation
import Logging
import Shared
import Synchronization
import Testing
import Worker

#if canImport(Glibc)
import Glibc
#endif

/// How a test reaches the fixture server (`Tests/Fixtures/mcp/fixture_server.py`).
public enum FixtureTransport: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case stdio
    case sse
    /// Streamable HTTP answering POSTs with event streams (the Python SDK's default).
    case streamableHTTP
    /// Streamable HTTP answering POSTs with JSON (`json_response=True`).
    case streamableHTTPJSON

    public var testDescription: String { rawValue }

    public static let http: [FixtureTransport] = [.sse, .streamableHTTP, .streamableHTTPJSON]
}

/// What the tests need from the machine: the venv's Python (`MCPGW_PYTHON`, made by
/// `scripts/python-env.sh`) and the fixture scripts next to this file.
public enum MCPTestEnvironment {
    public static func python() throws -> String {
        try #require(
            ProcessInfo.processInfo.environment["MCPGW_PYTHON"].flatMap { $0.isEmpty ? nil : $0 },
            "MCPGW_PYTHON is not set: run MCPGW_PYTHON=$(scripts/python-env.sh) swift test"
        )
    }

    public static let fixtureServer: String = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // TestSupport
        .deletingLastPathComponent()  // Tests
        .appendingPathComponent("Fixtures/mcp/fixture_server.py").path

    public static var logger: Logger {
        var logger = Logger(label: "mcp-test")
        logger.logLevel = ProcessInfo.processInfo.environment["TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        return logger
    }

    /// Ports handed out in this test process: tests run in parallel, and a port stays free
    /// between being chosen and being bound (and while its server restarts).
    private static let handedOut = Mutex<Set<Int>>([])

    /// A TCP port on 127.0.0.1 that was free a moment ago and that no other test of this process got.
    public static func freePort() throws -> Int {
        for _ in 0..<200 {
            // Below Linux's ephemeral range (32768-60999), so no outgoing connection holds it, and
            // apart from the 20000s the broker tests use.
            let port = Int.random(in: 10_000...19_999)
            guard handedOut.withLock({ $0.insert(port).inserted }) else { continue }
            if canBind(port) { return port }
        }
        try #require(Bool(false), "no free port found")
        return 0
    }

    /// Whether a TCP listener could bind 127.0.0.1:`port` right now.
    public static func canBind(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return withLoopbackAddress(port: port) { bind(fd, $0, $1) == 0 }
    }

    /// Calls `body` with the socket address 127.0.0.1:`port` and its length (for `bind`, `connect`).
    public static func withLoopbackAddress<T>(port: Int, _ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }

    public static func accepts(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let connected = withLoopbackAddress(port: port) { connect(fd, $0, $1) == 0 }
        guard connected else { return false }
        // A socket can connect to itself when its own ephemeral port is the one probed.
        var local = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return UInt16(bigEndian: local.sin_port) != UInt16(port)
    }

    /// Starts a server process that listens on `port` and waits until it accepts connections.
    /// `environment` is added to the test process's own.
    public static func startHTTPServer(
        _ executable: String, _ arguments: [String], port: Int, environment: [String: String] = [:]
    ) async throws -> Process {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: executable)
        child.arguments = arguments
        if !environment.isEmpty {
            child.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        child.standardInput = FileHandle.nullDevice
        child.standardOutput = FileHandle.nullDevice
        if ProcessInfo.processInfo.environment["TEST_LOG_LEVEL"] == nil { child.standardError = FileHandle.nullDevice }
        try child.run()
        let up = await eventually(within: .seconds(60)) { !child.isRunning || accepts(port: port) }
        guard up && child.isRunning else {
            if child.isRunning { child.terminate() }
            try #require(Bool(false), "\(arguments.prefix(3).joined(separator: " ")) did not start listening on \(port)")
            return child
        }
        return child
    }

    /// Ends a server started by ``startHTTPServer(_:_:port:)`` at once and waits until it is gone.
    public static func stopHTTPServer(_ child: Process) async {
        if child.isRunning { _ = kill(child.processIdentifier, SIGKILL) }
        _ = await eventually { !child.isRunning }
    }

    /// Whether a process with this pid exists (a zombie counts as existing).
    public static func processExists(_ pid: Int32) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }

    /// Polls `condition` every 100 ms until it holds or `limit` passes (a "did not hang" bound).
    public static func eventually(within limit: Duration = .seconds(20), _ condition: () throws -> Bool) async rethrows -> Bool {
        let end = ContinuousClock.now + limit
        while ContinuousClock.now < end {
            if try condition() { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return try condition()
    }
}

/// One fixture server for one test: for HTTP transports a Python process on a free loopback
/// port that the test starts, kills and restarts; for stdio only the command line, since the
/// backend starts the process itself.
public final class FixtureServer: Sendable {
    public let transport: FixtureTransport
    public let port: Int
    public let eventsPath: String
    private let python: String
    private let extraArguments: [String]
    private let environment: [String: String]
    private let process = Mutex<Process?>(nil)

    /// - Parameters:
    ///   - extraArguments: more options for `fixture_server.py` (`--page-size 3`).
    ///   - environment: more environment for an HTTP server's process (`FIXTURE_SIDE_EFFECTS=1`).
    public init(_ transport: FixtureTransport, extraArguments: [String] = [], environment: [String: String] = [:]) throws {
        self.transport = transport
        self.extraArguments = extraArguments
        self.environment = environment
        self.python = try MCPTestEnvironment.python()
        self.port = transport == .stdio ? 0 : try MCPTestEnvironment.freePort()
        self.eventsPath = FileManager.default.temporaryDirectory
            .appendingPathComponent("mcp-fixture-\(UUID().uuidString.prefix(8)).jsonl").path
    }

    private var serverArguments: [String] {
        var arguments = [MCPTestEnvironment.fixtureServer, "--events", eventsPath] + extraArguments
        switch transport {
        case .stdio: arguments += ["--transport", "stdio"]
        case .sse: arguments += ["--transport", "sse", "--port", "\(port)"]
        case .streamableHTTP: arguments += ["--transport", "streamable-http", "--port", "\(port)"]
        case .streamableHTTPJSON: arguments += ["--transport", "streamable-http", "--port", "\(port)", "--json-response"]
        }
        return arguments
    }

    public func definition(
        id: String = "fixture",
        headers: [String: String] = [:],
        environment: [String: String] = [:],
        timeout: Duration = .seconds(30)
    ) -> MCPServerDefinition {
        let kind: MCPServerDefinition.Transport
        switch transport {
        case .stdio: kind = .stdio(command: python, arguments: serverArguments, environment: environment)
        case .sse: kind = .sse(URL(string: "http://127.0.0.1:\(port)/sse")!)
        case .streamableHTTP, .streamableHTTPJSON: kind = .streamableHTTP(URL(string: "http://127.0.0.1:\(port)/mcp")!)
        }
        return MCPServerDefinition(id: id, displayName: "Fixture (\(transport.rawValue))", transport: kind, headers: headers, timeout: timeout)
    }

    /// Starts the HTTP server and waits until it accepts connections (no-op for stdio).
    public func start() async throws {
        guard transport != .stdio else { return }
        let child = try await MCPTestEnvironment.startHTTPServer(python, serverArguments, port: port, environment: environment)
        process.withLock { $0 = child }
    }

    /// Kills the HTTP server at once (SIGKILL) and waits until it is gone.
    public func kill() async {
        guard let child = process.withLock({ process in defer { process = nil }; return process }) else { return }
        await MCPTestEnvironment.stopHTTPServer(child)
    }

    /// Waits for the server process to end by itself (after `crash`), then starts it again.
    public func restartAfterCrash() async throws {
        if let child = process.withLock({ $0 }) {
            _ = await MCPTestEnvironment.eventually { !child.isRunning }
        }
        await kill()
        try await start()
    }

    public func stop() async {
        await kill()
        try? FileManager.default.removeItem(atPath: eventsPath)
    }

    /// The events the server recorded so far (see the fixture's docstring).
    public func events() -> [JSONValue] {
        guard let text = try? String(contentsOfFile: eventsPath, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            try? ContractJSON.decoder.decode(JSONValue.self, from: Data(line.utf8))
        }
    }
}


extension JSONValue {
    /// The text of the first text content block of an MCP CallToolResult.
    public var firstText: String? {
        self["content"]?[0]?["text"]?.stringValue
    }
}
