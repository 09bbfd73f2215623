import Foundation
import Shared

/// Identities and claims of exactly the shape Microsoft Entra ID issues (access-token claims
/// reference), with the tests' own tenants, applications and users.
enum EntraFixture {
    static let tenantA = "72f988bf-86f1-41af-91ab-2d7cd011db47"
    static let tenantB = "3f5ab1e4-2c6d-4b8e-9a07-51d2c8e6f0a9"
    /// A real-looking tenant that is not on the allow list.
    static let foreignTenant = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"
    /// The gateway API's app registration.
    static let gatewayClientID = "6e74172b-be56-4843-9ff4-e66a39bb12e3"
    static var appIDURI: String { "api://\(gatewayClientID)" }
    /// Open WebUI's app registration: the allowed client.
    static let openWebUIClientID = "d3590ed6-52b3-4102-aeff-aad2292ab01c"
    /// Some other application of the tenant.
    static let otherClientID = "1950a258-227b-4e31-a9cf-717495945fc2"

    static let userObjectID = "00000000-0000-0000-66f3-3332eca7ea81"
    static let userSubject = "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ"
    static let groupGitHub = "7b0d8a3e-5f1c-4a9e-9d2b-3c4e5f6a7b8c"
    static let groupTenantGoogle = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"

    static let requiredScope = "mcp.invoke"
    static let requiredRole = "MCP.Invoke.All"

    /// A v2.0 access token's claims, for the gateway, from Open WebUI, for a user in two groups.
    static func v2Claims(now: Date = Date(), tenant: String = tenantA) -> [String: JSONValue] {
        let issuedAt = Int64(now.timeIntervalSince1970)
        return [
            "aud": .string(gatewayClientID),
            "iss": .string("https://login.microsoftonline.com/\(tenant)/v2.0"),
            "iat": .integer(issuedAt - 300), "nbf": .integer(issuedAt - 300), "exp": .integer(issuedAt + 4200),
            "aio": "AWQAm/8TAAAA2nGkJq9dVGh0c0FbHTp3ZFZSVGhvW2pE",
            "azp": .string(openWebUIClientID), "azpacr": "1",
            "groups": [.string(groupGitHub), .string(groupTenantGoogle)],
            "name": "Alice Example",
            "oid": .string(userObjectID),
            "preferred_username": "alice@contoso.example",
            "rh": "0.ARoAv4j5cvGGr0GRqy180BHbR2Vd2Q.",
            "scp": "mcp.invoke offline_access",
            "sub": .string(userSubject),
            "tid": .string(tenant),
            "uti": "fqiBqXLPj0eQa82S-IYFAA",
            "ver": "2.0",
        ]
    }

    /// A v1.0 access token's claims: `sts.windows.net` issuer, App ID URI audience, `appid`,
    /// `upn`/`unique_name`.
    static func v1Claims(now: Date = Date(), tenant: String = tenantA) -> [String: JSONValue] {
        let issuedAt = Int64(now.timeIntervalSince1970)
        return [
            "aud": .string(appIDURI),
            "iss": .string("https://sts.windows.net/\(tenant)/"),
            "iat": .integer(issuedAt - 300), "nbf": .integer(issuedAt - 300), "exp": .integer(issuedAt + 4200),
            "acr": "1", "aio": "E2ZgYJjY8Pq3+dnOlCs1m7Jl0pU5AA==", "amr": ["pwd", "mfa"],
            "appid": .string(openWebUIClientID), "appidacr": "0",
            "family_name": "Example", "given_name": "Alice",
            "groups": [.string(groupGitHub)],
            "ipaddr": "203.0.113.7",
            "name": "Alice Example",
            "oid": .string(userObjectID),
            "rh": "0.ARoAv4j5cvGGr0GRqy180BHbR2Vd2Q.",
            "scp": "mcp.invoke",
            "sub": .string(userSubject),
            "tid": .string(tenant),
            "unique_name": "alice@contoso.example",
            "upn": "alice@contoso.example",
            "uti": "Y1cgqgT5pE2vXzv2bV8JAA",
            "ver": "1.0",
        ]
    }

    /// An app-only (client credentials) v2 token: `roles`, no `scp`, `idtyp: app`.
    static func appOnlyClaims(now: Date = Date()) -> [String: JSONValue] {
        var claims = v2Claims(now: now)
        claims["scp"] = nil
        claims["groups"] = nil
        claims["name"] = nil
        claims["preferred_username"] = nil
        claims["roles"] = [.string(requiredRole)]
        claims["idtyp"] = "app"
        claims["oid"] = "5b7c8d9e-0f1a-4b2c-8d3e-4f5a6b7c8d9e"
        claims["sub"] = "5b7c8d9e-0f1a-4b2c-8d3e-4f5a6b7c8d9e"
        return claims
    }

    /// The generic (non-Entra) issuer of the tests.
    static let genericIssuer = "https://idp.example.test/"
    static let genericAudience = "mcp-gateway"

    static func genericClaims(now: Date = Date()) -> [String: JSONValue] {
        let issuedAt = Int64(now.timeIntervalSince1970)
        return [
            "iss": .string(genericIssuer), "aud": .string(genericAudience), "sub": "bob",
            "iat": .integer(issuedAt), "exp": .integer(issuedAt + 600),
            "groups": ["MCP-GitHub", "Tenant-Google"], "email": "bob@example.test",
        ]
    }

    /// `count` distinct group object ids.
    static func manyGroups(_ count: Int) -> JSONValue {
        .array((0..<count).map { index in .string(String(format: "%08x-0000-4000-8000-%012x", index, index)) })
    }
}
