import Foundation
import Ingress
import Shared
import Testing

@Suite struct ToolSurfaceConfigurationTests {
    @Test func defaultsAndEnvironmentValues() throws {
        let defaults = try ToolSurfaceConfiguration(environment: EnvironmentReader([:]))
        #expect(defaults.toolNameSeparator == "__")
        #expect(defaults.pageSize == 100)
        #expect(defaults.publicOpenAPIDocument)
        let set = try ToolSurfaceConfiguration(
            environment: EnvironmentReader([
                "MCP_TOOL_NAME_SEPARATOR": ".", "MCP_PAGE_SIZE": "5", "MCP_KEEPALIVE_MS": "500", "PUBLIC_BASE_URL": "https://gw.example.com/",
                "OAUTH_SCOPES_SUPPORTED": "api://gw/mcp.invoke, api://gw/other", "OPENAPI_PUBLIC_DOCUMENT": "false",
            ])
        )
        #expect(set.toolNameSeparator == ".")
        #expect(set.pageSize == 5)
        #expect(set.keepAliveInterval == .milliseconds(500))
        #expect(set.publicBaseURL == "https://gw.example.com")
        #expect(set.scopesSupported == ["api://gw/mcp.invoke", "api://gw/other"])
        #expect(!set.publicOpenAPIDocument)
    }

    @Test func originsAreComparedBySchemeHostAndPort() throws {
        let surface = try ToolSurfaceConfiguration(
            environment: EnvironmentReader(["MCP_ALLOWED_ORIGINS": "https://chat.example.com, http://localhost:3000/", "PUBLIC_BASE_URL": "https://gw.example.com/base"])
        )
        #expect(surface.allowsOrigin("https://chat.example.com"))
        #expect(surface.allowsOrigin("HTTPS://CHAT.EXAMPLE.COM"))
        #expect(surface.allowsOrigin("http://localhost:3000"))
        #expect(surface.allowsOrigin("https://gw.example.com"))
        #expect(!surface.allowsOrigin("http://chat.example.com"))
        #expect(!surface.allowsOrigin("https://chat.example.com:8443"))
        #expect(!surface.allowsOrigin("https://chat.example.com.evil.example"))
        #expect(!surface.allowsOrigin("null"))
        #expect(try ToolSurfaceConfiguration(environment: EnvironmentReader(["MCP_ALLOWED_ORIGINS": "*"])).allowsOrigin("null"))
        #expect(!(try ToolSurfaceConfiguration(environment: EnvironmentReader([:]))).allowsOrigin("https://chat.example.com"))
    }

    @Test(arguments: [("MCP_TOOL_NAME_SEPARATOR", "\u{1}"), ("MCP_PAGE_SIZE", "0"), ("PUBLIC_BASE_URL", "gw.example.com"), ("MCP_KEEPALIVE_MS", "1"), ("MCP_ALLOWED_ORIGINS", "chat.example.com")])
    func badValuesNameTheirVariable(variable: String, value: String) {
        #expect(throws: ConfigurationError.self) { try ToolSurfaceConfiguration(environment: EnvironmentReader([variable: value])) }
        do {
            _ = try ToolSurfaceConfiguration(environment: EnvironmentReader([variable: value]))
        } catch {
            #expect(error.variable == variable)
        }
    }

    @Test func theProtectedResourceMetadataDefaultsToTheEntraTenantsAndScopes() {
        var surface = ToolSurfaceConfiguration()
        surface.defaultingFromEntra(
            EntraProfile(tenantIDs: ["11111111-1111-1111-1111-111111111111"], clientID: "22222222-2222-2222-2222-222222222222", requiredScopes: ["mcp.invoke"])
        )
        #expect(surface.authorizationServers == ["https://login.microsoftonline.com/11111111-1111-1111-1111-111111111111/v2.0"])
        #expect(surface.scopesSupported == ["api://22222222-2222-2222-2222-222222222222/mcp.invoke"])
        var configured = ToolSurfaceConfiguration()
        configured.authorizationServers = ["https://issuer.example"]
        configured.defaultingFromEntra(EntraProfile(tenantIDs: ["11111111-1111-1111-1111-111111111111"], clientID: "c"))
        #expect(configured.authorizationServers == ["https://issuer.example"])
    }
}
