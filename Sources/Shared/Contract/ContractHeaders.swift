import Foundation

/// AMQP header names of the contract, and the per-message `expiration` value.
///
/// Only the body is signed. Headers exist so that the broker, a worker's cheap pre-checks
/// (is this already past its deadline?) and tracing can work without decoding the body; a worker
/// acts on the signed envelope, never on a header alone.
public enum ContractHeaders {
    /// Base64 HMAC-SHA256 of the body bytes.
    public static let signature = "x-signature"
    /// Id of the key that made ``signature``.
    public static let signatureKeyID = "x-signature-key-id"
    /// The envelope's absolute deadline, integer milliseconds since 1970. RabbitMQ drops an
    /// expired message only when it reaches the queue head, so workers check this too.
    public static let deadline = "x-deadline-ms"
    /// W3C `traceparent`.
    public static let traceparent = "traceparent"
    /// W3C `tracestate`.
    public static let tracestate = "tracestate"
    /// The target MCP server id.
    public static let server = "x-mcp-server"
    /// The tool name, for `tools/call`.
    public static let tool = "x-mcp-tool"

    /// The AMQP `expiration` property for a message that is useless after `deadline`: the whole
    /// milliseconds left, rounded down so that the broker never keeps it past the deadline, and
    /// at least 1 (`"0"` would still hand the message to a consumer that is ready right now).
    public static func expiration(deadline: Date, now: Date = .now) -> String {
        let left = (deadline.timeIntervalSince(now) * 1000).rounded(.down)
        guard left.isFinite, left >= 1 else { return "1" }
        return String(Int64(min(left, Double(Int32.max))))
    }

    /// The deadline carried by ``deadline`` in `headers`, or `nil` when absent or not a number.
    public static func deadline(in headers: [String: String]) -> Date? {
        guard let raw = headers[deadline], let milliseconds = Int64(raw) else { return nil }
        return Date(millisecondsSince1970: milliseconds)
    }
}
