import Logging
import ServiceLifecycle

/// Keeps every key set of a ``JWKSCache`` fresh: loads them all at start, then fetches each
/// again once it is ``interval`` old (Microsoft: hourly). Sets that failed are retried every
/// ``retryInterval``. Add it to the application's services; it stops on graceful shutdown.
public struct JWKSRefresher: Service {
    public let cache: JWKSCache
    public let interval: Duration
    public let retryInterval: Duration

    public init(cache: JWKSCache, interval: Duration = .seconds(3600), retryInterval: Duration = .seconds(30)) {
        self.cache = cache
        self.interval = interval
        self.retryInterval = retryInterval
    }

    public init(cache: JWKSCache, configuration: AuthenticationConfiguration) {
        self.init(cache: cache, interval: configuration.keyRefreshInterval)
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            let tick = min(interval, retryInterval)
            while !Task.isCancelled {
                await cache.refresh(olderThan: interval)
                do {
                    try await Task.sleep(for: tick)
                } catch {
                    return
                }
            }
        }
    }
}
