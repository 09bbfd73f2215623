import Foundation

/// Where a read starts or stops: `first`, `last`, a stream offset, or a time.
public enum AuditPosition: Sendable, Equatable {
    case first
    case last
    case offset(Int64)
    case time(Date)

    /// Reads `first`, `last`, a non-negative integer (an offset) or a time (``AuditTime/instant(_:now:)``).
    public static func parse(_ text: String, now: Date = .now) throws(AuditFailure) -> AuditPosition {
        switch text {
        case "first": return .first
        case "last": return .last
        default:
            if text.allSatisfy({ $0.isASCII && $0.isNumber }), !text.isEmpty {
                guard let offset = Int64(text) else { throw AuditFailure(.malformedInput, "offset '\(text)' is too large") }
                return .offset(offset)
            }
            if text.hasPrefix("-"), Int64(text) != nil { throw AuditFailure(.malformedInput, "offset '\(text)' is negative") }
            do {
                return .time(try AuditTime.instant(text, now: now))
            } catch {
                throw AuditFailure(
                    .malformedInput, "'\(text)' is not a position: first, last, an offset, or a time (2026-12-07T10:00:00Z, 2026-12-07, @epoch-ms, 2h)"
                )
            }
        }
    }
}
