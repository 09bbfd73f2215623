import Foundation
import Testing

import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Every environment the Kubernetes overlays and the compose file give `mcp-ingress`,
/// `mcp-worker` and `mcpgw migrate`, fed to the real binaries against the local broker and
/// database: each must start and become ready. Secrets are replaced by generated ones, hosts by
/// the local services, ports by free ones; every other value is the manifest's own.
/// The environments come from `.local/manifests/startup-env.json`, written by
/// scripts/check-manifests.sh (which CI runs before the tests).
@Suite("Deployment start-up", .serialized)
struct DeploymentStartupTests {
    struct Entry: Decodable {
        var command: [String]
        var env: [String: String]
    }

    static func environments() throws -> [String: Entry] {
        let repo = URL(fileURLWithPath: try TestEnvironment.require("MCPGW_REPO"))
        let file = repo.appendingPathComponent(".local/manifests/startup-env.json")
        guard let data = try? Data(contentsOf: file) else {
            Issue.record("\(file.path) is missing: run scripts/check-manifests.sh first (CI does)")
            return [:]
        }
        return try JSONDecoder().decode([String: Entry].self, from: data)
    }

    static var binDirectory: URL {
        if let override = ProcessInfo.processInfo.environment["MCPGW_BIN_DIR"] { return URL(fileURLWithPath: override) }
        // The test bundle sits in `swift build --show-bin-path` next to the executables.
        return URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    }

    static let sources = [
        "compose/ingress", "compose/ingress-dev", "compose/migrate", "compose/worker",
        "kubernetes-dev/mcp-ingress", "kubernetes-dev/mcp-migrate", "kubernetes-dev/mcp-worker",
        "kubernetes-production/mcp-ingress", "kubernetes-production/mcp-migrate", "kubernetes-production/mcp-worker",
    ]

    @Test func everyDeploymentEnvironmentIsCovered() throws {
        let environments = try Self.environments()
        #expect(Set(environments.keys) == Set(Self.sources), "startup-env.json has \(environments.keys.sorted())")
    }

    @Test(arguments: sources)
    func startsAndBecomesReady(_ source: String) async throws {
        let entry = try #require(try Self.environments()[source], "\(source) not in startup-env.json")
        let launched = try Self.launch(entry)
        defer { launched.stop() }
        if entry.command.first == "mcpgw" {
            let status = try await launched.exit(within: .seconds(60))
            #expect(status == 0, "\(source): \(entry.command) exited \(status ?? -1)\n\(launched.output())")
            return
        }
        let port = try #require(launched.probePort)
        let ready = await Self.becomesReady(port: port, process: launched, within: .seconds(60))
        #expect(ready, "\(source): /readyz on \(port) never answered 200\n\(launched.output())")
    }

    /// A value the code refuses makes the process exit (and a probe would never pass).
    @Test(arguments: [
        ("kubernetes-production/mcp-ingress", "ENTRA_TOKEN_VERSIONS", "2"),
        ("kubernetes-production/mcp-ingress", "INGRESS_METRICS_PORT", "metrics"),
        ("kubernetes-production/mcp-worker", "WORKER_CONCURRENCY", "0"),
        ("compose/worker", "AMQP_QUEUE_TYPE", "quorum-ish"),
    ])
    func aBadValueStopsTheProcess(source: String, variable: String, value: String) async throws {
        var entry = try #require(try Self.environments()[source])
        entry.env[variable] = value
        let launched = try Self.launch(entry)
        defer { launched.stop() }
        let status = try await launched.exit(within: .seconds(30))
        #expect(status != nil && status != 0, "\(source) with \(variable)=\(value) did not exit with an error\n\(launched.output())")
        #expect(launched.output().contains(variable), "the error names \(variable)\n\(launched.output())")
    }

    // MARK: - Launching

    final class Launched: @unchecked Sendable {
        let process: Process
        let log: URL
        let probePort: Int?
        init(process: Process, log: URL, probePort: Int?) {
            self.process = process
            self.log = log
            self.probePort = probePort
        }
        /// The log without backtraces (a fatal error's message comes first).
        func output() -> String {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            return String(text.split(separator: "\n").filter { !$0.contains(" [ra] ") }.joined(separator: "\n").prefix(4000))
        }
        func stop() {
            if process.isRunning {
                process.terminate()
                process.waitUntilExit()
            }
            try? FileManager.default.removeItem(at: log)
        }
        func exit(within limit: Duration) async throws -> Int32? {
            let deadline = ContinuousClock.now + limit
            while process.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
            return process.isRunning ? nil : process.terminationStatus
        }
    }

    static func launch(_ entry: Entry) throws -> Launched {
        var env = entry.env
        let amqp = try TestEnvironment.require("AMQP_URL")
        let database = try TestEnvironment.require("DATABASE_URL")
        var probePort: Int?
        for (name, value) in env {
            switch value {
            case "@AMQP_URL": env[name] = amqp
            case "@DATABASE_URL": env[name] = database
            case "@KEY32": env[name] = Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
            case "@SECRET": env[name] = "test-1"
            case "@POD": env[name] = "startup-test-\(UUID().uuidString.prefix(8).lowercased())"
            default: break
            }
        }
        // The database remembers which key each CREDENTIALS_KEY_ID sealed with and refuses another:
        // a generated key gets an id of its own (the manifest's id with a unique suffix).
        if let id = env["CREDENTIALS_KEY_ID"], entry.env["CREDENTIALS_KEY"] == "@KEY32" {
            env["CREDENTIALS_KEY_ID"] = "\(id)-\(UUID().uuidString.prefix(8).lowercased())"
        }
        for name in ["INGRESS_PORT", "WORKER_HEALTH_PORT"] where env[name] != nil {
            let port = try TestEnvironment.freePort()
            env[name] = String(port)
            probePort = port
        }
        if env["INGRESS_METRICS_PORT"].flatMap(Int.init) != nil { env["INGRESS_METRICS_PORT"] = String(try TestEnvironment.freePort()) }
        if let jwks = env["AUTH_JWKS_URL"], jwks.hasPrefix("@DEV_KEYS/") {
            let keys = FileManager.default.temporaryDirectory.appendingPathComponent("startup-keys-\(UUID().uuidString)")
            let make = Process()
            make.executableURL = binDirectory.appendingPathComponent("mcpgw")
            make.arguments = ["dev-keys", "--dir", keys.path]
            make.standardOutput = FileHandle.nullDevice
            try make.run()
            make.waitUntilExit()
            env["AUTH_JWKS_URL"] = jwks.replacingOccurrences(of: "@DEV_KEYS", with: keys.absoluteURL.absoluteString.trimmingSuffix("/"))
        }
        env["PATH"] = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let process = Process()
        process.executableURL = binDirectory.appendingPathComponent(entry.command[0])
        process.arguments = Array(entry.command.dropFirst())
        process.environment = env
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("startup-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        return Launched(process: process, log: log, probePort: probePort)
    }

    static func becomesReady(port: Int, process: Launched, within limit: Duration) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if !process.process.isRunning { return false }
            if httpStatus(port: port, path: "/readyz") == 200 { return true }
            try? await Task.sleep(for: .milliseconds(250))
        }
        return false
    }

    /// A bare HTTP/1.0 GET on 127.0.0.1: the status code, or nil.
    static func httpStatus(port: Int, path: String) -> Int? {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return nil }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let request = Array("GET \(path) HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".utf8)
        guard send(descriptor, request, request.count, 0) == request.count else { return nil }
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = recv(descriptor, &buffer, buffer.count, 0)
        guard count > 12 else { return nil }
        let line = String(decoding: buffer[0..<count], as: UTF8.self)
        let parts = line.split(separator: " ")
        return parts.count > 1 ? Int(parts[1]) : nil
    }
}

extension String {
    fileprivate func trimmingSuffix(_ suffix: String) -> String { hasSuffix(suffix) ? String(dropLast(suffix.count)) : self }
}
