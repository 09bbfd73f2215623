import Foundation
import Logging
import ServiceLifecycle
import Shared
import Synchronization

/// Tells PostgreSQL that this worker process is alive, for as long as it is: a dedicated session
/// holds a session-level advisory lock keyed by the process's instance id. The server releases
/// it the moment the session ends, however the process ended (`kill -9` included), so any worker
/// can ask "is the worker that claimed this call still alive?" with `pg_try_advisory_lock`
/// (``CallLedger/lookup(_:)``) without heartbeats or clocks.
///
/// While the session is down (a database outage) the worker looks dead to the others; a call it
/// runs meanwhile may then be answered `outcome_unknown` by a redelivery, which is truthful.
public final class WorkerPresence: Service, Sendable {
    /// The first key of every presence lock (`'mcpg'`), so that they never collide with other
    /// advisory locks (the migrator's uses a single bigint key).
    static let lockNamespace: Int32 = 0x6D63_7067

    /// The `(int4, int4)` key arguments of the presence lock of the instance id in `column`.
    static func lockKeySQL(_ column: String) -> String {
        "\(lockNamespace), hashtext(\(column)::text)"
    }

    /// A boolean SQL expression: whether the worker instance in `column` still holds its presence
    /// lock (taking the lock succeeds only when nobody holds it; it is given back at once).
    static func isAliveSQL(_ column: String) -> String {
        """
        CASE WHEN pg_try_advisory_lock(\(lockKeySQL(column))) THEN NOT pg_advisory_unlock(\(lockKeySQL(column))) ELSE true END
        """
    }

    public let instance: UUID
    private let listener: PostgresListener
    private let held = Atomic<Bool>(false)

    public init(configuration: PostgresConfiguration, instance: UUID, logger: Logger) {
        self.instance = instance
        listener = PostgresListener(
            configuration: configuration, channels: [],
            setup: ["SELECT pg_advisory_lock(\(Self.lockKeySQL("'\(instance.uuidString.lowercased())'")))"], logger: logger
        )
    }

    /// Whether the presence lock is held right now.
    public var isHeld: Bool { held.load(ordering: .relaxed) }

    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await self.listener.run() }
            for await event in listener.events {
                switch event {
                case .connected: held.store(true, ordering: .relaxed)
                case .disconnected: held.store(false, ordering: .relaxed)
                case .notification: break
                }
            }
            held.store(false, ordering: .relaxed)
        }
    }
}
