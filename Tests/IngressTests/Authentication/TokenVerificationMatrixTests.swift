import TestSupport
import Foundation
import HTTPTypes
import Ingress
import Shared
import Testing

/// One row of the matrix: an `Authorization` header value built at test time, and what the
/// gateway must answer.
struct TokenCase: Sendable, CustomTestStringConvertible {
    enum Expected: Sendable {
        case accepted
        case rejected(AuthenticationError.Code, HTTPResponse.Status)
    }

    let name: String
    let expected: Expected
    let authorization: @Sendable () -> String?

    var testDescription: String { name }

    init(_ name: String, _ expected: Expected, _ authorization: @escaping @Sendable () -> String?) {
        self.name = name
        self.expected = expected
        self.authorization = authorization
    }

    /// A case whose header is `Bearer <token>`.
    static func bearer(_ name: String, _ expected: Expected, _ token: @escaping @Sendable () -> String) -> TokenCase {
        TokenCase(name, expected) { "Bearer " + token() }
    }
}

/// Claims changed from a valid v2 token's, signed by the published key.
private func v2Token(key: TestSigningKey = .primary, _ change: (inout [String: JSONValue]) -> Void = { _ in }) -> String {
    var claims = EntraFixture.v2Claims()
    change(&claims)
    return TestToken(key: key, claims: claims).signed(by: key)
}

private func v2Header(_ change: (inout [String: JSONValue]) -> Void) -> TestToken {
    var token = TestToken(claims: EntraFixture.v2Claims())
    change(&token.header)
    return token
}

private func segment(_ text: String) -> String { TestToken.base64URL(Data(text.utf8)) }

private func now() -> Int64 { Int64(Date().timeIntervalSince1970) }

private let unauthorized = HTTPResponse.Status.unauthorized
private let forbidden = HTTPResponse.Status.forbidden

let tokenCases: [TokenCase] = [
    // Accepted.
    .bearer("valid v2 token", .accepted) { v2Token() },
    TokenCase("valid v1 token with the App ID URI audience", .accepted) {
        "Bearer " + TestToken(claims: EntraFixture.v1Claims()).signed()
    },
    TokenCase("valid v1 token with the client id audience", .accepted) {
        var claims = EntraFixture.v1Claims()
        claims["aud"] = .string(EntraFixture.gatewayClientID)
        return "Bearer " + TestToken(claims: claims).signed()
    },
    TokenCase("valid v2 token from the second allowed tenant", .accepted) {
        "Bearer " + TestToken(claims: EntraFixture.v2Claims(tenant: EntraFixture.tenantB)).signed()
    },
    TokenCase("app-only token with the required role and no scope", .accepted) {
        var claims = EntraFixture.appOnlyClaims()
        claims["azp"] = .string(EntraFixture.gatewayClientID)
        return "Bearer " + TestToken(claims: claims).signed()
    },
    .bearer("audience as an array that includes the gateway", .accepted) { v2Token { $0["aud"] = [.string(EntraFixture.gatewayClientID), "other"] } },
    .bearer("expired within the leeway", .accepted) { v2Token { $0["exp"] = .integer(now() - 30) } },
    .bearer("not yet valid within the leeway", .accepted) { v2Token { $0["nbf"] = .integer(now() + 30) } },
    .bearer("16 KiB token with 350 groups", .accepted) { v2Token { $0["groups"] = EntraFixture.manyGroups(350) } },
    TokenCase("generic issuer token", .accepted) { "Bearer " + TestToken(claims: EntraFixture.genericClaims()).signed() },
    TokenCase("lowercase bearer scheme", .accepted) { "bearer " + v2Token() },

    // The Authorization header.
    TokenCase("no Authorization header", .rejected(.missingToken, unauthorized)) { nil },
    TokenCase("empty Authorization header", .rejected(.missingToken, unauthorized)) { "" },
    TokenCase("Basic credentials", .rejected(.missingToken, unauthorized)) { "Basic YWxpY2U6c2VjcmV0" },
    TokenCase("Bearer without a token", .rejected(.malformed, unauthorized)) { "Bearer " },
    TokenCase("two tokens after Bearer", .rejected(.malformed, unauthorized)) { "Bearer \(v2Token()) \(v2Token())" },

    // Malformed.
    .bearer("one segment", .rejected(.malformed, unauthorized)) { segment(#"{"alg":"RS256"}"#) },
    .bearer("two segments", .rejected(.malformed, unauthorized)) { v2Header { _ in }.signingInput },
    .bearer("four segments", .rejected(.malformed, unauthorized)) { v2Token() + ".AAAA" },
    TokenCase("header not base64url", .rejected(.malformed, unauthorized)) {
        let parts = v2Token().split(separator: ".")
        return "Bearer eyJ+bGc/.\(parts[1]).\(parts[2])"
    },
    TokenCase("header not JSON", .rejected(.malformed, unauthorized)) {
        let parts = v2Token().split(separator: ".")
        return "Bearer \(segment("not json")).\(parts[1]).\(parts[2])"
    },
    TokenCase("payload not JSON", .rejected(.malformed, unauthorized)) {
        let parts = v2Token().split(separator: ".")
        return "Bearer \(parts[0]).\(segment("{\"sub\":")).\(parts[2])"
    },
    .bearer("groups claim of the wrong type", .rejected(.malformed, unauthorized)) { v2Token { $0["groups"] = "MCP-Admin" } },
    .bearer("no kid header", .rejected(.malformed, unauthorized)) { v2Header { $0["kid"] = nil }.signed() },
    .bearer("empty signature", .rejected(.malformed, unauthorized)) { v2Header { _ in }.unsigned },

    // Algorithms.
    .bearer("alg none", .rejected(.unsupportedAlgorithm, unauthorized)) { v2Header { $0["alg"] = "none" }.unsigned },
    TokenCase("HS256 signed with the public key PEM", .rejected(.unsupportedAlgorithm, unauthorized)) {
        "Bearer " + v2Header { $0["alg"] = "HS256" }.signedHS256(secret: Data(TestSigningKey.primary.publicKeyPEM.utf8))
    },
    .bearer("PS256", .rejected(.unsupportedAlgorithm, unauthorized)) { v2Header { $0["alg"] = "PS256" }.signed() },
    .bearer("ES256", .rejected(.unsupportedAlgorithm, unauthorized)) { v2Header { $0["alg"] = "ES256" }.signed() },
    .bearer("rs256 in lowercase", .rejected(.unsupportedAlgorithm, unauthorized)) { v2Header { $0["alg"] = "rs256" }.signed() },
    .bearer("crit header", .rejected(.unsupportedAlgorithm, unauthorized)) { v2Header { $0["crit"] = ["exp"] }.signed() },

    // Microsoft Graph tokens.
    TokenCase("nonce header (Graph token)", .rejected(.graphToken, unauthorized)) {
        var claims = EntraFixture.v1Claims()
        claims["aud"] = "00000003-0000-0000-c000-000000000000"
        var token = TestToken(claims: claims)
        token.header["nonce"] = "mJ7m1VQ2s9JQ1b-3a2mS3nN_rPq2r8b8iPzkO1o2c8E"
        return "Bearer " + token.signed()
    },
    // A nonce header alone is refused, whatever the audience says.
    TokenCase("nonce header on a token for the gateway's audience", .rejected(.graphToken, unauthorized)) {
        var token = TestToken(claims: EntraFixture.v2Claims())
        token.header["nonce"] = "mJ7m1VQ2s9JQ1b-3a2mS3nN_rPq2r8b8iPzkO1o2c8E"
        return "Bearer " + token.signed()
    },
    .bearer("Graph audience without nonce", .rejected(.graphToken, unauthorized)) { v2Token { $0["aud"] = "https://graph.microsoft.com" } },

    // Keys and signatures.
    .bearer("unknown kid", .rejected(.unknownKey, unauthorized)) { v2Token(key: .secondary) },
    .bearer("signed by another key under the published kid", .rejected(.badSignature, unauthorized)) { v2Token(key: .rogue) },
    TokenCase("payload changed after signing", .rejected(.badSignature, unauthorized)) {
        let parts = v2Token().split(separator: ".")
        var claims = EntraFixture.v2Claims()
        claims["groups"] = ["MCP-Admin"]
        return "Bearer \(parts[0]).\(TestToken.base64URL(TestToken.json(.object(claims)))).\(parts[2])"
    },

    // Lifetime.
    .bearer("expired beyond the leeway", .rejected(.expired, unauthorized)) { v2Token { $0["exp"] = .integer(now() - 120) } },
    .bearer("not yet valid beyond the leeway", .rejected(.notYetValid, unauthorized)) { v2Token { $0["nbf"] = .integer(now() + 300) } },
    .bearer("no exp", .rejected(.missingClaim, unauthorized)) { v2Token { $0["exp"] = nil } },

    // Issuer, audience, tenant.
    .bearer("unknown issuer", .rejected(.wrongIssuer, unauthorized)) { v2Token { $0["iss"] = "https://evil.example/" } },
    .bearer("no issuer", .rejected(.missingClaim, unauthorized)) { v2Token { $0["iss"] = nil } },
    .bearer("v2 issuer with ver 1.0", .rejected(.wrongIssuer, unauthorized)) { v2Token { $0["ver"] = "1.0" } },
    .bearer("wrong audience", .rejected(.wrongAudience, unauthorized)) { v2Token { $0["aud"] = "api://another-api" } },
    .bearer("v2 token with the App ID URI audience", .rejected(.wrongAudience, unauthorized)) { v2Token { $0["aud"] = .string(EntraFixture.appIDURI) } },
    TokenCase("tenant not allowed", .rejected(.tenantNotAllowed, unauthorized)) {
        "Bearer " + TestToken(claims: EntraFixture.v2Claims(tenant: EntraFixture.foreignTenant)).signed()
    },
    TokenCase("tid not a GUID", .rejected(.tenantNotAllowed, unauthorized)) {
        var claims = EntraFixture.v2Claims()
        claims["tid"] = "common"
        claims["iss"] = "https://login.microsoftonline.com/common/v2.0"
        return "Bearer " + TestToken(claims: claims).signed()
    },
    TokenCase("issuer names another tenant than tid", .rejected(.issuerTenantMismatch, unauthorized)) {
        "Bearer " + v2Token { $0["iss"] = .string("https://login.microsoftonline.com/\(EntraFixture.tenantB)/v2.0") }
    },
    TokenCase("v1 issuer names another tenant than tid", .rejected(.issuerTenantMismatch, unauthorized)) {
        var claims = EntraFixture.v1Claims()
        claims["iss"] = .string("https://sts.windows.net/\(EntraFixture.foreignTenant)/")
        return "Bearer " + TestToken(claims: claims).signed()
    },
    .bearer("no tid", .rejected(.missingClaim, unauthorized)) { v2Token { $0["tid"] = nil } },

    // Claims Entra always sets.
    .bearer("no oid", .rejected(.missingClaim, unauthorized)) { v2Token { $0["oid"] = nil } },
    .bearer("no sub", .rejected(.missingClaim, unauthorized)) { v2Token { $0["sub"] = nil } },
    .bearer("no ver", .rejected(.missingClaim, unauthorized)) { v2Token { $0["ver"] = nil } },

    // Permissions.
    .bearer("neither the required scope nor role", .rejected(.insufficientScope, forbidden)) { v2Token { $0["scp"] = "User.Read" } },
    .bearer("client app not allowed", .rejected(.clientNotAllowed, forbidden)) { v2Token { $0["azp"] = .string(EntraFixture.otherClientID) } },
    TokenCase("v1 client app not allowed", .rejected(.clientNotAllowed, forbidden)) {
        var claims = EntraFixture.v1Claims()
        claims["appid"] = .string(EntraFixture.otherClientID)
        return "Bearer " + TestToken(claims: claims).signed()
    },

    // Size.
    .bearer("64 KiB token", .rejected(.tokenTooLarge, unauthorized)) { v2Token { $0["groups"] = EntraFixture.manyGroups(1300) } },
]

@Suite("Token verification matrix")
struct TokenVerificationMatrixTests {
    @Test("tokens × outcomes", arguments: tokenCases)
    func tokenIsAcceptedOrRejectedWithTheRightAnswer(_ tokenCase: TokenCase) async throws {
        try await AuthenticationHarness.run { harness in
            let authorization = tokenCase.authorization()
            let result: Result<Principal, AuthenticationError>
            do throws(AuthenticationError) {
                result = .success(try await harness.authenticate(authorization: authorization))
            } catch {
                result = .failure(error)
            }
            switch (tokenCase.expected, result) {
            case (.accepted, .success):
                break
            case (.accepted, .failure(let error)):
                Issue.record("expected acceptance, got \(error)")
            case (.rejected(let code, _), .success(let principal)):
                Issue.record("expected \(code), got a principal \(principal)")
            case (.rejected(let code, let status), .failure(let error)):
                #expect(error.code == code, "\(error)")
                #expect(error.status == status)
                let challenge = try #require(error.wwwAuthenticate)
                if code == .missingToken {
                    #expect(challenge == #"Bearer realm="mcp-gateway""#)
                } else {
                    let errorName = status == .forbidden ? "insufficient_scope" : "invalid_token"
                    #expect(challenge.hasPrefix(#"Bearer realm="mcp-gateway", error="\#(errorName)", error_description=""#))
                }
                // The answer never echoes the token (nor any segment of it).
                for part in (authorization ?? "").split(whereSeparator: { $0 == " " || $0 == "." }) where part.count > 8 {
                    #expect(!error.message.contains(part) && !challenge.contains(part) && !(error.detail ?? "").contains(part))
                }
            }
        }
    }

    @Test func sixteenKiBTokenReallyIsThatLarge() {
        let token = v2Token { $0["groups"] = EntraFixture.manyGroups(350) }
        #expect(token.utf8.count >= 16_384)
        #expect(token.utf8.count <= 32_768)
        let huge = v2Token { $0["groups"] = EntraFixture.manyGroups(1300) }
        #expect(huge.utf8.count >= 65_536)
    }
}

/// A single-tenant deployment that accepts only v2 tokens: the other version, the tenant the
/// multi-tenant matrix allows, and an issuer naming another tenant are all refused.
@Suite("Token verification, single tenant, v2 only")
struct SingleTenantTokenTests {
    static let cases: [(String, AuthenticationError.Code?, @Sendable () -> String)] = [
        ("valid v2 token of the tenant", nil, { TestToken(claims: EntraFixture.v2Claims()).signed() }),
        ("v1 token of the tenant", .wrongIssuer, { TestToken(claims: EntraFixture.v1Claims()).signed() }),
        ("v2 token of another (elsewhere allowed) tenant", .tenantNotAllowed, { TestToken(claims: EntraFixture.v2Claims(tenant: EntraFixture.tenantB)).signed() }),
        ("issuer of another tenant with this tid", .issuerTenantMismatch, {
            var claims = EntraFixture.v2Claims()
            claims["iss"] = .string("https://login.microsoftonline.com/\(EntraFixture.tenantB)/v2.0")
            return TestToken(claims: claims).signed()
        }),
        ("tid that is not a GUID", .tenantNotAllowed, {
            var claims = EntraFixture.v2Claims()
            claims["tid"] = "contoso"
            claims["iss"] = "https://login.microsoftonline.com/contoso/v2.0"
            return TestToken(claims: claims).signed()
        }),
    ]

    @Test(arguments: cases.indices)
    func onlyTheConfiguredTenantAndVersionAreAccepted(index: Int) async throws {
        let (name, expected, token) = Self.cases[index]
        let server = JWKSServerState()
        await server.publish(TestSigningKey.jwks([.primary]), at: JWKSTestServer.entraPath(tenant: EntraFixture.tenantA))
        await server.publish(TestSigningKey.jwks([.primary]), at: JWKSTestServer.entraPath(tenant: EntraFixture.tenantB))
        try await JWKSTestServer.run(server) { port in
            let configuration = try AuthenticationConfiguration(
                entra: EntraProfile(
                    tenantIDs: [EntraFixture.tenantA], clientID: EntraFixture.gatewayClientID, tokenVersions: [.v2],
                    authority: URL(string: "http://127.0.0.1:\(port)")!, requiredScopes: ["\(EntraFixture.appIDURI)/\(EntraFixture.requiredScope)"],
                    requiredRoles: [EntraFixture.requiredRole], allowedClientApps: [EntraFixture.openWebUIClientID]
                )
            )
            let harness = AuthenticationHarness(port: port, server: server, configuration: configuration)
            do throws(AuthenticationError) {
                let principal = try await harness.authenticate(authorization: "Bearer " + token())
                #expect(expected == nil, "\(name): expected \(String(describing: expected)), got \(principal.subject)")
                #expect(principal.tenantID == EntraFixture.tenantA)
            } catch {
                #expect(error.code == expected, "\(name): \(error)")
                #expect(error.status == .unauthorized)
            }
        }
    }
}
