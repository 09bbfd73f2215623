import Foundation

/// One key set the verifier may use: its URL and how often an unknown `kid` may make the
/// cache fetch it again.
public struct JWKSSource: Sendable, Hashable {
    /// `https://`, `http://` or `file://`.
    public var url: URL
    /// The shortest time between two refreshes caused by an unknown `kid` (Microsoft: five
    /// minutes per tenant). Zero lets every unknown `kid` refresh; for tests.
    public var minimumRefreshInterval: Duration

    public init(url: URL, minimumRefreshInterval: Duration) {
        self.url = url
        self.minimumRefreshInterval = minimumRefreshInterval
    }
}
