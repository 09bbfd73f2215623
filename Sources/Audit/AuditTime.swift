import Foundation
import Shared

/// The times and durations operators type: `2h`, `1h30m`, `7d`, `2026-12-07T10:00:00Z`,
/// `2026-12-07T10:00:00.250+01:00`, `2026-12-07` (midnight UTC) or epoch milliseconds with `@`.
public enum AuditTime {
    /// A duration such as `90s`, `15m`, `2h`, `1h30m`, `7d`, `2w`, `500ms`.
    public static func duration(_ text: String) throws(AuditFailure) -> Duration {
        let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000), ("w", 604_800_000)]
        var rest = Substring(text.trimmingCharacters(in: .whitespaces))
        var total: Int64 = 0
        guard !rest.isEmpty else { throw malformed(text, "a duration") }
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, digits.count <= 9, let value = Int64(digits) else { throw malformed(text, "a duration") }
            rest = rest.dropFirst(digits.count)
            let unit = rest.prefix { $0.isLetter }
            guard let factor = units.first(where: { $0.0 == unit })?.1 else { throw malformed(text, "a duration") }
            rest = rest.dropFirst(unit.count)
            total += value * factor
        }
        return .milliseconds(total)
    }

    /// A point in time: ISO 8601 (with a zone, optional fractional seconds), a date (UTC
    /// midnight), `@<epoch ms>`, or a duration meaning that long before `now`.
    public static func instant(_ text: String, now: Date = .now) throws(AuditFailure) -> Date {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.hasPrefix("@"), let milliseconds = Int64(trimmed.dropFirst()) {
            return Date(timeIntervalSince1970: Double(milliseconds) / 1000)
        }
        if let date = parseISO(trimmed) { return date }
        if let duration = try? duration(trimmed) {
            return now.addingTimeInterval(-Double(duration.components.seconds) - Double(duration.components.attoseconds) / 1e18)
        }
        throw malformed(text, "a time (2026-12-07T10:00:00Z, 2026-12-07, @1765101600000, or a duration such as 2h)")
    }

    static func parseISO(_ text: String) -> Date? {
        let full = ISO8601DateFormatter()
        full.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = full.date(from: text) { return date }
        let plain = ISO8601DateFormatter()
        plain.formatOptions = [.withInternetDateTime]
        if let date = plain.date(from: text) { return date }
        if text.wholeMatch(of: /[0-9]{4}-[0-9]{2}-[0-9]{2}/) != nil {
            let day = ISO8601DateFormatter()
            day.formatOptions = [.withFullDate]
            return day.date(from: text)
        }
        return nil
    }

    /// `2026-12-07T10:00:00.250Z`: how every command prints a time (UTC, milliseconds).
    public static func format(_ date: Date) -> String {
        let milliseconds = date.millisecondsSince1970
        var seconds = time_t(milliseconds.floorDivided(by: 1000))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let fraction = Int(milliseconds - Int64(seconds) * 1000)
        let millis = fraction < 10 ? "00\(fraction)" : fraction < 100 ? "0\(fraction)" : "\(fraction)"
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(millis)Z"
    }

    static func malformed(_ text: String, _ expected: String) -> AuditFailure {
        AuditFailure(.malformedInput, "'\(text)' is not \(expected)")
    }
}

extension Int64 {
    /// Division rounding towards minus infinity (times before 1970 too).
    func floorDivided(by divisor: Int64) -> Int64 {
        let quotient = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }
}
