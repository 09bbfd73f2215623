import Foundation
import Synchronization
import Testing
import TestSupport

@testable import Shared

/// Recovery and back-pressure, each against a broker node of the test's own.
@Suite struct AMQPRecoveryTests {
    @Test func clientRecoversByItselfWhenTheBrokerRestartsUnderTraffic() async throws {
        let node = try await BrokerNode.start("restart")
        do {
            try await restartUnderTraffic(node)
        } catch {
            await node.destroy()
            throw error
        }
        await node.destroy()
    }

    private func restartUnderTraffic(_ node: BrokerNode) async throws {
        let queue = "work"
        let topology = AMQPTopology(queues: [.init(name: queue, durable: true)])
        try await AMQPTest.withConnection(try AMQPTest.configuration(url: node.url), topology: topology) { amqp in
            let received = Mutex<Set<String>>([])
            let consumer = try await amqp.consume(queue: queue, prefetch: 50)
            let consuming = Task {
                for await delivery in consumer {
                    received.withLock { _ = $0.insert(delivery.properties.messageID ?? "") }
                    try? await amqp.ack(delivery)
                }
            }
            defer { consuming.cancel() }

            let firstGeneration = amqp.status.generation
            let stop = Atomic<Bool>(false)
            let publishing = Task { () -> (confirmed: [String], failures: [AMQPError.Code]) in
                var confirmed: [String] = []
                var failures: [AMQPError.Code] = []
                var index = 0
                while !stop.load(ordering: .relaxed) {
                    index += 1
                    let id = "m\(index)"
                    do {
                        try await amqp.publish(
                            Array(id.utf8), exchange: "", routingKey: queue, properties: AMQPProperties(persistent: true, messageID: id),
                            timeout: .seconds(5)
                        )
                        confirmed.append(id)
                    } catch let error as AMQPError {
                        failures.append(error.code)
                        try? await Task.sleep(for: .milliseconds(50))
                    } catch {
                        Issue.record("untyped publish error: \(error)")
                    }
                    try? await Task.sleep(for: .milliseconds(5))
                }
                return (confirmed, failures)
            }

            try await Task.sleep(for: .seconds(1))
            try await node.run("restart")
            try await amqp.waitUntilConnected(timeout: .seconds(60))
            #expect(amqp.status.generation > firstGeneration)
            // Keep publishing on the new connection for a moment, then stop.
            try await Task.sleep(for: .seconds(2))
            stop.store(true, ordering: .relaxed)
            let outcome = await publishing.value

            let allowed: Set<AMQPError.Code> = [.notConnected, .connectionLost, .publishTimeout, .connectionClosedByBroker]
            #expect(Set(outcome.failures).isSubset(of: allowed), "unexpected failures: \(outcome.failures)")
            #expect(!outcome.failures.isEmpty, "the restart went unnoticed by the publisher")
            let lastConfirmed = try #require(outcome.confirmed.last)
            // Every confirmed, persistent message reaches the re-created consumer.
            let confirmed = Set(outcome.confirmed)
            _ = try await eventually(timeout: .seconds(30)) { received.withLock { confirmed.isSubset(of: $0) } ? true : nil }
            #expect(received.withLock { $0.contains(lastConfirmed) })
        }
    }

    @Test func publishFailsFastWithBlockedWhileTheBrokerIsOutOfMemory() async throws {
        let node = try await BrokerNode.start("blocked")
        do {
            try await blockedPublisher(node)
        } catch {
            await node.destroy()
            throw error
        }
        await node.destroy()
    }

    private func blockedPublisher(_ node: BrokerNode) async throws {
        let queue = "work"
        let topology = AMQPTopology(queues: [.init(name: queue, durable: true)])
        try await AMQPTest.withConnection(try AMQPTest.configuration(url: node.url), topology: topology) { amqp in
            let events = Mutex<[String]>([])
            amqp.addObserver { event in
                if case .blocked(let reason) = event { events.withLock { $0.append(reason) } }
            }
            try await amqp.publish(Array("before".utf8), exchange: "", routingKey: queue)

            try await node.run("ctl", ["set_vm_memory_high_watermark", "absolute", "10MB"])
            // The broker sends connection.blocked once this connection publishes again.
            _ = try await eventually(timeout: .seconds(30)) { () -> Bool? in
                if amqp.status.blocked { return true }
                try? await amqp.publish(Array("nudge".utf8), exchange: "", routingKey: queue, timeout: .milliseconds(500))
                return amqp.status.blocked ? true : nil
            }
            #expect(events.withLock { $0.first?.contains("memory") } == true)

            let error = await #expect(throws: AMQPError.self) {
                try await amqp.publish(Array("during".utf8), exchange: "", routingKey: queue, timeout: .seconds(30))
            }
            #expect(error?.code == .blocked)

            try await node.run("ctl", ["set_vm_memory_high_watermark", "0.4"])
            _ = try await eventually(timeout: .seconds(30)) { amqp.status.blocked ? nil : true }
            try await amqp.publish(Array("after".utf8), exchange: "", routingKey: queue)
        }
    }
}
