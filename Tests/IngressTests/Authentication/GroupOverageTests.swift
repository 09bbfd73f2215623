import AsyncHTTPClient
import Foundation
import Ingress
import Shared
import Synchronization
import TestSupport
import Testing

/// Group overage resolved through a local stand-in for Microsoft Graph (and Entra's token
/// endpoint): the groups Graph lists replace the missing claim; when Graph is not configured or
/// fails, the token still counts, with only direct grants and the reason on the principal.
@Suite("Group overage through Microsoft Graph")
struct GroupOverageTests {
    static let secret = "s3cr+t&with=form~chars"
    static let graphGroups = [
        "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0", "1a2b3c4d-5e6f-4a1b-8c2d-3e4f5a6b7c8d", "2b3c4d5e-6f7a-4b2c-9d3e-4f5a6b7c8d9e",
        "3c4d5e6f-7a8b-4c3d-8e4f-5a6b7c8d9eaf", "4D5E6F7A-8B9C-4D4E-9F5A-6B7C8D9EAFB0",
    ]

    static func standInState() -> EntraStandIn.State {
        var state = EntraStandIn.State(clientID: EntraFixture.gatewayClientID, clientSecret: secret, tenant: EntraFixture.tenantA)
        state.members = [EntraFixture.userObjectID: graphGroups]
        return state
    }

    static func graphConfiguration(_ standIn: EntraStandIn, secret: String = secret) -> GraphConfiguration {
        GraphConfiguration(
            clientID: EntraFixture.gatewayClientID, clientSecret: secret, tokenAuthority: standIn.baseURL, graphURL: standIn.graphURL,
            timeout: .seconds(2)
        )
    }

    static func overageToken(marker: String = "_claim_names", now: Date = Date()) -> String {
        var claims = EntraFixture.v2Claims(now: now)
        claims["groups"] = nil
        if marker == "_claim_names" {
            claims["_claim_names"] = ["groups": "src1"]
            claims["_claim_sources"] = [
                "src1": ["endpoint": .string("https://graph.windows.net/\(EntraFixture.tenantA)/users/\(EntraFixture.userObjectID)/getMemberObjects")]
            ]
        } else {
            claims["hasgroups"] = true
        }
        return TestToken(claims: claims).signed()
    }

    /// A verifier like ``AuthenticationHarness``'s, with overage resolved through `standIn`.
    static func verifier(_ harness: AuthenticationHarness, _ standIn: EntraStandIn, secret: String = secret) -> TokenVerifier {
        let resolver = GroupOverageResolver(
            configuration: graphConfiguration(standIn, secret: secret), httpClient: .shared, logger: JWKSTestServer.quietLogger
        )
        return TokenVerifier(configuration: harness.configuration, keys: harness.cache, overage: resolver)
    }

    @Test("an overage token gets every group Graph lists, over several pages", arguments: ["_claim_names", "hasgroups"])
    func overageIsResolvedThroughGraphAcrossPages(marker: String) async throws {
        var state = Self.standInState()
        state.pageSize = 2
        try await EntraStandIn.with(state) { standIn in
            try await AuthenticationHarness.run { harness in
                let principal = try await Self.verifier(harness, standIn).verify(token: Self.overageToken(marker: marker))
                #expect(principal.groups == Self.graphGroups.map { $0.lowercased() })
                #expect(principal.groupsOverage == false)
                #expect(principal.groupsOverageDetail == nil)
                #expect(principal.objectID == EntraFixture.userObjectID)

                // Five groups and one directory role, two per page: three pages.
                let pages = standIn.events().filter { $0["kind"] == "graph" }
                #expect(pages.map { $0["skip"]?.int64Value } == [0, 2, 4])
                #expect(pages.allSatisfy { $0["tenant"]?.stringValue == EntraFixture.tenantA && $0["select"] == "id" })
                let tokenRequests = standIn.events().filter { $0["kind"] == "token" }
                #expect(tokenRequests.count == 1)
                #expect(tokenRequests.first?["grant_type"] == "client_credentials")
                #expect(tokenRequests.first?["scope"] == "https://graph.microsoft.com/.default")
                #expect(tokenRequests.first?["tenant"]?.stringValue == EntraFixture.tenantA)
            }
        }
    }

    @Test func tokensThatListTheirGroupsNeverReachGraph() async throws {
        try await EntraStandIn.with(Self.standInState()) { standIn in
            try await AuthenticationHarness.run { harness in
                let principal = try await Self.verifier(harness, standIn).verify(token: TestToken(claims: EntraFixture.v2Claims()).signed())
                #expect(principal.groups == [EntraFixture.groupGitHub, EntraFixture.groupTenantGoogle])
                #expect(principal.groupsOverageDetail == nil)
                #expect(standIn.count("graph") == 0 && standIn.count("token") == 0)
            }
        }
    }

    @Test func withoutGraphConfiguredTheTokenCountsWithoutGroupsAndSaysWhy() async throws {
        try await AuthenticationHarness.run { harness in
            let principal = try await harness.verifier.verify(token: Self.overageToken())
            #expect(principal.groups.isEmpty)
            #expect(principal.groupsOverage == true)
            let detail = try #require(principal.groupsOverageDetail)
            #expect(detail.contains("not configured to look them up in Microsoft Graph"))
            #expect(detail.contains("only grants made to you directly apply"))
        }
    }

    @Test func whenGraphFailsTheTokenCountsWithoutGroupsAndTheNextRequestTriesAgain() async throws {
        var state = Self.standInState()
        state.failGraph = true
        try await EntraStandIn.with(state) { standIn in
            try await AuthenticationHarness.run { harness in
                let verifier = Self.verifier(harness, standIn)
                let failed = try await verifier.verify(token: Self.overageToken())
                #expect(failed.groups.isEmpty)
                #expect(failed.groupsOverage == true)
                let detail = try #require(failed.groupsOverageDetail)
                #expect(detail.contains("could not be looked up in Microsoft Graph"))
                #expect(detail.contains("HTTP 503"))

                // Failures are not cached: once Graph answers, the same user's next request has groups.
                try standIn.update(Self.standInState())
                let resolved = try await verifier.verify(token: Self.overageToken())
                #expect(resolved.groups.count == Self.graphGroups.count)
                #expect(resolved.groupsOverageDetail == nil)
            }
        }
    }

    @Test func whenGraphIsUnreachableTheReasonSaysSo() async throws {
        let standIn = try EntraStandIn(state: Self.standInState())
        defer { Task { await standIn.remove() } }
        // Never started: nothing listens on its port.
        try await AuthenticationHarness.run { harness in
            let principal = try await Self.verifier(harness, standIn).verify(token: Self.overageToken())
            #expect(principal.groupsOverage == true)
            #expect(principal.groupsOverageDetail?.contains("app-only token request for Microsoft Graph failed") == true)
        }
    }

    @Test func aRefusedClientSecretIsReportedAndNotCached() async throws {
        try await EntraStandIn.with(Self.standInState()) { standIn in
            try await AuthenticationHarness.run { harness in
                let principal = try await Self.verifier(harness, standIn, secret: "wrong").verify(token: Self.overageToken())
                #expect(principal.groupsOverage == true)
                let detail = try #require(principal.groupsOverageDetail)
                #expect(detail.contains("HTTP 401 (\"invalid_client\")"))
                #expect(!detail.contains("wrong"))
                #expect(standIn.count("graph") == 0)
            }
        }
    }

    @Test func aNextPageOnAnotherHostIsNotFollowed() async throws {
        var state = Self.standInState()
        state.pageSize = 2
        state.foreignNextLink = true
        try await EntraStandIn.with(state) { standIn in
            try await AuthenticationHarness.run { harness in
                let principal = try await Self.verifier(harness, standIn).verify(token: Self.overageToken())
                // The app token would go with the request: the lookup fails instead, and no partial list counts.
                #expect(principal.groups.isEmpty)
                #expect(principal.groupsOverage == true)
                #expect(principal.groupsOverageDetail?.contains("next page outside") == true)
                #expect(standIn.count("graph") == 1)
            }
        }
    }

    @Test func concurrentRequestsOfOneUserShareOneLookup() async throws {
        var state = Self.standInState()
        state.delayMilliseconds = 300
        try await EntraStandIn.with(state) { standIn in
            try await AuthenticationHarness.run { harness in
                let verifier = Self.verifier(harness, standIn)
                let token = Self.overageToken()
                let counts = try await withThrowingTaskGroup(of: Int.self) { group in
                    for _ in 0..<20 {
                        group.addTask { try await verifier.verify(token: token).groups.count }
                    }
                    return try await group.reduce(into: [Int]()) { $0.append($1) }
                }
                #expect(counts == Array(repeating: Self.graphGroups.count, count: 20))
                #expect(standIn.count("graph") == 1)
                #expect(standIn.count("token") == 1)
                #expect(await verifier.overage?.lookupCount == 1)
            }
        }
    }

    /// A clock the test moves by hand.
    final class ManualClock: Sendable {
        private let current: Mutex<Date>
        init(_ start: Date) { current = Mutex(start) }
        var now: Date { current.withLock { $0 } }
        func advance(_ seconds: TimeInterval) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }
    }

    @Test func resolvedGroupsAreNotReusedPastTheUserTokensExpiry() async throws {
        try await EntraStandIn.with(Self.standInState()) { standIn in
            let clock = ManualClock(Date(timeIntervalSince1970: 1_800_000_000))
            let resolver = GroupOverageResolver(
                configuration: Self.graphConfiguration(standIn), httpClient: .shared, logger: JWKSTestServer.quietLogger, now: { clock.now }
            )
            let user = EntraFixture.userObjectID
            let tenant = EntraFixture.tenantA
            // The user's token expires in 100 s: well inside the 600 s cache cap.
            let expiry = clock.now.addingTimeInterval(100)
            #expect(try await resolver.groups(tenant: tenant, objectID: user, tokenExpiry: expiry).count == Self.graphGroups.count)
            clock.advance(99)
            _ = try await resolver.groups(tenant: tenant, objectID: user, tokenExpiry: expiry)
            #expect(await resolver.lookupCount == 1)

            clock.advance(2)  // past the token's exp
            _ = try await resolver.groups(tenant: tenant, objectID: user, tokenExpiry: clock.now.addingTimeInterval(4000))
            #expect(await resolver.lookupCount == 2)
            // A long-lived token is capped by the cache lifetime (600 s).
            clock.advance(599)
            _ = try await resolver.groups(tenant: tenant, objectID: user, tokenExpiry: clock.now.addingTimeInterval(4000))
            #expect(await resolver.lookupCount == 2)
            clock.advance(2)
            _ = try await resolver.groups(tenant: tenant, objectID: user, tokenExpiry: clock.now.addingTimeInterval(4000))
            #expect(await resolver.lookupCount == 3)
            #expect(standIn.count("graph") == 3)
            // One app token (expires_in 3599) served all three lookups.
            #expect(await resolver.appTokenRequestCount == 1)
        }
    }

    @Test func theAppTokenIsRenewedShortlyBeforeItExpires() async throws {
        try await EntraStandIn.with(Self.standInState()) { standIn in
            let clock = ManualClock(Date(timeIntervalSince1970: 1_800_000_000))
            var configuration = Self.graphConfiguration(standIn)
            configuration.maximumCacheLifetime = .zero  // every call asks Graph
            let resolver = GroupOverageResolver(configuration: configuration, httpClient: .shared, logger: JWKSTestServer.quietLogger, now: { clock.now })
            let expiry = clock.now.addingTimeInterval(86_400)
            _ = try await resolver.groups(tenant: EntraFixture.tenantA, objectID: EntraFixture.userObjectID, tokenExpiry: expiry)
            clock.advance(3599 - 301)  // 301 s before the app token expires: still used
            _ = try await resolver.groups(tenant: EntraFixture.tenantA, objectID: EntraFixture.userObjectID, tokenExpiry: expiry)
            #expect(await resolver.appTokenRequestCount == 1)
            clock.advance(2)  // within the last five minutes: renewed
            _ = try await resolver.groups(tenant: EntraFixture.tenantA, objectID: EntraFixture.userObjectID, tokenExpiry: expiry)
            #expect(await resolver.appTokenRequestCount == 2)
            #expect(standIn.count("graph") == 3)
        }
    }

    @Test func graphConfigurationFromTheEnvironment() throws {
        let base: [String: String] = [
            "ENTRA_TENANT_IDS": EntraFixture.tenantA, "ENTRA_CLIENT_ID": EntraFixture.gatewayClientID,
        ]
        #expect(try AuthenticationConfiguration(environment: EnvironmentReader(base)).graph == nil)

        var values = base
        values["ENTRA_GRAPH_CLIENT_SECRET"] = "secret"
        let graph = try #require(try AuthenticationConfiguration(environment: EnvironmentReader(values)).graph)
        #expect(graph.clientID == EntraFixture.gatewayClientID)
        #expect(graph.tokenAuthority.absoluteString == "https://login.microsoftonline.com")
        #expect(graph.graphURL.absoluteString == "https://graph.microsoft.com/v1.0")
        #expect(graph.maximumCacheLifetime == .seconds(600))

        values["ENTRA_GRAPH_URL"] = "ftp://graph"
        #expect(throws: ConfigurationError.self) { try AuthenticationConfiguration(environment: EnvironmentReader(values)) }
        var idWithoutSecret = base
        idWithoutSecret["ENTRA_GRAPH_CLIENT_ID"] = EntraFixture.otherClientID
        let error = #expect(throws: ConfigurationError.self) { try AuthenticationConfiguration(environment: EnvironmentReader(idWithoutSecret)) }
        #expect(error?.variable == "ENTRA_GRAPH_CLIENT_SECRET")
    }
}
