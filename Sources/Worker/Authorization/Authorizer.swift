import Foundation
import Logging
import Metrics
import Shared
import Synchronization

/// The one place that decides who may use which MCP server and tool, in which tenant, with
/// which credential. `servers/list`, `tools/list` (per tool) and `tools/call` all ask
/// ``decide(_:server:tool:cached:)``, so what a caller sees listed is exactly what they may call.
///
/// The rules (docs/tenancy.md):
/// - Deny by default: only a row of `access_grants` opens a server, for a group of the token
///   (object id, or display name through `entra_groups`), the user (`tid` + `oid`, or the user
///   principal name for identity providers other than Entra: ``Principal/nameForGrants``), or
///   an app role of the token. `*` grants every server.
/// - When several grants name the server, the most specific one names the tenant (this server
///   over `*`; user by id, user by name, group, role; then tenant id). Only that tenant's grants
///   apply to the call: a call never mixes tenants.
/// - Tool rules narrow those grants: any matching deny rule refuses the tool (deny beats allow);
///   a grant with allow rules admits only tools matching one of them.
/// - The credential is the tenant's own for the server, or the platform's when an explicit
///   `platform_credential_shares` row says so; a server that needs one and has none refuses.
/// - When PostgreSQL cannot answer, the decision is "deny" with `authorization_unavailable`.
///
/// Decisions are made from a per-principal cache of grants and a per-(tenant, server) cache of
/// opened credentials, both dropped at once by ``invalidateAll()`` (PostgreSQL `NOTIFY`, see
/// ``TenancyChangeListener``), with `cacheTTL` as a safety net.
public final class Authorizer: Sendable {
    let database: PostgresClient
    private let catalog: ServerCatalog
    private let credentials: CredentialStore
    private let cacheTTL: Duration
    private let maximumCachedPrincipals: Int
    private let cache = Mutex(CacheState())
    /// Whether cached entries may be used: only while changes are sure to be announced (the
    /// NOTIFY listener is connected). Otherwise every decision reads PostgreSQL, so a database
    /// outage fails closed instead of being papered over by the cache.
    private let cacheTrusted: Atomic<Bool>

    private struct PrincipalKey: Hashable {
        var tenantID: String
        var objectID: String
        var userName: String
        var groups: [String]
        var roles: [String]
    }

    private struct CredentialKey: Hashable {
        var tenant: String
        var server: String
    }

    private struct CacheState {
        /// Bumped by every invalidation, so that a load that started before one is not cached.
        var generation = 0
        var grants: [PrincipalKey: (grants: [AccessGrant], expires: ContinuousClock.Instant)] = [:]
        var credentials: [CredentialKey: (credential: BackendCredential?, expires: ContinuousClock.Instant)] = [:]
    }

    public init(
        database: PostgresClient, catalog: ServerCatalog? = nil, credentials: CredentialStore? = nil, cacheTTL: Duration = .seconds(60),
        maximumCachedPrincipals: Int = 10_000, cacheTrusted: Bool = true
    ) {
        self.cacheTrusted = Atomic(cacheTrusted)
        self.database = database
        self.catalog = catalog ?? ServerCatalog(database: database)
        self.credentials = credentials ?? CredentialStore(database: database, keyring: nil)
        self.cacheTTL = cacheTTL
        self.maximumCachedPrincipals = maximumCachedPrincipals
    }

    /// Trusts the cache (the listener is connected) or stops using it (the listener is away),
    /// dropping what it holds either way.
    public func setCacheTrusted(_ trusted: Bool) {
        invalidateAll()
        cacheTrusted.store(trusted, ordering: .sequentiallyConsistent)
    }

    /// Forgets every cached grant and credential (and the catalog's cache): the next decisions read PostgreSQL.
    public func invalidateAll() {
        cache.withLock { state in
            state.generation += 1
            state.grants.removeAll()
            state.credentials.removeAll()
        }
        catalog.invalidate()
    }

    /// The enabled servers `principal` has a grant for, in id order.
    public func allowedServers(for principal: Principal) async throws(GatewayError) -> [ServerRecord] {
        let grants = try await grants(for: principal, cached: true)
        let servers: [ServerRecord]
        do {
            servers = try await catalog.enabled()
        } catch {
            throw GatewayError(.authorizationUnavailable, "authorization is unavailable right now; the call was refused", detail: "\(error)")
        }
        let all = grants.contains { $0.server == "*" }
        let named = Set(grants.map(\.server))
        return servers.filter { all || named.contains($0.id) }
    }

    /// Whether `principal` may use `server` (an enabled catalog entry).
    public func isAllowed(_ principal: Principal, server: String) async throws(GatewayError) -> Bool {
        try await decide(principal, server: server, tool: nil).allowed
    }

    /// The decision for `principal` on `server` and, when given, `tool`. Throws only when the
    /// decision cannot be made (`authorization_unavailable`); a refusal is a decision with
    /// `allowed == false` and its ``AccessDecision/error``.
    ///
    /// - Parameter cached: `false` reads PostgreSQL whatever the cache holds (explain, benchmark).
    public func decide(_ principal: Principal, server: String, tool: String?, cached: Bool = true) async throws(GatewayError) -> AccessDecision {
        let found: ServerRecord?
        do {
            found = try await catalog.server(server)
        } catch {
            throw GatewayError(.authorizationUnavailable, "the server catalog is unavailable; the call was refused", detail: "\(error)")
        }
        guard var record = found else {
            return AccessDecision(
                allowed: false, server: server, tool: tool, reason: "no MCP server '\(server)' is enabled",
                error: GatewayError(.notFound, "no MCP server '\(server)' is enabled"), candidates: []
            )
        }
        let candidates = try await grants(for: principal, cached: cached).filter { $0.server == server || $0.server == "*" }
            .sorted(by: AccessGrant.byPrecedence)
        guard let first = candidates.first else {
            return deny(principal, server: server, tool: tool, candidates: candidates, reason: "no grant lets this principal use '\(server)'",
                message: "you are not allowed to use the MCP server '\(server)'")
        }
        let tenant = first.tenant
        let inTenant = candidates.filter { $0.tenant == tenant }
        var deciding = first
        var decidingRule: AccessGrant.ToolRule?
        if let tool {
            let denials = inTenant.flatMap { grant in grant.rules.filter { $0.effect == .deny && $0.matches(tool) }.map { (grant, $0) } }
            if let denial = denials.min(by: { $0.1.id < $1.1.id }) {
                let (grant, rule) = denial
                var decision = deny(principal, server: server, tool: tool, candidates: candidates,
                    reason: "\(rule) of grant #\(grant.id) denies '\(tool)' in tenant '\(tenant)'",
                    message: "the tool '\(tool)' of the MCP server '\(server)' is denied to you", tenant: tenant)
                decision.grant = grant
                decision.rule = rule
                return decision
            }
            let admitting = inTenant.lazy.compactMap { grant -> (AccessGrant, AccessGrant.ToolRule?)? in
                let allows = grant.rules.filter { $0.effect == .allow }
                if allows.isEmpty { return (grant, nil) }
                return allows.first { $0.matches(tool) }.map { (grant, $0) }
            }.first
            guard let admitting else {
                return deny(principal, server: server, tool: tool, candidates: candidates,
                    reason: "no allow rule of this principal's grants in tenant '\(tenant)' admits '\(tool)'",
                    message: "the tool '\(tool)' of the MCP server '\(server)' is not allowed for you", tenant: tenant)
            }
            deciding = admitting.0
            decidingRule = admitting.1
        }
        let credential = try await credential(tenant: tenant, server: server, cached: cached)
        if credential == nil && record.credentialRequired {
            var decision = deny(principal, server: server, tool: tool, candidates: candidates,
                reason: "'\(server)' needs a credential and tenant '\(tenant)' has none (and no share of the platform's)",
                message: "the MCP server '\(server)' needs a credential, and none is configured for your tenant '\(tenant)'; an administrator must set one",
                tenant: tenant, overageNote: false)
            decision.grant = deciding
            return decision
        }
        record.credential = credential
        return AccessDecision(
            allowed: true, server: server, tool: tool, tenant: tenant, grant: deciding, rule: decidingRule,
            reason: "\(decidingRule.map { "\($0) of " } ?? "")\(deciding) allows \(tool.map { "'\($0)'" } ?? "the server")",
            error: nil, candidates: candidates, record: record
        )
    }

    private func deny(
        _ principal: Principal, server: String, tool: String?, candidates: [AccessGrant], reason: String, message: String, tenant: String? = nil,
        overageNote: Bool = true
    ) -> AccessDecision {
        var message = message
        if overageNote && principal.groupsOverage == true {
            message += ". Your token's group list was incomplete (Entra group overage), so only your direct user grants and app roles were applied"
        }
        return AccessDecision(
            allowed: false, server: server, tool: tool, tenant: tenant, reason: reason, error: GatewayError(.forbidden, message),
            candidates: candidates
        )
    }

    // MARK: Grants

    private func grants(for principal: Principal, cached: Bool) async throws(GatewayError) -> [AccessGrant] {
        let key = PrincipalKey(
            tenantID: principal.tenantID, objectID: principal.objectID ?? "", userName: principal.nameForGrants ?? "",
            groups: principal.groups.sorted(), roles: principal.roles.sorted()
        )
        let now = ContinuousClock.now
        let (hit, generation) = cache.withLock { state in (state.grants[key].flatMap { $0.expires > now ? $0.grants : nil }, state.generation) }
        let useCache = cached && cacheTrusted.load(ordering: .sequentiallyConsistent)
        if cached { Self.countLookup("grants", hit: useCache && hit != nil) }
        if useCache, let hit { return hit }
        let loaded: [AccessGrant]
        do {
            loaded = try await loadGrants(key)
        } catch {
            throw GatewayError(.authorizationUnavailable, "authorization is unavailable right now; the call was refused", detail: "\(error)")
        }
        cache.withLock { state in
            guard useCache, state.generation == generation else { return }
            if state.grants.count >= maximumCachedPrincipals { state.grants.removeAll() }
            state.grants[key] = (loaded, now + cacheTTL)
        }
        return loaded
    }

    /// `mcpgw_worker_authorization_cache_lookups_total{cache, result}`: the decision cache's
    /// hits and misses (a miss reads PostgreSQL), for its hit ratio.
    private static func countLookup(_ cache: String, hit: Bool) {
        Counter(label: "mcpgw_worker_authorization_cache_lookups_total", dimensions: [("cache", cache), ("result", hit ? "hit" : "miss")]).increment()
    }

    private func loadGrants(_ key: PrincipalKey) async throws -> [AccessGrant] {
        try await database.query(
            """
            WITH caller_groups AS (
                SELECT unnest(\(key.groups)::text[]) AS name
                UNION
                SELECT display_name FROM entra_groups WHERE object_id = ANY(\(key.groups)::text[])
            )
            SELECT g.id, g.tenant_id, g.server_id, g.subject_kind,
                   CASE g.subject_kind
                       WHEN 'group' THEN g.group_name
                       WHEN 'role' THEN g.role_name
                       ELSE coalesce(g.user_tenant_id || '/' || g.user_object_id, g.user_email)
                   END AS subject,
                   (g.subject_kind = 'user' AND g.user_object_id IS NOT NULL AND g.user_object_id = \(key.objectID)) AS by_object,
                   coalesce(
                       (SELECT json_agg(json_build_object('id', r.id, 'effect', r.effect, 'pattern', r.pattern) ORDER BY r.id)
                        FROM tool_rules r WHERE r.grant_id = g.id),
                       '[]'::json
                   ) AS rules
            FROM access_grants g JOIN tenants t ON t.id = g.tenant_id
            WHERE (t.entra_tenant_id IS NULL OR t.entra_tenant_id = \(key.tenantID))
              AND CASE g.subject_kind
                    WHEN 'group' THEN g.group_name IN (SELECT name FROM caller_groups)
                    WHEN 'role' THEN g.role_name = ANY(\(key.roles)::text[])
                    ELSE (\(key.objectID) <> '' AND g.user_object_id = \(key.objectID) AND g.user_tenant_id = \(key.tenantID))
                         OR (\(key.userName) <> '' AND lower(g.user_email) = \(key.userName))
                  END
            ORDER BY g.id
            """
        ).map(AccessGrant.init(row:))
    }

    // MARK: Credentials

    private func credential(tenant: String, server: String, cached: Bool) async throws(GatewayError) -> BackendCredential? {
        let key = CredentialKey(tenant: tenant, server: server)
        let now = ContinuousClock.now
        let (hit, generation) = cache.withLock { state in (state.credentials[key].flatMap { $0.expires > now ? $0 : nil }, state.generation) }
        let useCache = cached && cacheTrusted.load(ordering: .sequentiallyConsistent)
        if cached { Self.countLookup("credentials", hit: useCache && hit != nil) }
        if useCache, let hit { return hit.credential }
        let loaded = try await credentials.resolve(tenant: tenant, server: server)
        cache.withLock { state in
            guard useCache, state.generation == generation else { return }
            state.credentials[key] = (loaded, now + cacheTTL)
        }
        return loaded
    }
}
