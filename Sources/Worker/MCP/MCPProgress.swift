/// One `notifications/progress` a server sent about a running call.
public struct MCPProgress: Sendable, Hashable {
    /// How far the call has got; grows with every notification.
    public var progress: Double
    /// The total `progress` will reach, when the server knows it.
    public var total: Double?
    public var message: String?

    public init(progress: Double, total: Double? = nil, message: String? = nil) {
        self.progress = progress
        self.total = total
        self.message = message
    }
}

/// Receives a call's progress notifications, on whatever thread read them: keep it quick, and
/// hand the work to a task or a stream if it is more than a hand-off.
public typealias MCPProgressHandler = @Sendable (MCPProgress) -> Void
