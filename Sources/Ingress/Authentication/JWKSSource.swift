import Foundation

/// One key set the verifier may use: its URL and how often an unknown `kid` may make the
/// cache fetch it again.
public struct JWKSSource: Sendable, Hashable {
    /// How ``url`` leads to the keys.
    public enum Discovery: Sendable, Hashable {
        /// ``url`` is the JWKS itself.
        case direct
        /// ``url`` is an OpenID Provider configuration document whose `issuer` must be
        /// `expectedIssuer` and whose `jwks_uri` is the key set (OpenID Connect Discovery §3-4).
        case openIDMetadata(expectedIssuer: String)
    }

    /// `https://`, `http://` or `file://`.
    public var url: URL
    /// The shortest time between two refreshes caused by an unknown `kid` (Microsoft: five
    /// minutes per tenant). Zero lets every unknown `kid` refresh; for tests.
    public var minimumRefreshInterval: Duration
    public var discovery: Discovery

    public init(url: URL, minimumRefreshInterval: Duration, discovery: Discovery = .direct) {
        self.url = url
        self.minimumRefreshInterval = minimumRefreshInterval
        self.discovery = discovery
    }
}
