import AsyncHTTPClient
import Foundation
import Logging
import Metrics
import Shared

/// Resolves Entra's group overage: when a token says the user is in more groups than it
/// carries (`_claim_names.groups`, `hasgroups`), the user's groups are read from Microsoft
/// Graph with the gateway's app-only token for the user's tenant.
///
/// - Results are cached per `(tid, oid)`, never past the user's token's `exp` and never longer
///   than ``GraphConfiguration/maximumCacheLifetime``, so a membership removed in Entra stops
///   counting at the latest when the token it was looked up for expires.
/// - One lookup at a time per user: concurrent requests of the same user wait for it.
/// - Failures are not cached; each is reported to the caller, which then authorizes on direct
///   grants only and says why.
public actor GroupOverageResolver {
    private struct Key: Hashable {
        var tenant: String
        var objectID: String
    }

    private struct Cached {
        var groups: [String]
        var expires: Date
    }

    public let configuration: GraphConfiguration
    private let tokens: GraphAppTokenProvider
    private let memberships: GraphMembershipClient
    private let logger: Logger
    private let now: @Sendable () -> Date
    private var cache: [Key: Cached] = [:]
    private var inFlight: [Key: Task<Result<[String], GraphError>, Never>] = [:]
    /// `mcpgw_ingress_graph_lookup_failures_total`: group lookups Microsoft Graph did not answer
    /// (the user then gets only direct grants). Made at start, so the series exists at 0.
    private let failures = Counter(label: "mcpgw_ingress_graph_lookup_failures_total")
    /// Graph lookups made since start (cache misses), for diagnostics and tests.
    public private(set) var lookupCount = 0

    /// Entries kept at most; expired ones are dropped first when it is reached.
    static let maximumEntries = 50_000

    /// - Parameter now: the clock for cache and app-token lifetimes; tests may move it.
    public init(configuration: GraphConfiguration, httpClient: HTTPClient, logger: Logger, now: @escaping @Sendable () -> Date = { Date() }) {
        let http = GraphHTTP(httpClient: httpClient, timeout: configuration.timeout, logger: logger)
        self.configuration = configuration
        self.tokens = GraphAppTokenProvider(configuration: configuration, http: http, now: now)
        self.memberships = GraphMembershipClient(configuration: configuration, http: http)
        self.logger = logger
        self.now = now
    }

    /// App-only token requests made since start.
    public var appTokenRequestCount: Int {
        get async { await tokens.requestCount }
    }

    /// The ids (lowercase) of every group `objectID` of `tenant` is a member of, directly or
    /// through nested groups.
    /// - Parameter tokenExpiry: the user token's `exp`: the answer is not reused after it.
    public func groups(tenant: String, objectID: String, tokenExpiry: Date) async throws(GraphError) -> [String] {
        // Both go into URLs; Entra's are GUIDs, and anything else is not looked up.
        guard EntraProfile.isGUID(tenant), EntraProfile.isGUID(objectID) else {
            throw GraphError("the token's tid or oid is not a GUID, so its groups cannot be looked up")
        }
        let key = Key(tenant: tenant.lowercased(), objectID: objectID.lowercased())
        if let cached = cache[key], now() < cached.expires { return cached.groups }
        let task: Task<Result<[String], GraphError>, Never>
        if let running = inFlight[key] {
            task = running
        } else {
            // Unstructured on purpose: shared by every request of this user waiting on it, so
            // one caller's cancellation does not fail the others. Bounded by the HTTP timeouts.
            task = Task { await self.lookUp(key) }
            inFlight[key] = task
        }
        let result = await task.value
        if inFlight[key] == task { inFlight[key] = nil }
        let groups = try result.get()
        let expires = min(tokenExpiry, now().addingTimeInterval(configuration.maximumCacheLifetime / .seconds(1)))
        store(groups, for: key, until: expires)
        return groups
    }

    private func lookUp(_ key: Key) async -> Result<[String], GraphError> {
        lookupCount += 1
        do throws(GraphError) {
            let token = try await tokens.token(tenant: key.tenant)
            do throws(GraphError) {
                let groups = try await memberships.groupIDs(objectID: key.objectID, token: token)
                logger.debug("Group overage resolved through Microsoft Graph", metadata: ["principal_tid": "\(key.tenant)", "groups": "\(groups.count)"])
                return .success(groups)
            } catch {
                // A token Graph refuses (revoked consent, rotated secret) must not be reused.
                if error.status == 401 { await tokens.invalidate(tenant: key.tenant, token: token) }
                throw error
            }
        } catch {
            failures.increment()
            logger.warning(
                "Group overage could not be resolved; only direct grants apply",
                metadata: ["principal_tid": "\(key.tenant)", LogKeys.error: "\(error.reason)"]
            )
            return .failure(error)
        }
    }

    private func store(_ groups: [String], for key: Key, until expires: Date) {
        let now = now()
        guard expires > now else { return }
        if cache.count >= Self.maximumEntries {
            cache = cache.filter { $0.value.expires > now }
            if cache.count >= Self.maximumEntries { cache.removeAll(keepingCapacity: true) }
        }
        cache[key] = Cached(groups: groups, expires: expires)
    }
}
