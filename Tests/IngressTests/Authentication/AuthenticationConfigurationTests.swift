import Foundation
import Ingress
import Shared
import Testing

@Suite("Authentication configuration from the environment")
struct AuthenticationConfigurationTests {
    private let tenant = EntraFixture.tenantA
    private let client = EntraFixture.gatewayClientID

    private func configuration(_ values: [String: String]) throws(ConfigurationError) -> AuthenticationConfiguration {
        try AuthenticationConfiguration(environment: EnvironmentReader(values))
    }

    private func failure(_ values: [String: String]) -> ConfigurationError? {
        do {
            _ = try configuration(values)
            return nil
        } catch {
            return error
        }
    }

    @Test func noProfileIsAnErrorNamingBothProfilesVariables() {
        let error = failure([:])
        #expect(error?.variable.contains("AUTH_JWKS_URL") == true)
        #expect(error?.variable.contains("ENTRA_TENANT_IDS") == true)
        #expect(error?.reason.contains("ENTRA_CLIENT_ID") == true)
    }

    @Test func entraDefaultsFollowMicrosoft() throws {
        let settings = try configuration(["ENTRA_TENANT_IDS": tenant.uppercased(), "ENTRA_CLIENT_ID": client])
        let entra = try #require(settings.entra)
        #expect(settings.generic == nil)
        #expect(entra.tenantIDs == [tenant])
        #expect(entra.appIDURI == "api://\(client)")
        #expect(entra.tokenVersions == [.v2])
        #expect(entra.authority.absoluteString == "https://login.microsoftonline.com")
        #expect(entra.jwksURL(tenant: tenant).absoluteString == "https://login.microsoftonline.com/\(tenant)/discovery/v2.0/keys")
        #expect(entra.minimumRefreshInterval == .seconds(300))
        #expect(entra.requiredScopes.isEmpty && entra.requiredRoles.isEmpty && entra.allowedClientApps.isEmpty)
        #expect(settings.leeway == .seconds(60))
        #expect(settings.maximumTokenBytes == 32_768)
        #expect(settings.keyRefreshInterval == .seconds(3600))
        #expect(settings.keyFetchTimeout == .seconds(5))
        #expect(settings.keySources.map(\.url) == [entra.jwksURL(tenant: tenant)])
    }

    @Test func entraOptionsAreRead() throws {
        let settings = try configuration([
            "ENTRA_TENANT_IDS": "\(tenant), \(EntraFixture.tenantB)",
            "ENTRA_CLIENT_ID": client,
            "ENTRA_APP_ID_URI": "api://mcp-gateway.contoso.example",
            "ENTRA_TOKEN_VERSIONS": "v1,V2",
            "ENTRA_AUTHORITY": "http://127.0.0.1:9999/",
            "ENTRA_REQUIRED_SCOPES": "api://mcp-gateway.contoso.example/mcp.invoke",
            "ENTRA_REQUIRED_ROLES": "MCP.Invoke.All",
            "ENTRA_ALLOWED_CLIENT_APPS": EntraFixture.openWebUIClientID.uppercased(),
            "ENTRA_JWKS_MIN_REFRESH_SECONDS": "0",
        ])
        let entra = try #require(settings.entra)
        #expect(entra.tenantIDs == [tenant, EntraFixture.tenantB])
        #expect(entra.tokenVersions == [.v1, .v2])
        #expect(entra.requiredScopes == ["mcp.invoke"])
        #expect(entra.requiredRoles == ["MCP.Invoke.All"])
        #expect(entra.allowedClientApps == [EntraFixture.openWebUIClientID])
        #expect(entra.jwksURL(tenant: tenant).absoluteString == "http://127.0.0.1:9999/\(tenant)/discovery/v2.0/keys")
        #expect(entra.minimumRefreshInterval == .zero)
        #expect(settings.keySources.count == 2)
    }

    @Test func genericProfileIsRead() throws {
        let settings = try configuration([
            "AUTH_JWKS_URL": "file:///var/lib/mcpgw/dev/jwks.json",
            "AUTH_ISSUER": "mcpgw-dev, https://idp.example.test/",
            "AUTH_AUDIENCE": "mcp-gateway",
            "AUTH_LEEWAY_SECONDS": "120",
            "AUTH_DEFAULT_TENANT": "local",
            "AUTH_JWKS_MIN_REFRESH_SECONDS": "10",
        ])
        let generic = try #require(settings.generic)
        #expect(settings.entra == nil)
        #expect(generic.jwksURL.path == "/var/lib/mcpgw/dev/jwks.json")
        #expect(generic.issuers == ["mcpgw-dev", "https://idp.example.test/"])
        #expect(generic.audiences == ["mcp-gateway"])
        #expect(generic.defaultTenant == "local")
        #expect(generic.minimumRefreshInterval == .seconds(10))
        #expect(generic.authenticationMethod == .localDev)
        #expect(settings.leeway == .seconds(120))
    }

    @Test func bothProfilesMayBeConfiguredTogether() throws {
        let settings = try configuration([
            "AUTH_JWKS_URL": "https://idp.example.test/jwks", "AUTH_ISSUER": "https://idp.example.test/", "AUTH_AUDIENCE": "gw",
            "ENTRA_TENANT_IDS": tenant, "ENTRA_CLIENT_ID": client,
        ])
        #expect(settings.generic?.authenticationMethod == .genericJWT)
        #expect(settings.entra != nil)
        #expect(settings.keySources.count == 2)
    }

    @Test(
        "each mistake names its variable",
        arguments: [
            (["AUTH_ISSUER": "x", "AUTH_AUDIENCE": "y"], "AUTH_JWKS_URL"),
            (["AUTH_JWKS_URL": "https://idp.example.test/jwks", "AUTH_AUDIENCE": "y"], "AUTH_ISSUER"),
            (["AUTH_JWKS_URL": "https://idp.example.test/jwks", "AUTH_ISSUER": "x"], "AUTH_AUDIENCE"),
            (["AUTH_JWKS_URL": "ftp://idp.example.test/jwks", "AUTH_ISSUER": "x", "AUTH_AUDIENCE": "y"], "AUTH_JWKS_URL"),
            (["AUTH_JWKS_URL": "jwks.json", "AUTH_ISSUER": "x", "AUTH_AUDIENCE": "y"], "AUTH_JWKS_URL"),
            (["ENTRA_CLIENT_ID": EntraFixture.gatewayClientID], "ENTRA_TENANT_IDS"),
            (["ENTRA_TENANT_IDS": "common", "ENTRA_CLIENT_ID": EntraFixture.gatewayClientID], "ENTRA_TENANT_IDS"),
            (["ENTRA_TENANT_IDS": EntraFixture.tenantA], "ENTRA_CLIENT_ID"),
            (["ENTRA_TENANT_IDS": EntraFixture.tenantA, "ENTRA_CLIENT_ID": "openwebui"], "ENTRA_CLIENT_ID"),
            (["ENTRA_TENANT_IDS": EntraFixture.tenantA, "ENTRA_CLIENT_ID": EntraFixture.gatewayClientID, "ENTRA_TOKEN_VERSIONS": "v3"], "ENTRA_TOKEN_VERSIONS"),
            (["ENTRA_TENANT_IDS": EntraFixture.tenantA, "ENTRA_CLIENT_ID": EntraFixture.gatewayClientID, "ENTRA_AUTHORITY": "login.microsoftonline.com"], "ENTRA_AUTHORITY"),
            (["ENTRA_TENANT_IDS": EntraFixture.tenantA, "ENTRA_CLIENT_ID": EntraFixture.gatewayClientID, "AUTH_LEEWAY_SECONDS": "300"], "AUTH_LEEWAY_SECONDS"),
            (["ENTRA_TENANT_IDS": EntraFixture.tenantA, "ENTRA_CLIENT_ID": EntraFixture.gatewayClientID, "AUTH_MAX_TOKEN_BYTES": "4096"], "AUTH_MAX_TOKEN_BYTES"),
        ]
    )
    func misconfigurationNamesTheVariable(values: [String: String], variable: String) {
        #expect(failure(values)?.variable == variable)
    }

    @Test func leewayAboveTwoMinutesIsRefusedInCodeToo() {
        #expect(throws: ConfigurationError.self) {
            try AuthenticationConfiguration(
                entra: EntraProfile(tenantIDs: [EntraFixture.tenantA], clientID: EntraFixture.gatewayClientID), leeway: .seconds(121)
            )
        }
    }
}
