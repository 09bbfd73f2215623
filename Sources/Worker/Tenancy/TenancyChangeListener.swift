import Foundation
import Logging
import ServiceLifecycle
import Shared
import Synchronization

/// Keeps a worker's decisions fresh: `LISTEN mcpgw_tenancy` on a session of its own, and drops
/// the ``Authorizer``'s whole cache (and the catalog's) on every notification of this worker's
/// schema, so a change to grants, tool rules, tenants, credentials or servers applies within a
/// round trip. Every (re)connection drops the cache too: notifications sent while the session
/// was away are lost. While the session is away the cache is not used at all, so decisions read
/// PostgreSQL (and fail closed when it is down). The cache's TTL remains the safety net.
public final class TenancyChangeListener: Service, Sendable {
    public static let channel = "mcpgw_tenancy"

    private let listener: PostgresListener
    private let authorizer: Authorizer
    private let logger: Logger
    private let schema = Mutex<String?>(nil)
    private let invalidationCount = Atomic<Int>(0)
    private let connectionCount = Atomic<Int>(0)

    public init(configuration: PostgresConfiguration, authorizer: Authorizer, logger: Logger) {
        self.listener = PostgresListener(configuration: configuration, channels: [Self.channel], logger: logger)
        self.authorizer = authorizer
        self.logger = logger
    }

    /// How many times the cache was dropped (notifications and reconnections), for tests and metrics.
    public var invalidations: Int { invalidationCount.load(ordering: .relaxed) }
    /// How many times the listening session connected.
    public var connections: Int { connectionCount.load(ordering: .relaxed) }

    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await self.listener.run() }
            for await event in listener.events {
                switch event {
                case .connected(let schema):
                    self.schema.withLock { $0 = schema }
                    connectionCount.wrappingAdd(1, ordering: .relaxed)
                    authorizer.setCacheTrusted(true)
                    invalidate(reason: "listening session (re)connected")
                case .disconnected:
                    // Changes can no longer be heard: decide from PostgreSQL until back.
                    authorizer.setCacheTrusted(false)
                    invalidate(reason: "listening session lost")
                case .notification(_, let payload):
                    let ours = schema.withLock { schema in schema.map { payload.hasPrefix("\($0):") } ?? true }
                    if ours { invalidate(reason: payload) }
                }
            }
        }
    }

    private func invalidate(reason: String) {
        authorizer.invalidateAll()
        invalidationCount.wrappingAdd(1, ordering: .relaxed)
        logger.debug("Authorization cache dropped", metadata: ["reason": "\(reason)"])
    }
}
