import Foundation
import Logging
import Testing

import Shared

public enum AMQPTest {
    public static func configuration(url: String? = nil, name: String = "test", heartbeat: Int = 30) throws -> AMQPConfiguration {
        var configuration = try AMQPConfiguration(url: url ?? TestEnvironment.require("AMQP_URL"), connectionName: TestEnvironment.uniqueName(name))
        configuration.heartbeatSeconds = heartbeat
        configuration.reconnectMinimum = .milliseconds(50)
        configuration.reconnectMaximum = .milliseconds(500)
        configuration.publishTimeout = .seconds(10)
        return configuration
    }

    /// Runs `body` with a connected client, and closes it afterwards whatever happens.
    public static func withConnection<T: Sendable>(
        _ configuration: AMQPConfiguration? = nil,
        topology: AMQPTopology = AMQPTopology(),
        _ body: (AMQPConnection) async throws -> T
    ) async throws -> T {
        let connection = AMQPConnection(configuration: try configuration ?? Self.configuration(), topology: topology, logger: TestEnvironment.logger)
        async let running: Void = connection.run()
        do {
            try await connection.waitUntilConnected(timeout: .seconds(20))
            let result = try await body(connection)
            await connection.close()
            await running
            return result
        } catch {
            await connection.close()
            await running
            throw error
        }
    }

    /// A direct exchange and a classic queue bound to it with routing key `key`, unique to one test.
    public static func scratchTopology(queueArguments: AMQPTable = [:]) -> (topology: AMQPTopology, exchange: String, queue: String) {
        let exchange = TestEnvironment.uniqueName("x")
        let queue = TestEnvironment.uniqueName("q")
        let topology = AMQPTopology(
            exchanges: [.init(name: exchange, kind: .direct, durable: false, autoDelete: true)],
            queues: [.init(name: queue, durable: false, autoDelete: false, arguments: queueArguments)],
            bindings: [.init(queue: queue, exchange: exchange, routingKey: "key")]
        )
        return (topology, exchange, queue)
    }

    /// The next delivery, or a test failure after `timeout` (the test must not hang).
    public static func next(
        _ iterator: inout AsyncStream<AMQPDelivery>.AsyncIterator,
        timeout: Duration = .seconds(15)
    ) async throws -> AMQPDelivery {
        let box = IteratorBox(iterator)
        let delivery = try await withThrowingTaskGroup(of: AMQPDelivery?.self) { group in
            group.addTask { await box.next() }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            return try await group.next() ?? nil
        }
        iterator = box.iterator
        return try #require(delivery, "no delivery within \(timeout)")
    }

    /// Lets a child task advance an iterator and hand it back.
    public final class IteratorBox: @unchecked Sendable {
        // Only one task at a time touches the iterator: `next(_:)` awaits the child that uses it.
        var iterator: AsyncStream<AMQPDelivery>.AsyncIterator
        init(_ iterator: AsyncStream<AMQPDelivery>.AsyncIterator) { self.iterator = iterator }
        func next() async -> AMQPDelivery? { await iterator.next() }
    }
}
