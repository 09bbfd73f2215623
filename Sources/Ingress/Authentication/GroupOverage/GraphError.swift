/// Why a group-overage lookup failed. Its ``reason`` is shown to the user whose groups could
/// not be resolved, so it names what failed and never a secret or a token.
public struct GraphError: Error, Sendable, Equatable, CustomStringConvertible {
    /// For the user and the logs: which step failed (app token, Graph), and how.
    public var reason: String
    /// The HTTP status of the answer that failed, when there was one.
    public var status: Int?

    public init(_ reason: String, status: Int? = nil) {
        self.reason = reason
        self.status = status
    }

    public var description: String { reason }
}
