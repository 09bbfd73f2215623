import Foundation
import Shared

/// Accepts exactly the access tokens Microsoft Entra ID issues for the gateway's API, the way
/// Microsoft prescribes for multi-tenant APIs: `tid` a GUID on the allow list, `iss` equal to
/// the version's issuer template with that `tid`, keys fetched per tenant, `aud` the gateway.
public struct EntraProfile: Sendable, Equatable {
    /// The access token format the gateway's app registration asks for
    /// (`api.requestedAccessTokenVersion`, formerly `accessTokenAcceptedVersion`).
    public enum TokenVersion: String, Sendable, CaseIterable, Comparable {
        /// `iss` = `https://sts.windows.net/{tid}/`, `aud` = the App ID URI (or the client id), `appid`.
        case v1
        /// `iss` = `https://login.microsoftonline.com/{tid}/v2.0`, `aud` = the client id, `azp`.
        case v2

        /// The `ver` claim of this format.
        var claimValue: String { self == .v1 ? "1.0" : "2.0" }

        /// The issuer Entra writes into tokens of this format for a tenant.
        public func issuer(tenant: String) -> String {
            switch self {
            case .v1: "https://sts.windows.net/\(tenant)/"
            case .v2: "https://login.microsoftonline.com/\(tenant)/v2.0"
            }
        }

        public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    /// How a tenant's signing keys are found (`ENTRA_KEY_DISCOVERY`).
    public enum KeyDiscovery: String, Sendable, CaseIterable {
        /// `{authority}/{tid}/discovery/v2.0/keys`, fetched directly.
        case jwks
        /// `{authority}/{tid}/v2.0/.well-known/openid-configuration`, whose `issuer` must be the
        /// tenant's v2 issuer and whose `jwks_uri` names the keys (as Microsoft's libraries do).
        case metadata = "openid-configuration"
    }

    /// Allowed tenants (`tid`), lowercase GUIDs.
    public var tenantIDs: Set<String>
    /// The gateway API's application (client) id: the `aud` of v2 tokens.
    public var clientID: String
    /// The gateway API's Application ID URI: the `aud` of v1 tokens (default `api://{clientID}`).
    public var appIDURI: String
    public var tokenVersions: Set<TokenVersion>
    /// Where the keys are fetched: `{authority}/{tid}/discovery/v2.0/keys`.
    /// Tokens' issuers are Microsoft's whatever this is, so tests can serve keys locally.
    public var authority: URL
    /// Delegated scopes (`scp`), any one of which (or of ``requiredRoles``) a token must carry.
    /// Short names (`mcp.invoke`), as they appear in tokens.
    public var requiredScopes: [String]
    /// App roles (`roles`), any one of which (or of ``requiredScopes``) a token must carry.
    public var requiredRoles: [String]
    /// Client applications (`azp` in v2, `appid` in v1) allowed to call; empty allows any.
    /// Lowercase.
    public var allowedClientApps: Set<String>
    /// How soon after one refresh of a tenant's keys on an unknown `kid` another may happen.
    public var minimumRefreshInterval: Duration
    public var keyDiscovery: KeyDiscovery

    public init(
        tenantIDs: Set<String>,
        clientID: String,
        appIDURI: String? = nil,
        tokenVersions: Set<TokenVersion> = [.v2],
        authority: URL = URL(string: "https://login.microsoftonline.com")!,
        requiredScopes: [String] = [],
        requiredRoles: [String] = [],
        allowedClientApps: Set<String> = [],
        minimumRefreshInterval: Duration = .seconds(300),
        keyDiscovery: KeyDiscovery = .jwks
    ) {
        self.tenantIDs = Set(tenantIDs.map { $0.lowercased() })
        self.clientID = clientID
        let appIDURI = appIDURI ?? "api://\(clientID)"
        self.appIDURI = appIDURI
        self.tokenVersions = tokenVersions
        self.authority = authority
        // `api://gw/mcp.invoke` is how a client asks for the scope; tokens carry `mcp.invoke`.
        self.requiredScopes = requiredScopes.map { $0.hasPrefix(appIDURI + "/") ? String($0.dropFirst(appIDURI.count + 1)) : $0 }
        self.requiredRoles = requiredRoles
        self.allowedClientApps = Set(allowedClientApps.map { $0.lowercased() })
        self.minimumRefreshInterval = minimumRefreshInterval
        self.keyDiscovery = keyDiscovery
    }

    /// The tenant's signing keys (Microsoft: discover keys per tenant, even for multi-tenant apps).
    public func jwksURL(tenant: String) -> URL {
        authority.appending(path: tenant.lowercased()).appending(path: "discovery/v2.0/keys")
    }

    /// The tenant's OpenID Provider configuration (v2 endpoint: its `jwks_uri` serves the keys
    /// of v1 and v2 tokens alike).
    public func metadataURL(tenant: String) -> URL {
        authority.appending(path: tenant.lowercased()).appending(path: "v2.0/.well-known/openid-configuration")
    }

    /// Where the tenant's key set is loaded from, as ``keyDiscovery`` says.
    public func keySource(tenant: String) -> JWKSSource {
        switch keyDiscovery {
        case .jwks:
            JWKSSource(url: jwksURL(tenant: tenant), minimumRefreshInterval: minimumRefreshInterval)
        case .metadata:
            JWKSSource(
                url: metadataURL(tenant: tenant), minimumRefreshInterval: minimumRefreshInterval,
                discovery: .openIDMetadata(expectedIssuer: TokenVersion.v2.issuer(tenant: tenant.lowercased()))
            )
        }
    }

    /// The profile from the `ENTRA_*` variables, or `nil` when neither `ENTRA_TENANT_IDS` nor
    /// `ENTRA_CLIENT_ID` is set.
    static func from(environment: EnvironmentReader) throws(ConfigurationError) -> Self? {
        let tenants = environment.list("ENTRA_TENANT_IDS")
        let clientID = environment.string("ENTRA_CLIENT_ID")
        guard !tenants.isEmpty || clientID != nil else { return nil }
        guard !tenants.isEmpty else {
            throw ConfigurationError(variable: "ENTRA_TENANT_IDS", reason: "is required when ENTRA_CLIENT_ID is set (comma-separated tenant GUIDs)")
        }
        for tenant in tenants where !Self.isGUID(tenant) {
            let hint = ["common", "organizations", "consumers"].contains(tenant.lowercased()) ? "; list each allowed tenant's GUID instead of '\(tenant)'" : ""
            throw ConfigurationError(variable: "ENTRA_TENANT_IDS", reason: "must hold tenant GUIDs, got '\(tenant)'\(hint)")
        }
        guard let clientID else {
            throw ConfigurationError(variable: "ENTRA_CLIENT_ID", reason: "is required when ENTRA_TENANT_IDS is set (the gateway API's application id)")
        }
        guard Self.isGUID(clientID) else {
            throw ConfigurationError(variable: "ENTRA_CLIENT_ID", reason: "must be the gateway API's application (client) id, a GUID, got '\(clientID)'")
        }
        var versions: Set<TokenVersion> = []
        for raw in environment.list("ENTRA_TOKEN_VERSIONS") {
            guard let version = TokenVersion(rawValue: raw.lowercased()) else {
                throw ConfigurationError(variable: "ENTRA_TOKEN_VERSIONS", reason: "must list v2, v1 or both, got '\(raw)'")
            }
            versions.insert(version)
        }
        let authorityText = environment.string("ENTRA_AUTHORITY", default: "https://login.microsoftonline.com")
        guard let authority = URL(string: authorityText.hasSuffix("/") ? String(authorityText.dropLast()) : authorityText),
            ["https", "http"].contains(authority.scheme?.lowercased() ?? ""), authority.host?.isEmpty == false
        else {
            throw ConfigurationError(variable: "ENTRA_AUTHORITY", reason: "must be an https:// (or, for tests, http://) URL, got '\(authorityText)'")
        }
        let minimumRefresh = try environment.int("ENTRA_JWKS_MIN_REFRESH_SECONDS", default: 300, range: 0...86_400)
        let discoveryText = environment.string("ENTRA_KEY_DISCOVERY", default: KeyDiscovery.jwks.rawValue)
        guard let discovery = KeyDiscovery(rawValue: discoveryText.lowercased()) else {
            throw ConfigurationError(variable: "ENTRA_KEY_DISCOVERY", reason: "must be jwks or openid-configuration, got '\(discoveryText)'")
        }
        return Self(
            tenantIDs: Set(tenants),
            clientID: clientID.lowercased(),
            appIDURI: environment.string("ENTRA_APP_ID_URI"),
            tokenVersions: versions.isEmpty ? [.v2] : versions,
            authority: authority,
            requiredScopes: environment.list("ENTRA_REQUIRED_SCOPES").flatMap { $0.split(separator: " ").map(String.init) },
            requiredRoles: environment.list("ENTRA_REQUIRED_ROLES"),
            allowedClientApps: Set(environment.list("ENTRA_ALLOWED_CLIENT_APPS")),
            minimumRefreshInterval: .seconds(minimumRefresh),
            keyDiscovery: discovery
        )
    }

    /// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, hexadecimal, either case.
    static func isGUID(_ text: String) -> Bool {
        let utf8 = Array(text.utf8)
        guard utf8.count == 36 else { return false }
        for (index, byte) in utf8.enumerated() {
            if [8, 13, 18, 23].contains(index) {
                guard byte == UInt8(ascii: "-") else { return false }
            } else {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
                    || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
                else { return false }
            }
        }
        return true
    }
}
