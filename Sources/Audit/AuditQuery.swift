import Foundation
import Shared

/// What one `audit read|export|stats|show` asks of the stream: a range, filters, a limit.
/// ``run(_:_:)`` resolves the range against the stream's end (``AuditStreamReader/lastOffset()``)
/// and hands over the matching entries in stream order.
public struct AuditQuery: Sendable {
    public var from: AuditPosition = .first
    public var to: AuditPosition?
    public var filter = AuditFilter()
    public var limit: Int?
    /// Keep reading new records as they arrive (no end).
    public var follow = false

    public init() {}

    /// How the query's range maps onto the stream.
    public struct Range: Sendable, Equatable {
        /// The `x-stream-offset` to subscribe at.
        public var start: AMQPFieldValue
        /// The last offset to read, `nil` to follow.
        public var through: Int64?
        /// The stream's newest offset when the read began (`nil`: empty).
        public var end: Int64?
    }

    /// Resolves the range; `nil` when there is nothing to read (an empty stream, not followed).
    public func range(end: Int64?) throws(AuditFailure) -> Range? {
        var start: AMQPFieldValue
        switch from {
        case .first: start = "first"
        case .last:
            guard let end else { return follow ? Range(start: "next", through: nil, end: nil) : nil }
            start = .int(end)
        case .offset(let offset):
            if !follow, offset > (end ?? -1) {
                throw AuditFailure(
                    .offsetPastEnd, "offset \(offset) is past the end of the stream (\(end.map { "newest offset \($0)" } ?? "the stream is empty"))"
                )
            }
            start = .int(offset)
        case .time(let date):
            start = .timestamp(UInt64(max(0, date.timeIntervalSince1970.rounded(.down))))
        }
        var through: Int64? = follow ? nil : end
        switch to {
        case nil, .last?, .time?: break
        case .first?: throw AuditFailure(.malformedInput, "--to first reads nothing; give an offset, a time or last")
        case .offset(let offset)?: through = min(through ?? offset, offset)
        }
        if !follow, end == nil { return nil }
        return Range(start: start, through: through, end: end)
    }

    /// The filter with the range's times folded in.
    public var effectiveFilter: AuditFilter {
        var filter = self.filter
        if case .time(let date) = from { filter.since = max(filter.since ?? date, date) }
        if case .time(let date)? = to { filter.until = min(filter.until ?? date, date) }
        return filter
    }

    /// Reads the matching entries; returns how many matched and the last offset read.
    @discardableResult
    public func run(_ reader: AuditStreamReader, _ body: (AuditEntry) async throws -> Void) async throws -> (matched: Int, lastOffset: Int64?) {
        try await reader.checkExists()
        let end = follow ? nil : try await reader.lastOffset()
        guard let range = try range(end: end) else { return (0, nil) }
        let filter = effectiveFilter
        var matched = 0
        let last = try await reader.read(start: range.start, through: range.through) { entry in
            guard filter.matches(entry) else { return true }
            try await body(entry)
            matched += 1
            return limit.map { matched < $0 } ?? true
        }
        return (matched, last)
    }
}
