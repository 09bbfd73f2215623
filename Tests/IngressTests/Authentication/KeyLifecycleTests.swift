import TestSupport
import AsyncHTTPClient
import Foundation
import HTTPTypes
import Ingress
import ServiceLifecycle
import Shared
import Testing

@Suite("Signing keys: caching, refresh, rotation, outages")
struct KeyLifecycleTests {
    private let tenantAPath = JWKSTestServer.entraPath(tenant: EntraFixture.tenantA)

    @Test func unknownKidRefreshesTheKeySetOnceThenIsRejectedWith401() async throws {
        try await AuthenticationHarness.run { harness in
            _ = try await harness.verifier.verify(token: TestToken(claims: EntraFixture.v2Claims()).signed())
            #expect(await harness.server.requests(at: tenantAPath) == 1)

            let unknown = TestToken(key: .secondary, claims: EntraFixture.v2Claims()).signed(by: .secondary)
            let error = await #expect(throws: AuthenticationError.self) { try await harness.verifier.verify(token: unknown) }
            #expect(error?.code == .unknownKey)
            #expect(error?.status == .unauthorized)
            #expect(await harness.server.requests(at: tenantAPath) == 2)

            // Within the minimum interval, another unknown kid is refused without a fetch.
            await #expect(throws: AuthenticationError.self) { try await harness.verifier.verify(token: unknown) }
            #expect(await harness.server.requests(at: tenantAPath) == 2)
        }
    }

    @Test func theUnknownKidLimitIsPerTenant() async throws {
        try await AuthenticationHarness.run { harness in
            let tenantBPath = JWKSTestServer.entraPath(tenant: EntraFixture.tenantB)
            let unknownA = TestToken(key: .secondary, claims: EntraFixture.v2Claims()).signed(by: .secondary)
            let unknownB = TestToken(key: .secondary, claims: EntraFixture.v2Claims(tenant: EntraFixture.tenantB)).signed(by: .secondary)
            _ = try await harness.verifier.verify(token: TestToken(claims: EntraFixture.v2Claims()).signed())
            _ = try await harness.verifier.verify(token: TestToken(claims: EntraFixture.v2Claims(tenant: EntraFixture.tenantB)).signed())
            await #expect(throws: AuthenticationError.self) { try await harness.verifier.verify(token: unknownA) }
            #expect(await harness.server.requests(at: tenantAPath) == 2)
            // Tenant A's refresh does not use up tenant B's: B refreshes once for its own unknown kid.
            await #expect(throws: AuthenticationError.self) { try await harness.verifier.verify(token: unknownB) }
            #expect(await harness.server.requests(at: tenantBPath) == 2)
            // And within the five minutes, neither refreshes again.
            await #expect(throws: AuthenticationError.self) { try await harness.verifier.verify(token: unknownA) }
            await #expect(throws: AuthenticationError.self) { try await harness.verifier.verify(token: unknownB) }
            #expect(await harness.server.requests(at: tenantAPath) == 2)
            #expect(await harness.server.requests(at: tenantBPath) == 2)
        }
    }

    @Test func rotatedKeyIsAcceptedOnceTheIssuerPublishesIt() async throws {
        try await AuthenticationHarness.run(minimumRefreshInterval: .zero) { harness in
            let rotated = TestToken(key: .secondary, claims: EntraFixture.v2Claims()).signed(by: .secondary)
            await #expect(throws: AuthenticationError.self) { try await harness.verifier.verify(token: rotated) }

            await harness.server.publish(TestSigningKey.jwks([.primary, .secondary]), at: tenantAPath)
            let principal = try await harness.verifier.verify(token: rotated)
            #expect(principal.objectID == EntraFixture.userObjectID)
        }
    }

    @Test func keyTheIssuerStopsPublishingIsRefusedAfterTheScheduledRefresh() async throws {
        try await AuthenticationHarness.run { harness in
            let old = TestToken(claims: EntraFixture.v2Claims()).signed()
            let new = TestToken(key: .secondary, claims: EntraFixture.v2Claims()).signed(by: .secondary)
            _ = try await harness.verifier.verify(token: old)

            await harness.server.publish(TestSigningKey.jwks([.secondary]), at: tenantAPath)
            await harness.cache.refreshAll()

            _ = try await harness.verifier.verify(token: new)
            let error = await #expect(throws: AuthenticationError.self) { try await harness.verifier.verify(token: old) }
            #expect(error?.code == .unknownKey)
        }
    }

    @Test func concurrentVerificationsWithAnUnknownKidShareOneFetch() async throws {
        try await AuthenticationHarness.run(minimumRefreshInterval: .seconds(60)) { harness in
            _ = try await harness.verifier.verify(token: TestToken(claims: EntraFixture.v2Claims()).signed())
            #expect(await harness.server.requests(at: tenantAPath) == 1)
            await harness.server.setDelay(.milliseconds(300))

            let unknown = TestToken(key: .secondary, claims: EntraFixture.v2Claims()).signed(by: .secondary)
            let codes = await withTaskGroup(of: AuthenticationError.Code?.self) { group in
                for _ in 0..<50 {
                    group.addTask {
                        do throws(AuthenticationError) {
                            _ = try await harness.verifier.verify(token: unknown)
                            return nil
                        } catch {
                            return error.code
                        }
                    }
                }
                return await group.reduce(into: [AuthenticationError.Code?]()) { $0.append($1) }
            }
            #expect(codes.count == 50)
            #expect(codes.allSatisfy { $0 == .unknownKey })
            #expect(await harness.server.requests(at: tenantAPath) == 2)
        }
    }

    @Test func concurrentFirstUsesShareOneFetch() async throws {
        try await AuthenticationHarness.run { harness in
            await harness.server.setDelay(.milliseconds(300))
            let token = TestToken(claims: EntraFixture.v2Claims()).signed()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<20 {
                    group.addTask { _ = try await harness.verifier.verify(token: token) }
                }
                try await group.waitForAll()
            }
            #expect(await harness.server.requests(at: tenantAPath) == 1)
        }
    }

    @Test func keysStayInUseWhenTheKeyServerGoesDownAfterTheFirstLoad() async throws {
        // A refused connection is retried by the HTTP client until the fetch timeout.
        let harness = try await AuthenticationHarness.run(keyFetchTimeout: .seconds(1)) { harness in
            _ = try await harness.verifier.verify(token: TestToken(claims: EntraFixture.v2Claims()).signed())
            return harness
        }
        // The server has stopped: refreshing fails, the last good set stays.
        await harness.cache.refreshAll()
        let status = await harness.cache.status().first { $0.url.path == tenantAPath }
        #expect(status?.isLoaded == true)
        #expect(status?.lastFailure != nil)
        let principal = try await harness.verifier.verify(token: TestToken(claims: EntraFixture.v2Claims()).signed())
        #expect(principal.tenantID == EntraFixture.tenantA)
    }

    @Test func keysStayInUseWhenARefreshAnswersAnError() async throws {
        try await AuthenticationHarness.run { harness in
            let token = TestToken(claims: EntraFixture.v2Claims()).signed()
            _ = try await harness.verifier.verify(token: token)
            await harness.server.setFailing(true)
            await harness.cache.refreshAll()
            _ = try await harness.verifier.verify(token: token)
            await harness.server.publish(#"{"keys":[]}"#, at: tenantAPath)
            await harness.server.setFailing(false)
            await harness.cache.refreshAll()
            // An empty set is a failed fetch too: the last good keys stay.
            _ = try await harness.verifier.verify(token: token)
        }
    }

    @Test func neverReachableKeysFailClosedWith503() async throws {
        // A port that had a server a moment ago and has none now.
        let deadPort = try await JWKSTestServer.run(JWKSServerState()) { port in port }
        let configuration = try AuthenticationHarness.standardConfiguration(port: deadPort, keyFetchTimeout: .seconds(1))
        let harness = AuthenticationHarness(port: deadPort, server: JWKSServerState(), configuration: configuration)

        let error = await #expect(throws: AuthenticationError.self) {
            try await harness.verifier.verify(token: TestToken(claims: EntraFixture.v2Claims()).signed())
        }
        #expect(error?.code == .keysUnavailable)
        #expect(error?.status == .serviceUnavailable)
        #expect(error?.wwwAuthenticate == nil)
        #expect(await harness.cache.isReady == false)
    }

    @Test func keysThatAreNotRS256RSASigningKeysAreIgnored() async throws {
        try await AuthenticationHarness.run { harness in
            var ps256 = TestSigningKey.primary.jwk
            ps256["alg"] = "PS256"
            var encryption = TestSigningKey.secondary.jwk
            encryption["use"] = "enc"
            let ec: JSONValue = ["kty": "EC", "crv": "P-256", "kid": "ec-1", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"]
            await harness.server.publish(TestSigningKey.jwks([], extra: [.object(ps256), .object(encryption), ec]), at: tenantAPath)

            let error = await #expect(throws: AuthenticationError.self) {
                try await harness.verifier.verify(token: TestToken(claims: EntraFixture.v2Claims()).signed())
            }
            // No usable key at all: the set never loaded.
            #expect(error?.code == .keysUnavailable)

            var rs256 = TestSigningKey.primary.jwk
            rs256["alg"] = "RS256"
            await harness.server.publish(TestSigningKey.jwks([], extra: [.object(rs256), ec]), at: tenantAPath)
            await harness.cache.refreshAll()
            let status = await harness.cache.status().first { $0.url.path == tenantAPath }
            #expect(status?.keyIDs == [TestSigningKey.primary.kid])
        }
    }

    @Test func onlyConfiguredTenantsKeysAreEverFetched() async throws {
        try await AuthenticationHarness.run { harness in
            let foreign = TestToken(claims: EntraFixture.v2Claims(tenant: EntraFixture.foreignTenant)).signed()
            await #expect(throws: AuthenticationError.self) { try await harness.verifier.verify(token: foreign) }
            #expect(await harness.server.requests(at: JWKSTestServer.entraPath(tenant: EntraFixture.foreignTenant)) == 0)
            #expect(await harness.cache.status().count == 3)
        }
    }

    @Test func refresherLoadsEveryKeySetAtStartAndStopsOnShutdown() async throws {
        try await AuthenticationHarness.run { harness in
            let refresher = JWKSRefresher(cache: harness.cache, interval: .seconds(3600))
            let group = ServiceGroup(services: [refresher], logger: JWKSTestServer.quietLogger)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                let deadline = ContinuousClock.now + .seconds(10)
                while await !harness.cache.isReady, ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(await harness.cache.isReady)
                for path in AuthenticationHarness.keyPaths {
                    #expect(await harness.server.requests(at: path) == 1)
                }
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
        }
    }

    /// In the background, with no token asking: a rotated key set is fetched once the current one
    /// is `interval` old, so a token under the new key verifies without an unknown-kid fetch, and
    /// a token under the retired key is refused.
    @Test func theRefresherFetchesRotatedKeysInTheBackground() async throws {
        try await AuthenticationHarness.run { harness in
            let refresher = JWKSRefresher(cache: harness.cache, interval: .milliseconds(300), retryInterval: .milliseconds(100))
            let group = ServiceGroup(services: [refresher], logger: JWKSTestServer.quietLogger)
            let path = JWKSTestServer.entraPath(tenant: EntraFixture.tenantA)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                _ = try await eventually(timeout: .seconds(10)) { await harness.cache.isReady ? true : nil }
                await harness.server.publish(TestSigningKey.jwks([.secondary]), at: path)
                // No token asks for the new key: only the refresher can bring it.
                _ = try await eventually(timeout: .seconds(10)) { () -> Bool? in
                    await harness.cache.status().contains { $0.url.path == path && $0.keyIDs == [TestSigningKey.secondary.kid] } ? true : nil
                }
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
                let fetched = await harness.server.requests(at: path)
                // Fetched by the refresher: the new key verifies at once, the old one no longer does.
                let fresh = TestToken(key: .secondary, claims: EntraFixture.v2Claims()).signed(by: .secondary)
                let principal = try await harness.authenticate(authorization: "Bearer " + fresh)
                #expect(principal.tenantID == EntraFixture.tenantA)
                #expect(await harness.server.requests(at: path) == fetched)
                do throws(AuthenticationError) {
                    _ = try await harness.authenticate(authorization: "Bearer " + TestToken(claims: EntraFixture.v2Claims()).signed())
                    Issue.record("a token under the retired key was accepted")
                } catch {
                    #expect(error.code == .unknownKey)
                }
            }
        }
    }
}

@Suite("Signing keys through OpenID metadata discovery")
struct KeyDiscoveryTests {
    static func configuration(_ standIn: EntraStandIn) throws -> AuthenticationConfiguration {
        try AuthenticationConfiguration(
            entra: EntraProfile(
                tenantIDs: [EntraFixture.tenantA], clientID: EntraFixture.gatewayClientID, authority: standIn.baseURL,
                requiredScopes: [EntraFixture.requiredScope], keyDiscovery: .metadata
            )
        )
    }

    static func cache(_ configuration: AuthenticationConfiguration) -> JWKSCache {
        JWKSCache(sources: configuration.keySources, httpClient: .shared, fetchTimeout: .seconds(2), logger: JWKSTestServer.quietLogger)
    }

    @Test func keysAreFoundThroughTheTenantsOpenIDConfiguration() async throws {
        let state = EntraStandIn.State(clientID: EntraFixture.gatewayClientID, clientSecret: "unused", tenant: EntraFixture.tenantA)
        try await EntraStandIn.with(state) { standIn in
            let configuration = try Self.configuration(standIn)
            #expect(configuration.keySources.map(\.url.path) == ["/\(EntraFixture.tenantA)/v2.0/.well-known/openid-configuration"])
            let verifier = TokenVerifier(configuration: configuration, keys: Self.cache(configuration))
            let principal = try await verifier.verify(token: TestToken(claims: EntraFixture.v2Claims()).signed())
            #expect(principal.objectID == EntraFixture.userObjectID)
            #expect(standIn.count("metadata") == 1)
            #expect(standIn.count("jwks") == 1)
        }
    }

    @Test func metadataNamingAnotherIssuerIsNotTrusted() async throws {
        var state = EntraStandIn.State(clientID: EntraFixture.gatewayClientID, clientSecret: "unused", tenant: EntraFixture.tenantA)
        state.metadataIssuer = "https://login.microsoftonline.com/\(EntraFixture.foreignTenant)/v2.0"
        try await EntraStandIn.with(state) { standIn in
            let configuration = try Self.configuration(standIn)
            let cache = Self.cache(configuration)
            let verifier = TokenVerifier(configuration: configuration, keys: cache)
            let error = await #expect(throws: AuthenticationError.self) {
                try await verifier.verify(token: TestToken(claims: EntraFixture.v2Claims()).signed())
            }
            #expect(error?.code == .keysUnavailable)
            #expect(standIn.count("jwks") == 0)
            #expect(await cache.status().first?.lastFailure?.contains("names issuer") == true)
        }
    }

    @Test func discoveryIsChosenByConfiguration() throws {
        let values = ["ENTRA_TENANT_IDS": EntraFixture.tenantA, "ENTRA_CLIENT_ID": EntraFixture.gatewayClientID]
        #expect(try AuthenticationConfiguration(environment: EnvironmentReader(values)).entra?.keyDiscovery == .jwks)
        let metadata = values.merging(["ENTRA_KEY_DISCOVERY": "openid-configuration"]) { $1 }
        let entra = try #require(try AuthenticationConfiguration(environment: EnvironmentReader(metadata)).entra)
        #expect(entra.keyDiscovery == .metadata)
        #expect(
            entra.keySource(tenant: EntraFixture.tenantA).url.absoluteString
                == "https://login.microsoftonline.com/\(EntraFixture.tenantA)/v2.0/.well-known/openid-configuration"
        )
        let bad = values.merging(["ENTRA_KEY_DISCOVERY": "guess"]) { $1 }
        let error = #expect(throws: ConfigurationError.self) { try AuthenticationConfiguration(environment: EnvironmentReader(bad)) }
        #expect(error?.variable == "ENTRA_KEY_DISCOVERY")
    }
}
