import AsyncHTTPClient
import Foundation
import JWTKit
import Logging
import Metrics
import Shared

/// The signing keys of every configured issuer, by JWKS URL, kept the way Microsoft
/// recommends for Entra ID (and sensible for any issuer):
///
/// - loaded on first use and refreshed in the background by ``JWKSRefresher``;
/// - refreshed when a token names an unknown `kid`, at most once per the source's
///   ``JWKSSource/minimumRefreshInterval``, so a stream of forged `kid`s cannot make the gateway
///   hammer the issuer;
/// - one fetch at a time per URL: concurrent requests wait for the same fetch;
/// - the last good set stays in use when a fetch fails; a successful fetch replaces the set
///   whole, so a key the issuer stopped publishing stops being accepted;
/// - a set that never loaded fails closed: ``AuthenticationError/Code/keysUnavailable``.
///
/// Only the configured URLs are ever fetched, whatever a token says.
public actor JWKSCache {
    private struct Entry {
        let source: JWKSSource
        var keySet: JWKSKeySet?
        var loadedAt: ContinuousClock.Instant?
        var loadedDate: Date?
        var lastFailureAt: ContinuousClock.Instant?
        var lastFailure: String?
        var lastUnknownKeyRefreshAt: ContinuousClock.Instant?
        var inFlight: Task<Void, Never>?
        var fetchCount = 0
    }

    private var entries: [URL: Entry] = [:]
    private let loader: JWKSLoader
    private let logger: Logger
    private let clock = ContinuousClock()
    /// While a set has never loaded, requests may cause a fetch at most this often: often
    /// enough to recover quickly, rarely enough not to hammer an issuer that is down.
    private let unloadedRetryInterval: Duration
    /// `mcpgw_ingress_jwks_refresh_failures_total`: fetches of a key set that failed. Made at
    /// start, so the series exists (at 0) before the first failure.
    private let failures = Counter(label: "mcpgw_ingress_jwks_refresh_failures_total")

    /// The URLs of `sources` are the only ones this cache will ever fetch.
    public init(
        sources: [JWKSSource],
        httpClient: HTTPClient,
        fetchTimeout: Duration = .seconds(5),
        unloadedRetryInterval: Duration = .seconds(5),
        logger: Logger
    ) {
        for source in sources where entries[source.url] == nil {
            entries[source.url] = Entry(source: source)
        }
        self.loader = JWKSLoader(httpClient: httpClient, timeout: fetchTimeout, logger: logger)
        self.unloadedRetryInterval = unloadedRetryInterval
        self.logger = logger
    }

    /// A cache for every key set the configuration names.
    public init(configuration: AuthenticationConfiguration, httpClient: HTTPClient, logger: Logger) {
        self.init(sources: configuration.keySources, httpClient: httpClient, fetchTimeout: configuration.keyFetchTimeout, logger: logger)
    }

    /// The RS256 verifier for `kid` in the set at `url`, fetching the set first if it never
    /// loaded or (rate limited) if it does not know `kid`.
    func signingKey(kid: String, url: URL) async throws(AuthenticationError) -> JWTKeyCollection {
        guard let entry = entries[url] else {
            throw AuthenticationError(.keysUnavailable, Self.unavailableMessage, detail: "no key source configured for \(url)")
        }
        if let key = entry.keySet?.keys[kid] { return key }

        let now = clock.now
        if let inFlight = entry.inFlight {
            await inFlight.value
        } else if entry.keySet == nil {
            if entry.lastFailureAt.map({ $0.duration(to: now) >= unloadedRetryInterval }) ?? true {
                await fetch(url, reason: "first use")
            }
        } else if entry.lastUnknownKeyRefreshAt.map({ $0.duration(to: now) >= entry.source.minimumRefreshInterval }) ?? true {
            entries[url]?.lastUnknownKeyRefreshAt = now
            logger.info("Unknown signing key id; refreshing the key set", metadata: ["jwks_url": "\(url)", "jwt_kid": "\(kid.escapedForDetail)"])
            await fetch(url, reason: "unknown kid")
        }

        guard let current = entries[url] else { throw AuthenticationError(.keysUnavailable, Self.unavailableMessage) }
        if let key = current.keySet?.keys[kid] { return key }
        guard current.keySet != nil else {
            throw AuthenticationError(
                .keysUnavailable, Self.unavailableMessage,
                detail: "key set \(url) never loaded: \(current.lastFailure ?? "no fetch yet")"
            )
        }
        throw AuthenticationError(
            .unknownKey, "The token is signed with a key its issuer does not publish.",
            detail: "kid \(kid.escapedForDetail) not in \(url)"
        )
    }

    /// Fetches every key set whose last successful load is older than `age` (or that never
    /// loaded), concurrently; what ``JWKSRefresher`` calls on every tick.
    public func refresh(olderThan age: Duration) async {
        let now = clock.now
        let due = entries.values.filter { entry in entry.loadedAt.map { $0.duration(to: now) >= age } ?? true }.map(\.source.url)
        await withDiscardingTaskGroup { group in
            for url in due {
                group.addTask { await self.fetch(url, reason: "scheduled refresh") }
            }
        }
    }

    /// Fetches every key set now.
    public func refreshAll() async {
        await refresh(olderThan: .zero)
    }

    /// What each key set holds, for readiness checks and diagnostics.
    public func status() -> [JWKSStatus] {
        entries.values.map { entry in
            JWKSStatus(
                url: entry.source.url,
                keyIDs: entry.keySet.map { $0.keys.keys.sorted() } ?? [],
                isLoaded: entry.keySet != nil,
                lastLoaded: entry.loadedDate,
                lastFailure: entry.lastFailure,
                fetchCount: entry.fetchCount
            )
        }
        .sorted { $0.url.absoluteString < $1.url.absoluteString }
    }

    /// `true` when every key set has loaded at least once.
    public var isReady: Bool {
        entries.values.allSatisfy { $0.keySet != nil }
    }

    /// Starts a fetch of `url` unless one is running, and waits for it either way.
    private func fetch(_ url: URL, reason: String) async {
        guard let entry = entries[url] else { return }
        if let inFlight = entry.inFlight {
            await inFlight.value
            return
        }
        // Unstructured on purpose: the fetch belongs to every request waiting on it, so one
        // waiter's cancellation must not cancel it for the others. It is bounded by the
        // loader's timeout.
        let task = Task { await self.performFetch(url, reason: reason) }
        entries[url]?.inFlight = task
        await task.value
    }

    private func performFetch(_ url: URL, reason: String) async {
        entries[url]?.fetchCount += 1
        let result: Result<JWKSKeySet, JWKSLoadError>
        let source = entries[url]?.source ?? JWKSSource(url: url, minimumRefreshInterval: .zero)
        do {
            result = .success(try await loader.load(source))
        } catch {
            result = .failure(error)
        }
        guard var entry = entries[url] else { return }
        entry.inFlight = nil
        switch result {
        case .success(let keySet):
            let previous = entry.keySet.map { Set($0.keys.keys) }
            entry.keySet = keySet
            entry.loadedAt = clock.now
            entry.loadedDate = Date()
            entry.lastFailure = nil
            if previous != Set(keySet.keys.keys) {
                logger.info(
                    "Signing keys loaded",
                    metadata: [
                        "jwks_url": "\(url)", "jwks_reason": "\(reason)", "jwks_kids": "\(keySet.keys.keys.sorted().joined(separator: ","))",
                    ]
                )
            }
            if !keySet.skipped.isEmpty {
                logger.debug("Signing keys skipped", metadata: ["jwks_url": "\(url)", "jwks_skipped": "\(keySet.skipped.joined(separator: "; "))"])
            }
        case .failure(let error):
            entry.lastFailureAt = clock.now
            entry.lastFailure = error.description
            failures.increment()
            logger.warning(
                entry.keySet == nil ? "Signing keys unavailable; tokens from this issuer are refused" : "Signing key refresh failed; keeping the last good set",
                metadata: ["jwks_url": "\(url)", "jwks_reason": "\(reason)", LogKeys.error: "\(error)"]
            )
        }
        entries[url] = entry
    }

    private static let unavailableMessage = "The token signing keys are unavailable; try again later."
}
