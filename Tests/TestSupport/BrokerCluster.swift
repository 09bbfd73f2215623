import Foundation
import Testing

/// A throwaway three-node RabbitMQ cluster of the test's own (`scripts/rabbitmq-cluster.sh`):
/// nodes `name-1..3` on AMQP ports `basePort`, `basePort + 1`, `basePort + 2` (loopback).
public struct BrokerCluster: Sendable {
    public let name: String
    public let basePort: Int

    /// Node 1's URL; with ``addresses`` the client reaches all three.
    public var url: String { "amqp://guest:guest@127.0.0.1:\(basePort)/%2f" }
    /// `AMQP_ADDRESSES` for the three nodes, node 1 first.
    public var addresses: String { (0..<3).map { "127.0.0.1:\(basePort + $0)" }.joined(separator: ",") }

    public func port(ofNode index: Int) -> Int { basePort + index - 1 }

    /// Starts the cluster and waits until it has three running members (a minute or two).
    public static func start(_ prefix: String) async throws -> BrokerCluster {
        let cluster = BrokerCluster(name: "\(prefix)-\(UUID().uuidString.prefix(6).lowercased())", basePort: try freeBasePort())
        do {
            try await cluster.run("start", timeout: .seconds(300))
        } catch {
            await cluster.destroy()
            throw error
        }
        return cluster
    }

    /// `kill -9` of node `index`'s Erlang VM.
    public func kill(node index: Int) async throws {
        try await run("kill", ["\(index)"])
    }

    /// Brings a killed node back into the cluster.
    public func startNode(_ index: Int) async throws {
        try await run("start-node", ["\(index)"], timeout: .seconds(300))
    }

    /// The index (1...3) of the node that leads quorum queue `queue`.
    public func leader(of queue: String) async throws -> Int {
        let output = try await run("leader", [queue])
        return try #require(Int(output.trimmingCharacters(in: .whitespacesAndNewlines)), "leader printed '\(output)'")
    }

    /// The indexes of the nodes holding a replica of quorum queue `queue`, ascending.
    public func members(of queue: String) async throws -> [Int] {
        try await run("members", [queue]).split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
    }

    @discardableResult
    public func run(_ command: String, _ arguments: [String] = [], timeout: Duration = .seconds(180)) async throws -> String {
        let script = try ScriptRunner.requireScript("rabbitmq-cluster.sh")
        let result = try await ScriptRunner.run(script, [command, name, "\(basePort)"] + arguments, timeout: timeout)
        try #require(result.succeeded, "\(result)")
        return result.stdout
    }

    /// Stops the nodes and removes their files.
    public func destroy() async {
        _ = try? await run("stop")
        guard let scripts = ProcessInfo.processInfo.environment["MCPGW_SCRIPTS"] else { return }
        let local = URL(fileURLWithPath: scripts).deletingLastPathComponent().appendingPathComponent(".local/rabbitmq")
        for path in ["\(name)-1", "\(name)-2", "\(name)-3", "\(name).cookie", ".\(name)-1.lock", ".\(name)-2.lock", ".\(name)-3.lock"] {
            try? FileManager.default.removeItem(at: local.appendingPathComponent(path))
        }
    }

    /// Three consecutive free ports, each with its distribution port (+10000) free too.
    private static func freeBasePort() throws -> Int {
        for _ in 0..<200 {
            let base = Int.random(in: 20_000...29_997)
            let ports = (0..<3).flatMap { [base + $0, base + $0 + 10_000] }
            if ports.allSatisfy(MCPTestEnvironment.canBind) { return base }
        }
        try #require(Bool(false), "no three free ports found")
        return 0
    }
}
