import Foundation
import Logging
import Shared

/// Broadcasts "cancel call X" to every worker through the cancellation fanout exchange, so the
/// call stops wherever it runs (or is skipped wherever it is still queued), whichever ingress
/// replica the client's cancellation reached.
public struct CallCanceller: Sendable {
    let amqp: AMQPConnection
    let topology: GatewayTopology
    let signer: EnvelopeSigner

    public init(amqp: AMQPConnection, topology: GatewayTopology, signer: EnvelopeSigner) {
        self.amqp = amqp
        self.topology = topology
        self.signer = signer
    }

    /// Best effort: a cancellation that cannot be published is logged; the call then ends at
    /// its deadline as it would have anyway.
    public func cancel(callID: String, reason: String?, logger: Logger) async {
        do {
            let (body, headers) = try CancellationMessage(callID: callID, reason: reason).signed(with: signer)
            var table: AMQPTable = [:]
            for (name, value) in headers { table[name] = .string(value) }
            try await amqp.publish(
                body, exchange: topology.cancelExchange, routingKey: "",
                properties: AMQPProperties(contentType: "application/json", headers: table, correlationID: callID, type: "cancel", appID: "mcp-ingress"),
                mandatory: false
            )
            logger.info("Cancellation broadcast", metadata: [LogKeys.callID: "\(callID)", "reason": "\(reason ?? "-")"])
        } catch {
            logger.warning("Cancellation not broadcast", metadata: [LogKeys.callID: "\(callID)", LogKeys.error: "\(error)"])
        }
    }
}
