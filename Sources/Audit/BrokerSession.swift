import Logging
import Shared

/// A short-lived broker connection for an operator's command: connects (or fails with
/// ``AuditFailure/Code/brokerDown``), declares nothing, and closes when `body` returns.
public enum BrokerSession {
    public static func with<T: Sendable>(
        _ configuration: AMQPConfiguration, logger: Logger, _ body: @Sendable (AMQPConnection) async throws -> T
    ) async throws -> T {
        let connection = AMQPConnection(configuration: configuration, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await connection.run() }
            defer { group.cancelAll() }
            do {
                try await connection.waitUntilConnected(timeout: configuration.connectTimeout + configuration.handshakeTimeout)
            } catch {
                await connection.close()
                throw AuditFailure(.brokerDown, "cannot reach the broker at \(configuration.redactedURL): \(error)")
            }
            do {
                let result = try await body(connection)
                await connection.close()
                return result
            } catch {
                await connection.close()
                throw error
            }
        }
    }

    /// Turns a broker refusal of `queue` into the failure an operator can act on.
    public static func failure(_ error: any Error, queue: String) -> any Error {
        guard let amqp = error as? AMQPError else { return error }
        if amqp.replyCode == 404 { return AuditFailure(.missingStream, "'\(queue)' does not exist on the broker (check AMQP_AUDIT_STREAM / AMQP_DEAD_LETTER_QUEUE and the vhost)") }
        if amqp.code == .notConnected || amqp.code == .connectionLost || amqp.code == .connectionFailed {
            return AuditFailure(.brokerDown, "lost the broker: \(amqp)")
        }
        return error
    }
}
