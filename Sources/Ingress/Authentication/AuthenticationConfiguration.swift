import Foundation
import Shared

/// Which bearer tokens the ingress accepts, and how it keeps their issuers' keys.
///
/// At least one profile must be configured: a generic JWT issuer (``GenericJWTProfile``,
/// `AUTH_*`), Microsoft Entra ID (``EntraProfile``, `ENTRA_*`), or both. Every variable and
/// its default is listed in `docs/authentication.md`.
public struct AuthenticationConfiguration: Sendable, Equatable {
    public var generic: GenericJWTProfile?
    public var entra: EntraProfile?
    /// Microsoft Graph, for Entra tokens with a group overage; `nil` leaves overage unresolved.
    public var graph: GraphConfiguration?
    /// Clock skew allowed on `exp` and `nbf` (at most two minutes).
    public var leeway: Duration
    /// Longer tokens are refused before any parsing.
    public var maximumTokenBytes: Int
    /// How often every key set is fetched again in the background.
    public var keyRefreshInterval: Duration
    /// How long one key fetch may take; a request that waits for keys waits at most this.
    public var keyFetchTimeout: Duration

    /// The largest leeway accepted: tokens are refreshed minutes before they expire, so more
    /// would only widen the window for a stolen token.
    public static let maximumLeeway: Duration = .seconds(120)

    /// Fails when neither profile is given or the leeway is out of range.
    public init(
        generic: GenericJWTProfile? = nil,
        entra: EntraProfile? = nil,
        graph: GraphConfiguration? = nil,
        leeway: Duration = .seconds(60),
        maximumTokenBytes: Int = 32_768,
        keyRefreshInterval: Duration = .seconds(3600),
        keyFetchTimeout: Duration = .seconds(5)
    ) throws(ConfigurationError) {
        guard generic != nil || entra != nil else { throw Self.noProfile }
        guard leeway >= .zero, leeway <= Self.maximumLeeway else {
            throw ConfigurationError(variable: "AUTH_LEEWAY_SECONDS", reason: "must be between 0 and 120 seconds")
        }
        self.generic = generic
        self.entra = entra
        self.graph = graph
        self.leeway = leeway
        self.maximumTokenBytes = maximumTokenBytes
        self.keyRefreshInterval = keyRefreshInterval
        self.keyFetchTimeout = keyFetchTimeout
    }

    public init(environment: EnvironmentReader = EnvironmentReader()) throws(ConfigurationError) {
        let entra = try EntraProfile.from(environment: environment)
        try self.init(
            generic: GenericJWTProfile.from(environment: environment),
            entra: entra,
            graph: GraphConfiguration.from(environment: environment, entra: entra),
            leeway: .seconds(environment.int("AUTH_LEEWAY_SECONDS", default: 60, range: 0...120)),
            maximumTokenBytes: environment.int("AUTH_MAX_TOKEN_BYTES", default: 32_768, range: 16_384...262_144),
            keyRefreshInterval: .seconds(environment.int("AUTH_JWKS_REFRESH_SECONDS", default: 3600, range: 60...86_400)),
            keyFetchTimeout: environment.milliseconds("AUTH_JWKS_FETCH_TIMEOUT_MS", default: .seconds(5), range: 100...60_000)
        )
    }

    /// Every key set the verifier may need: the generic JWKS URL and one per allowed Entra
    /// tenant. Nothing else is ever fetched, whatever a token says.
    public var keySources: [JWKSSource] {
        var sources: [JWKSSource] = []
        if let generic {
            sources.append(JWKSSource(url: generic.jwksURL, minimumRefreshInterval: generic.minimumRefreshInterval))
        }
        if let entra {
            for tenant in entra.tenantIDs.sorted() {
                sources.append(entra.keySource(tenant: tenant))
            }
        }
        return sources
    }

    private static let noProfile = ConfigurationError(
        variable: "AUTH_JWKS_URL / ENTRA_TENANT_IDS",
        reason: """
            configure at least one token profile: AUTH_JWKS_URL, AUTH_ISSUER and AUTH_AUDIENCE for a JWT issuer, \
            or ENTRA_TENANT_IDS and ENTRA_CLIENT_ID for Microsoft Entra ID
            """
    )
}
