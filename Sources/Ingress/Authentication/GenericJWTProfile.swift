import Foundation
import Shared

/// Accepts RS256 tokens from configured issuers, verified with keys from one JWKS URL.
///
/// This is the profile for any OpenID provider, and for local development: `mcpgw dev-keys`
/// writes a key pair and a JWKS file that `AUTH_JWKS_URL=file://...` points at. Production
/// with Entra ID uses ``EntraProfile`` instead, which adds Microsoft's tenant rules.
public struct GenericJWTProfile: Sendable, Equatable {
    /// Where the keys are: `https://`, `http://` (tests, or a sidecar on localhost) or `file://`.
    public var jwksURL: URL
    /// Accepted `iss` values, compared exactly.
    public var issuers: [String]
    /// Accepted `aud` values; a token must name at least one.
    public var audiences: [String]
    /// The tenant of principals whose token has no `tid` claim.
    public var defaultTenant: String
    /// How soon after one refresh on an unknown `kid` another may happen.
    public var minimumRefreshInterval: Duration

    public init(
        jwksURL: URL,
        issuers: [String],
        audiences: [String],
        defaultTenant: String = "default",
        minimumRefreshInterval: Duration = .seconds(60)
    ) {
        self.jwksURL = jwksURL
        self.issuers = issuers
        self.audiences = audiences
        self.defaultTenant = defaultTenant
        self.minimumRefreshInterval = minimumRefreshInterval
    }

    /// Local development keys (`file://`) authenticate as ``Principal/AuthenticationMethod/localDev``,
    /// so that an authorizer can refuse them; keys from a server as ``Principal/AuthenticationMethod/genericJWT``.
    public var authenticationMethod: Principal.AuthenticationMethod {
        jwksURL.isFileURL ? .localDev : .genericJWT
    }

    /// The profile from `AUTH_JWKS_URL`, `AUTH_ISSUER`, `AUTH_AUDIENCE`, `AUTH_DEFAULT_TENANT`
    /// and `AUTH_JWKS_MIN_REFRESH_SECONDS`, or `nil` when none of the first three is set.
    static func from(environment: EnvironmentReader) throws(ConfigurationError) -> Self? {
        let issuers = environment.list("AUTH_ISSUER")
        let audiences = environment.list("AUTH_AUDIENCE")
        guard let rawURL = environment.string("AUTH_JWKS_URL") else {
            if !issuers.isEmpty || !audiences.isEmpty {
                throw ConfigurationError(variable: "AUTH_JWKS_URL", reason: "is required when AUTH_ISSUER or AUTH_AUDIENCE is set")
            }
            return nil
        }
        let url = try jwksURL(rawURL, variable: "AUTH_JWKS_URL")
        guard !issuers.isEmpty else {
            throw ConfigurationError(variable: "AUTH_ISSUER", reason: "is required when AUTH_JWKS_URL is set (comma-separated accepted issuers)")
        }
        guard !audiences.isEmpty else {
            throw ConfigurationError(variable: "AUTH_AUDIENCE", reason: "is required when AUTH_JWKS_URL is set (comma-separated accepted audiences)")
        }
        let minimumRefresh = try environment.int("AUTH_JWKS_MIN_REFRESH_SECONDS", default: 60, range: 0...86_400)
        return Self(
            jwksURL: url,
            issuers: issuers,
            audiences: audiences,
            defaultTenant: environment.string("AUTH_DEFAULT_TENANT", default: "default"),
            minimumRefreshInterval: .seconds(minimumRefresh)
        )
    }

    /// An absolute `https`, `http` or `file` URL.
    static func jwksURL(_ raw: String, variable: String) throws(ConfigurationError) -> URL {
        guard let url = URL(string: raw), let scheme = url.scheme?.lowercased() else {
            throw ConfigurationError(variable: variable, reason: "must be an absolute https://, http:// or file:// URL, got '\(raw)'")
        }
        switch scheme {
        case "https", "http":
            guard let host = url.host, !host.isEmpty else {
                throw ConfigurationError(variable: variable, reason: "has no host: '\(raw)'")
            }
        case "file":
            guard !url.path.isEmpty, url.host == nil || url.host == "" || url.host == "localhost" else {
                throw ConfigurationError(variable: variable, reason: "must be file:///absolute/path/jwks.json, got '\(raw)'")
            }
        default:
            throw ConfigurationError(variable: variable, reason: "must use https://, http:// or file://, got '\(raw)'")
        }
        return url
    }
}
