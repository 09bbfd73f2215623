import Crypto
import Foundation
import Shared
import TestSupport
import Testing
import Worker

/// The decision function against the real PostgreSQL: which tenant a principal in several gets,
/// that tenants never mix, tenant binding to an Entra directory, and the cache.
@Suite struct AuthorizerDecisionTests {
    static func principal(groups: [String] = [], tid: String = "tid-a", oid: String? = nil) -> Principal {
        Principal(subject: oid ?? "someone", objectID: oid, tenantID: tid, groups: groups, authenticationMethod: .localDev)
    }

    static func withModel(_ body: @Sendable (PostgresClient, GrantStore, CredentialKeyring) async throws -> Void) async throws {
        try await PostgresTestDatabase.withSchema { database in
            try await database.withClient { client in
                _ = try await Migrator(client: client, migrations: try Migration.bundled(), logger: PostgresTestDatabase.logger).migrate()
                let catalog = ServerCatalog(database: client)
                for id in ["github", "notion"] {
                    try await catalog.upsert(ServerRecord(id: id, displayName: id, transport: .streamableHTTP, url: "http://127.0.0.1:1/mcp"))
                }
                let grants = GrantStore(database: client)
                try await grants.upsertTenant(id: "google", displayName: "Google")
                try await grants.upsertTenant(id: "acmecorp", displayName: "AcmeCorp")
                try await body(client, grants, CredentialKeyring(currentKeyID: "t1", currentKey: SymmetricKey(size: .bits256)))
            }
        }
    }

    @Test func aPrincipalInSeveralTenantsGetsTheTenantOfTheMostSpecificGrantAndItsCredential() async throws {
        try await Self.withModel { client, grants, keyring in
            try await grants.grantGroup("MCP-Admin", server: "*", tenant: "default")
            try await grants.grantGroup("Tenant-Google", server: "github", tenant: "google")
            let credentials = CredentialStore(database: client, keyring: keyring)
            try await credentials.set(tenant: "google", server: "github", target: .header, name: "Authorization", value: Array("Bearer g".utf8))
            try await credentials.set(tenant: "default", server: "github", target: .header, name: "Authorization", value: Array("Bearer d".utf8))
            let authorizer = Authorizer(database: client, credentials: credentials)
            let both = Self.principal(groups: ["MCP-Admin", "Tenant-Google"])

            let github = try await authorizer.decide(both, server: "github", tool: "search")
            #expect(github.allowed && github.tenant == "google")
            #expect(github.credential?.headers["Authorization"] == "Bearer g")
            #expect(github.candidates.map(\.tenant) == ["google", "default"])
            let notion = try await authorizer.decide(both, server: "notion", tool: nil)
            #expect(notion.allowed && notion.tenant == "default")
            #expect(notion.credential == nil)
            // A user grant beats both group grants.
            try await grants.grantUser(email: nil, tenantID: "tid-a", objectID: "oid-1", server: "github", tenant: "acmecorp")
            let user = try await authorizer.decide(Self.principal(groups: ["MCP-Admin", "Tenant-Google"], oid: "oid-1"), server: "github", tool: nil, cached: false)
            #expect(user.tenant == "acmecorp")
        }
    }

    @Test func toolRulesOfAnotherTenantNeverApplyAndDenyBeatsAllowWithinOne() async throws {
        try await Self.withModel { client, grants, _ in
            try await grants.grantGroup("Tenant-Google", server: "github", tenant: "google")
            try await grants.grantGroup("Readers", server: "github", tenant: "google")
            // A wider grant (every server) in another tenant, with a deny rule of its own.
            try await grants.grantGroup("Acme", server: "*", tenant: "acmecorp")
            let all = try await grants.grants()
            let google = try #require(all.first { $0.subject == "Tenant-Google" })
            let readers = try #require(all.first { $0.subject == "Readers" })
            let acme = try #require(all.first { $0.subject == "Acme" })
            _ = try await grants.addToolRule(grantID: readers.id, effect: .deny, pattern: "delete_*")
            _ = try await grants.addToolRule(grantID: acme.id, effect: .deny, pattern: "search*")
            _ = try await grants.addToolRule(grantID: google.id, effect: .allow, pattern: "*")
            let authorizer = Authorizer(database: client)
            let person = Self.principal(groups: ["Tenant-Google", "Readers", "Acme"])
            let delete = try await authorizer.decide(person, server: "github", tool: "delete_repo")
            #expect(!delete.allowed)
            #expect(delete.rule?.pattern == "delete_*")
            #expect(delete.error?.code == .forbidden)
            // The call runs in tenant google: acmecorp's deny rule does not reach into it.
            let search = try await authorizer.decide(person, server: "github", tool: "search_code")
            #expect(search.allowed && search.tenant == "google")
        }
    }

    @Test func aTenantBoundToAnEntraDirectoryAdmitsOnlyItsTokens() async throws {
        try await Self.withModel { client, grants, _ in
            try await grants.upsertTenant(id: "google", displayName: "Google", entraTenantID: "tid-google")
            try await grants.grantGroup("Tenant-Google", server: "github", tenant: "google")
            let authorizer = Authorizer(database: client)
            #expect(try await authorizer.decide(Self.principal(groups: ["Tenant-Google"], tid: "tid-google"), server: "github", tool: nil).allowed)
            // The same group name in another directory's token grants nothing.
            #expect(!(try await authorizer.decide(Self.principal(groups: ["Tenant-Google"], tid: "tid-elsewhere"), server: "github", tool: nil).allowed))
        }
    }

    @Test func theCacheHoldsADecisionUntilInvalidatedAndIsBypassedWhenNotTrusted() async throws {
        try await Self.withModel { client, grants, _ in
            try await grants.grantGroup("Team", server: "github")
            let authorizer = Authorizer(database: client, cacheTTL: .seconds(3600))
            let member = Self.principal(groups: ["Team"])
            #expect(try await authorizer.decide(member, server: "github", tool: nil).allowed)
            try await grants.revokeGroup("Team", server: "github")
            // Cached (no listener here): still allowed; uncached: denied.
            #expect(try await authorizer.decide(member, server: "github", tool: nil).allowed)
            #expect(!(try await authorizer.decide(member, server: "github", tool: nil, cached: false).allowed))
            authorizer.invalidateAll()
            #expect(!(try await authorizer.decide(member, server: "github", tool: nil).allowed))
            // Not trusted (listener away): every decision reads PostgreSQL.
            try await grants.grantGroup("Team", server: "github")
            authorizer.setCacheTrusted(false)
            #expect(try await authorizer.decide(member, server: "github", tool: nil).allowed)
            try await grants.revokeGroup("Team", server: "github")
            #expect(!(try await authorizer.decide(member, server: "github", tool: nil).allowed))
        }
    }

    @Test func theCacheTTLIsASafetyNetWhenNoChangeIsAnnounced() async throws {
        try await Self.withModel { client, grants, _ in
            try await grants.grantGroup("Team", server: "github")
            let authorizer = Authorizer(database: client, cacheTTL: .milliseconds(300))
            let member = Self.principal(groups: ["Team"])
            #expect(try await authorizer.decide(member, server: "github", tool: nil).allowed)
            try await grants.revokeGroup("Team", server: "github")
            // No listener announces the revocation: the cached grant lasts until its TTL, no longer.
            #expect(try await authorizer.decide(member, server: "github", tool: nil).allowed)
            try await Task.sleep(for: .milliseconds(400))
            #expect(!(try await authorizer.decide(member, server: "github", tool: nil).allowed))
        }
    }

    /// Equally specific grants in two tenants (the seed's Tenant-Google and Tenant-AcmeCorp both
    /// map atlassian): the tenant is chosen the same way every time (by tenant id), and the
    /// decision lists both candidates so that `explain` shows the overlap.
    @Test func equallySpecificGrantsInTwoTenantsAreDecidedTheSameWayEveryTime() async throws {
        try await Self.withModel { client, grants, _ in
            try await grants.grantGroup("Tenant-Google", server: "github", tenant: "google")
            try await grants.grantGroup("Tenant-AcmeCorp", server: "github", tenant: "acmecorp")
            let authorizer = Authorizer(database: client)
            for groups in [["Tenant-Google", "Tenant-AcmeCorp"], ["Tenant-AcmeCorp", "Tenant-Google"]] {
                let decision = try await authorizer.decide(Self.principal(groups: groups), server: "github", tool: nil, cached: false)
                #expect(decision.allowed && decision.tenant == "acmecorp")
                #expect(decision.candidates.map(\.tenant) == ["acmecorp", "google"])
            }
        }
    }

    /// A grant by principal name counts for identity providers that vouch for the name, never for
    /// an Entra token (its names are display values), and the same holds for administrators.
    /// (`"jwt"` is the generic OpenID profile's method, declared in Ingress.)
    @Test(arguments: [(Principal.AuthenticationMethod.localDev, true), ("jwt", true), (.entraV2, false), (.entraV1, false)])
    func grantsByNameCountOnlyOutsideEntra(method: Principal.AuthenticationMethod, counts: Bool) async throws {
        try await Self.withModel { client, grants, _ in
            try await grants.grantUser(email: "Ann@Example.com", tenantID: nil, objectID: nil, server: "github")
            try await grants.addAdmin(kind: .user, subject: "ann@example.com")
            let ann = Principal(subject: "ann", objectID: "oid-ann", tenantID: "tid-a", userName: "ann@example.COM", authenticationMethod: method)
            #expect(try await Authorizer(database: client).decide(ann, server: "github", tool: nil).allowed == counts)
            #expect(try await grants.isAdmin(ann) == counts)
        }
    }

    /// The seed's tables, now views over `access_grants`: rows written and deleted through them
    /// are grants the decision sees, in the tenant they name (or the group's, or `default`).
    @Test func theLegacyTablesWriteAndDeleteGrantsThroughTheirViews() async throws {
        try await Self.withModel { client, grants, _ in
            try await grants.assignGroup("Tenant-Google", toTenant: "google")
            try await client.execute("INSERT INTO group_tenant_mapping (group_name, tenant_id) VALUES ('Tenant-Google', 'github'), ('Team', 'notion')")
            try await client.execute("INSERT INTO user_tenant_access (user_email, tenant_id) VALUES ('bo@example.com', 'github')")
            try await client.execute(
                "INSERT INTO user_tenant_access (user_tenant_id, user_object_id, tenant_id, grant_tenant) VALUES ('tid-a', 'oid-7', 'notion', 'acmecorp')"
            )
            let all = try await grants.grants()
            #expect(all.contains { $0.subject == "Tenant-Google" && $0.server == "github" && $0.tenant == "google" })
            #expect(all.contains { $0.subject == "Team" && $0.server == "notion" && $0.tenant == "default" })
            #expect(all.contains { $0.kind == .user && $0.server == "notion" && $0.tenant == "acmecorp" })
            let authorizer = Authorizer(database: client)
            let user = Self.principal(oid: "oid-7")
            let decision = try await authorizer.decide(user, server: "notion", tool: nil, cached: false)
            #expect(decision.allowed && decision.tenant == "acmecorp")
            let bo = Principal(subject: "bo", tenantID: "tid-a", userName: "bo@example.com", authenticationMethod: .localDev)
            #expect(try await authorizer.decide(bo, server: "github", tool: nil, cached: false).allowed)

            try await client.execute("DELETE FROM group_tenant_mapping WHERE group_name = 'Tenant-Google' AND tenant_id = 'github'")
            try await client.execute("DELETE FROM user_tenant_access WHERE user_object_id = 'oid-7'")
            #expect(!(try await authorizer.decide(Self.principal(groups: ["Tenant-Google"]), server: "github", tool: nil, cached: false).allowed))
            #expect(!(try await authorizer.decide(user, server: "notion", tool: nil, cached: false).allowed))
            let mappings = try await client.query("SELECT count(*)::int AS n FROM group_tenant_mapping")
            #expect(try mappings[0].decode(Int.self, "n") == 1)
        }
    }
}
