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
}
