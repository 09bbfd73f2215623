/// A failed call, as a worker reports it in a ``Reply`` and the edge turns it into an HTTP answer.
///
/// `message` is written for the caller; `detail` carries what an operator needs (the backend's
/// error text, the PostgreSQL message) and the edge decides whether to show it.
public struct GatewayError: Error, Codable, Sendable, Equatable, Hashable, CustomStringConvertible {
    public var code: GatewayErrorCode
    public var message: String
    public var detail: String?

    public init(_ code: GatewayErrorCode, _ message: String, detail: String? = nil) {
        self.code = code
        self.message = message
        self.detail = detail
    }

    public var description: String {
        if let detail { return "\(code.rawValue): \(message) (\(detail))" }
        return "\(code.rawValue): \(message)"
    }
}
