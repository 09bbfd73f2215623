import Foundation
import Shared
import Synchronization

/// Tells whether a server id has a request queue, i.e. whether any worker can ever take calls
/// for it. Every request is also captured by the audit stream, so a publish to an unknown server
/// would be confirmed and then never answered; this check turns it into a prompt 404.
///
/// Answers are cached (positive longer than negative), so the check costs a broker round trip
/// only now and then.
public final class ServerDirectory: Sendable {
    private let amqp: AMQPConnection
    private let topology: GatewayTopology
    private let positiveTTL: Duration
    private let negativeTTL: Duration
    private let cache = Mutex<[String: (exists: Bool, until: ContinuousClock.Instant)]>([:])

    public init(amqp: AMQPConnection, topology: GatewayTopology, positiveTTL: Duration = .seconds(30), negativeTTL: Duration = .seconds(2)) {
        self.amqp = amqp
        self.topology = topology
        self.positiveTTL = positiveTTL
        self.negativeTTL = negativeTTL
    }

    public func exists(_ server: String) async throws(GatewayError) -> Bool {
        guard RequestEnvelope.isValidServerID(server) else { return false }
        let now = ContinuousClock.now
        if let cached = cache.withLock({ $0[server] }), cached.until > now { return cached.exists }
        let exists: Bool
        do {
            _ = try await amqp.queueStatus(topology.queue(forServer: server))
            exists = true
        } catch let error as AMQPError where error.replyCode == 404 {
            exists = false
        } catch let error as AMQPError {
            throw RPCClient.publishFailure(error, kind: .listServers)
        } catch {
            throw GatewayError(.unavailable, "the message broker is unreachable")
        }
        cache.withLock { $0[server] = (exists, now + (exists ? positiveTTL : negativeTTL)) }
        return exists
    }
}
