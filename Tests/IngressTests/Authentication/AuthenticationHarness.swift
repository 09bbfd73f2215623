import TestSupport
import AsyncHTTPClient
import Foundation
import Ingress
import Logging
import Shared

/// A verifier wired as production wires it (configuration, `JWKSCache` over a real
/// `HTTPClient`), against a ``JWKSTestServer`` that publishes the tests' keys.
struct AuthenticationHarness: Sendable {
    let port: Int
    let server: JWKSServerState
    let configuration: AuthenticationConfiguration
    let cache: JWKSCache
    let verifier: TokenVerifier

    /// Both profiles: the generic issuer at `/keys`, and Entra for tenants A and B (v1 and
    /// v2; scope `mcp.invoke` or role `MCP.Invoke.All`; Open WebUI and one daemon as clients).
    static func standardConfiguration(
        port: Int, minimumRefreshInterval: Duration = .seconds(300), keyFetchTimeout: Duration = .seconds(5)
    ) throws -> AuthenticationConfiguration {
        try AuthenticationConfiguration(
            generic: GenericJWTProfile(
                jwksURL: URL(string: "http://127.0.0.1:\(port)\(JWKSTestServer.genericPath)")!,
                issuers: [EntraFixture.genericIssuer],
                audiences: [EntraFixture.genericAudience],
                minimumRefreshInterval: minimumRefreshInterval
            ),
            entra: EntraProfile(
                tenantIDs: [EntraFixture.tenantA, EntraFixture.tenantB],
                clientID: EntraFixture.gatewayClientID,
                tokenVersions: [.v1, .v2],
                authority: URL(string: "http://127.0.0.1:\(port)")!,
                requiredScopes: ["\(EntraFixture.appIDURI)/\(EntraFixture.requiredScope)"],
                requiredRoles: [EntraFixture.requiredRole],
                allowedClientApps: [EntraFixture.openWebUIClientID, EntraFixture.gatewayClientID],
                minimumRefreshInterval: minimumRefreshInterval
            ),
            leeway: .seconds(60),
            keyFetchTimeout: keyFetchTimeout
        )
    }

    /// Every path the standard configuration fetches keys from.
    static let keyPaths = [
        JWKSTestServer.genericPath, JWKSTestServer.entraPath(tenant: EntraFixture.tenantA), JWKSTestServer.entraPath(tenant: EntraFixture.tenantB),
    ]

    init(port: Int, server: JWKSServerState, configuration: AuthenticationConfiguration, unloadedRetryInterval: Duration = .seconds(5)) {
        self.port = port
        self.server = server
        self.configuration = configuration
        cache = JWKSCache(
            sources: configuration.keySources,
            httpClient: .shared,
            fetchTimeout: configuration.keyFetchTimeout,
            unloadedRetryInterval: unloadedRetryInterval,
            logger: JWKSTestServer.quietLogger
        )
        verifier = TokenVerifier(configuration: configuration, keys: cache)
    }

    /// Runs `body` against a fresh server publishing `keys` at every key path.
    static func run<Value: Sendable>(
        publishing keys: [TestSigningKey] = [.primary],
        minimumRefreshInterval: Duration = .seconds(300),
        keyFetchTimeout: Duration = .seconds(5),
        _ body: @escaping @Sendable (AuthenticationHarness) async throws -> Value
    ) async throws -> Value {
        let server = JWKSServerState()
        for path in keyPaths {
            await server.publish(TestSigningKey.jwks(keys), at: path)
        }
        return try await JWKSTestServer.run(server) { port in
            let configuration = try standardConfiguration(port: port, minimumRefreshInterval: minimumRefreshInterval, keyFetchTimeout: keyFetchTimeout)
            return try await body(AuthenticationHarness(port: port, server: server, configuration: configuration))
        }
    }

    /// `Authorization` header value → principal, as the ingress does it.
    func authenticate(authorization: String?) async throws(AuthenticationError) -> Principal {
        try await verifier.verify(token: bearerToken(from: authorization))
    }
}
