import Foundation

import Shared

/// A throwaway RabbitMQ node of the test's own (`scripts/rabbitmq-node.sh`), for tests that
/// restart the broker or raise alarms and so must not disturb the shared one.
public struct BrokerNode: Sendable {
    public let name: String
    public let port: Int

    public init(name: String, port: Int) {
        self.name = name
        self.port = port
    }

    public var url: String { "amqp://guest:guest@127.0.0.1:\(port)/%2f" }

    public static func start(_ prefix: String) async throws -> BrokerNode {
        let node = BrokerNode(name: "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())", port: try TestEnvironment.freePort(alsoFreeAt: 10_000))
        try await node.run("start")
        return node
    }

    public func run(_ command: String, _ arguments: [String] = []) async throws {
        try await TestEnvironment.runScript("rabbitmq-node.sh", [command, name, "\(port)"] + arguments)
    }

    /// Stops the node and removes its files.
    public func destroy() async {
        try? await run("stop")
        if let repo = ProcessInfo.processInfo.environment["MCPGW_SCRIPTS"].map({ URL(fileURLWithPath: $0).deletingLastPathComponent() }) {
            try? FileManager.default.removeItem(at: repo.appendingPathComponent(".local/rabbitmq/\(name)"))
        }
    }
}
