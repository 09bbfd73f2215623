import Foundation

/// One key set as the cache holds it.
public struct JWKSStatus: Sendable, Equatable {
    public var url: URL
    /// The `kid`s of the usable keys, sorted.
    public var keyIDs: [String]
    /// `false` until a fetch has succeeded; tokens for this set are refused until then.
    public var isLoaded: Bool
    /// When the set was last loaded successfully.
    public var lastLoaded: Date?
    /// Why the latest fetch failed, if it did.
    public var lastFailure: String?
    /// Fetches attempted since start.
    public var fetchCount: Int
}
