/// W3C Trace Context (`traceparent` and `tracestate`) carried from the HTTP request through the
/// envelope and the AMQP headers to the worker and its backend call.
///
/// Only well-formed values exist as a `TraceContext`: the failable initializer refuses a
/// malformed `traceparent` (and then `tracestate` goes with it, as the W3C spec requires), so an
/// invalid inbound value is dropped at the edge instead of being propagated.
public struct TraceContext: Codable, Sendable, Equatable, Hashable {
    /// `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`, lowercase.
    public let traceparent: String
    /// Vendor-specific state, passed on unchanged when it is printable ASCII of at most
    /// ``maximumTracestateLength`` characters; otherwise dropped.
    public let tracestate: String?

    /// The W3C spec lets vendors truncate beyond this; we drop instead of truncating.
    public static let maximumTracestateLength = 512

    /// Accepts a `traceparent` of version `00` with non-zero trace and parent ids, lowercase hex.
    /// Returns `nil` for anything else. An invalid `tracestate` is dropped, keeping the parent.
    public init?(traceparent: String, tracestate: String? = nil) {
        guard Self.isValidTraceparent(traceparent) else { return nil }
        self.traceparent = traceparent
        if let tracestate, Self.isValidTracestate(tracestate) {
            self.tracestate = tracestate
        } else {
            self.tracestate = nil
        }
    }

    /// The context found in message or HTTP headers (keys ``ContractHeaders/traceparent`` and
    /// ``ContractHeaders/tracestate``), or `nil` when there is none or it is malformed.
    public init?(headers: [String: String]) {
        guard let parent = headers[ContractHeaders.traceparent] else { return nil }
        self.init(traceparent: parent, tracestate: headers[ContractHeaders.tracestate])
    }

    /// A new trace: random trace and parent ids, sampled.
    public static func fresh() -> TraceContext {
        var generator = SystemRandomNumberGenerator()
        return fresh(using: &generator)
    }

    /// A new trace drawn from `generator` (tests pass a seeded one).
    public static func fresh(using generator: inout some RandomNumberGenerator) -> TraceContext {
        let traceID = Self.randomHex(bytes: 16, using: &generator)
        let parentID = Self.randomHex(bytes: 8, using: &generator)
        // 16 random bytes, of which at least one is made non-zero by randomHex: always valid.
        return TraceContext(uncheckedTraceparent: "00-\(traceID)-\(parentID)-01", tracestate: nil)
    }

    /// The same trace with a new parent id: what a hop (the worker) sends on downstream.
    public func child() -> TraceContext {
        var generator = SystemRandomNumberGenerator()
        return child(using: &generator)
    }

    public func child(using generator: inout some RandomNumberGenerator) -> TraceContext {
        let parentID = Self.randomHex(bytes: 8, using: &generator)
        return TraceContext(uncheckedTraceparent: "00-\(traceID)-\(parentID)-\(flags)", tracestate: tracestate)
    }

    /// The 32 hex digits of the trace id.
    public var traceID: String { String(decoding: traceparent.utf8.dropFirst(3).prefix(32), as: UTF8.self) }
    /// The 16 hex digits of the parent (span) id.
    public var parentID: String { String(decoding: traceparent.utf8.dropFirst(36).prefix(16), as: UTF8.self) }
    /// The two hex digits of the trace flags.
    public var flags: String { String(decoding: traceparent.utf8.suffix(2), as: UTF8.self) }
    /// Bit 0 of the flags: the caller recorded this trace.
    public var isSampled: Bool { (UInt8(flags, radix: 16) ?? 0) & 1 == 1 }

    /// The headers to put on an AMQP message or HTTP request.
    public var headers: [String: String] {
        var headers = [ContractHeaders.traceparent: traceparent]
        if let tracestate { headers[ContractHeaders.tracestate] = tracestate }
        return headers
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let parent = try container.decode(String.self, forKey: .traceparent)
        let state = try container.decodeIfPresent(String.self, forKey: .tracestate)
        guard let context = TraceContext(traceparent: parent, tracestate: state) else {
            throw DecodingError.dataCorruptedError(forKey: .traceparent, in: container, debugDescription: "malformed traceparent")
        }
        self = context
    }

    private init(uncheckedTraceparent: String, tracestate: String?) {
        self.traceparent = uncheckedTraceparent
        self.tracestate = tracestate
    }

    // MARK: Validation

    static func isValidTraceparent(_ value: String) -> Bool {
        let bytes = Array(value.utf8)
        // "00-" + 32 + "-" + 16 + "-" + 2
        guard bytes.count == 55, bytes[0] == UInt8(ascii: "0"), bytes[1] == UInt8(ascii: "0"),
            bytes[2] == UInt8(ascii: "-"), bytes[35] == UInt8(ascii: "-"), bytes[52] == UInt8(ascii: "-")
        else { return false }
        let traceID = bytes[3..<35]
        let parentID = bytes[36..<52]
        let flags = bytes[53..<55]
        guard traceID.allSatisfy(isLowerHex), parentID.allSatisfy(isLowerHex), flags.allSatisfy(isLowerHex) else {
            return false
        }
        // All-zero ids are explicitly invalid.
        return traceID.contains { $0 != UInt8(ascii: "0") } && parentID.contains { $0 != UInt8(ascii: "0") }
    }

    static func isValidTracestate(_ value: String) -> Bool {
        let bytes = value.utf8
        return !bytes.isEmpty && bytes.count <= maximumTracestateLength && bytes.allSatisfy { (0x20...0x7E).contains($0) }
    }

    private static func isLowerHex(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
    }

    /// `bytes` random bytes as lowercase hex, never all zero.
    private static func randomHex(bytes count: Int, using generator: inout some RandomNumberGenerator) -> String {
        var bytes = (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        if bytes.allSatisfy({ $0 == 0 }) { bytes[count - 1] = 1 }
        let digits = Array("0123456789abcdef".utf8)
        var hex: [UInt8] = []
        hex.reserveCapacity(count * 2)
        for byte in bytes {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: hex, as: UTF8.self)
    }
}
