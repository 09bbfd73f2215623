import TestSupport
import Foundation
import Ingress
import Shared
import Testing

@Suite("The principal comes from the verified claims")
struct PrincipalFromClaimsTests {
    @Test func v2TokenBecomesAnEntraV2PrincipalKeyedByTenantAndObjectID() async throws {
        try await AuthenticationHarness.run { harness in
            let token = TestToken(claims: EntraFixture.v2Claims()).signed()
            let principal = try await harness.verifier.verify(token: token)
            #expect(
                principal
                    == Principal(
                        subject: EntraFixture.userSubject,
                        objectID: EntraFixture.userObjectID,
                        tenantID: EntraFixture.tenantA,
                        userName: "alice@contoso.example",
                        groups: [EntraFixture.groupGitHub, EntraFixture.groupTenantGoogle],
                        roles: [],
                        scopes: ["mcp.invoke", "offline_access"],
                        authenticationMethod: .entraV2,
                        groupsOverage: false
                    )
            )
        }
    }

    @Test func v1TokenBecomesAnEntraV1PrincipalNamedByUPN() async throws {
        try await AuthenticationHarness.run { harness in
            let principal = try await harness.verifier.verify(token: TestToken(claims: EntraFixture.v1Claims()).signed())
            #expect(principal.authenticationMethod == .entraV1)
            #expect(principal.userName == "alice@contoso.example")
            #expect(principal.objectID == EntraFixture.userObjectID)
            #expect(principal.tenantID == EntraFixture.tenantA)
            #expect(principal.groups == [EntraFixture.groupGitHub])
            #expect(principal.scopes == ["mcp.invoke"])
        }
    }

    @Test func appOnlyTokenCarriesItsRoles() async throws {
        try await AuthenticationHarness.run { harness in
            var claims = EntraFixture.appOnlyClaims()
            claims["azp"] = .string(EntraFixture.gatewayClientID)
            let principal = try await harness.verifier.verify(token: TestToken(claims: claims).signed())
            #expect(principal.roles == [EntraFixture.requiredRole])
            #expect(principal.scopes.isEmpty)
            #expect(principal.userName == nil)
        }
    }

    @Test("group overage without Graph is flagged with its reason, never filled in", arguments: ["_claim_names", "hasgroups"])
    func groupsOverageIsFlaggedAndGroupsStayEmpty(marker: String) async throws {
        try await AuthenticationHarness.run { harness in
            var claims = EntraFixture.v2Claims()
            claims["groups"] = nil
            if marker == "_claim_names" {
                claims["_claim_names"] = ["groups": "src1"]
                claims["_claim_sources"] = [
                    "src1": ["endpoint": .string("https://graph.windows.net/\(EntraFixture.tenantA)/users/\(EntraFixture.userObjectID)/getMemberObjects")]
                ]
            } else {
                claims["hasgroups"] = true
            }
            let principal = try await harness.verifier.verify(token: TestToken(claims: claims).signed())
            #expect(principal.groupsOverage == true)
            #expect(principal.groups.isEmpty)
            #expect(principal.groupsOverageDetail != nil)
        }
    }

    @Test func genericTokenWithoutTenantGetsTheDefaultTenant() async throws {
        try await AuthenticationHarness.run { harness in
            let principal = try await harness.verifier.verify(token: TestToken(claims: EntraFixture.genericClaims()).signed())
            #expect(principal.subject == "bob")
            #expect(principal.tenantID == "default")
            #expect(principal.objectID == nil)
            #expect(principal.userName == "bob@example.test")
            #expect(principal.groups == ["MCP-GitHub", "Tenant-Google"])
            #expect(principal.authenticationMethod == .genericJWT)
            #expect(principal.groupsOverage == false)
        }
    }

    @Test func displayNameClaimsNeverChangeTheIdentity() async throws {
        try await AuthenticationHarness.run { harness in
            var claims = EntraFixture.v2Claims()
            claims["preferred_username"] = "admin@contoso.example"
            claims["email"] = "admin@contoso.example"
            let principal = try await harness.verifier.verify(token: TestToken(claims: claims).signed())
            #expect(principal.subject == EntraFixture.userSubject)
            #expect(principal.objectID == EntraFixture.userObjectID)
            #expect(principal.groups == [EntraFixture.groupGitHub, EntraFixture.groupTenantGoogle])
        }
    }

    @Test func expiryIsJudgedByTheInjectedClockWithTheLeeway() async throws {
        try await AuthenticationHarness.run { harness in
            let issued = Date(timeIntervalSince1970: 1_800_000_000)
            let token = TestToken(claims: EntraFixture.v2Claims(now: issued)).signed()
            // v2Claims: exp = issued + 4200 s; leeway 60 s.
            let justInside = TokenVerifier(configuration: harness.configuration, keys: harness.cache, now: { issued.addingTimeInterval(4259) })
            let justOutside = TokenVerifier(configuration: harness.configuration, keys: harness.cache, now: { issued.addingTimeInterval(4261) })
            _ = try await justInside.verify(token: token)
            let error = await #expect(throws: AuthenticationError.self) { try await justOutside.verify(token: token) }
            #expect(error?.code == .expired)
        }
    }
}
