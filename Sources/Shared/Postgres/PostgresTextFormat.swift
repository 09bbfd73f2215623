import Foundation

/// PostgreSQL's text input/output formats for the types whose text form needs more than
/// `description`: timestamps, one-dimensional arrays and `bytea`.
///
/// The client sends and receives everything in text format (libpq's format 0): the server then
/// does the type conversion, results read the same whatever the column's exact type (int4 or
/// int8, varchar or text), and nothing depends on the binary layout of a server version.
enum PostgresTextFormat {
    /// A failure to read a value; the row turns it into a ``PostgresError`` naming the column.
    struct Failure: Error {
        var reason: String
    }

    // MARK: Timestamps

    private static let secondsFrom1970To2001: Int64 = 978_307_200

    /// `2024-05-01 12:34:56.123456+00`: microseconds (timestamptz's precision), always UTC, so the
    /// value is an exact instant whatever the session's `TimeZone`.
    static func timestamp(_ date: Date) -> String {
        if date == .distantFuture { return "infinity" }
        if date == .distantPast { return "-infinity" }
        let totalMicroseconds = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
        let (seconds, micros) = floorDivide(totalMicroseconds, 1_000_000)
        let (days, secondOfDay) = floorDivide(seconds, 86_400)
        let (year, month, day) = civil(fromDays: days)
        var text = ""
        text.reserveCapacity(32)
        text += pad(year > 0 ? year : 1 - year, 4)
        text += "-" + pad(month, 2) + "-" + pad(day, 2)
        text += " " + pad(secondOfDay / 3600, 2) + ":" + pad(secondOfDay % 3600 / 60, 2) + ":" + pad(secondOfDay % 60, 2)
        text += "." + pad(micros, 6) + "+00"
        if year <= 0 { text += " BC" }
        return text
    }

    /// Reads the ISO output of `timestamptz`, `timestamp` (taken as UTC) and `date`, with any UTC
    /// offset the session's `TimeZone` produced (`+05:30`, `-03`, even historic `+00:53:28`), and
    /// the ISO 8601 `T`/`Z` spelling a text column may hold.
    static func parseTimestamp(_ text: String) throws(Failure) -> Date {
        switch text {
        case "infinity": return .distantFuture
        case "-infinity": return .distantPast
        default: break
        }
        var scanner = ByteScanner(text)
        let bad = Failure(reason: "the value is not a timestamp")
        guard var year = scanner.integer(), scanner.take(UInt8(ascii: "-")),
            let month = scanner.integer(digits: 2), scanner.take(UInt8(ascii: "-")),
            let day = scanner.integer(digits: 2), (1...12).contains(month), (1...31).contains(day)
        else { throw bad }
        var secondOfDay: Int64 = 0
        var micros: Int64 = 0
        var offset: Int64 = 0
        if scanner.take(UInt8(ascii: " ")) || scanner.take(UInt8(ascii: "T")) {
            guard let hour = scanner.integer(digits: 2), scanner.take(UInt8(ascii: ":")),
                let minute = scanner.integer(digits: 2), scanner.take(UInt8(ascii: ":")),
                let second = scanner.integer(digits: 2), hour <= 24, minute < 60, second <= 60
            else { throw bad }
            secondOfDay = hour * 3600 + minute * 60 + second
            if scanner.take(UInt8(ascii: ".")) {
                var digits = 0
                while let digit = scanner.digit() {
                    if digits < 6 { micros = micros * 10 + digit }
                    digits += 1
                }
                guard digits > 0 else { throw bad }
                for _ in digits..<max(digits, 6) { micros *= 10 }
            }
            if scanner.take(UInt8(ascii: "Z")) {
                offset = 0
            } else if let sign = scanner.peek(), sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
                scanner.advance()
                guard let hours = scanner.integer(digits: 2) else { throw bad }
                var seconds = hours * 3600
                if scanner.take(UInt8(ascii: ":")) {
                    guard let minutes = scanner.integer(digits: 2) else { throw bad }
                    seconds += minutes * 60
                    if scanner.take(UInt8(ascii: ":")) {
                        guard let extra = scanner.integer(digits: 2) else { throw bad }
                        seconds += extra
                    }
                }
                offset = sign == UInt8(ascii: "+") ? seconds : -seconds
            }
        }
        if scanner.take(" BC") { year = 1 - year }
        guard scanner.isAtEnd else { throw bad }
        let seconds = days(fromCivil: year, month, day) * 86_400 + secondOfDay - offset
        return Date(
            timeIntervalSinceReferenceDate: Double(seconds - secondsFrom1970To2001) + Double(micros) / 1_000_000
        )
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
    private static func days(fromCivil year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The inverse of ``days(fromCivil:_:_:)``.
    private static func civil(fromDays days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    private static func floorDivide(_ value: Int64, _ divisor: Int64) -> (Int64, Int64) {
        let quotient = value >= 0 ? value / divisor : -((-value + divisor - 1) / divisor)
        return (quotient, value - quotient * divisor)
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }

    // MARK: Arrays

    /// A one-dimensional array literal with every element double-quoted, so that no element
    /// content (commas, braces, quotes, backslashes, the word NULL, blanks) can change its shape.
    static func arrayLiteral(_ elements: [String?]) -> String {
        var text = "{"
        for (index, element) in elements.enumerated() {
            if index > 0 { text += "," }
            guard let element else {
                text += "NULL"
                continue
            }
            text += "\""
            for character in element.unicodeScalars {
                if character == "\"" || character == "\\" { text += "\\" }
                text.unicodeScalars.append(character)
            }
            text += "\""
        }
        return text + "}"
    }

    /// Parses the array output format: `{a,"b c","d\"e",NULL}`, with the `[l:u]=` prefix the
    /// server adds when the lower bound is not 1. Multi-dimensional arrays are refused.
    static func parseArray(_ text: String) throws(Failure) -> [String?] {
        var scanner = ByteScanner(text)
        let bad = Failure(reason: "the value is not a one-dimensional array literal")
        if scanner.peek() == UInt8(ascii: "[") {
            while let byte = scanner.next(), byte != UInt8(ascii: "=") {}
        }
        guard scanner.take(UInt8(ascii: "{")) else { throw bad }
        var elements: [String?] = []
        scanner.skipSpaces()
        if scanner.take(UInt8(ascii: "}")) {
            scanner.skipSpaces()
            guard scanner.isAtEnd else { throw bad }
            return elements
        }
        while true {
            scanner.skipSpaces()
            var bytes: [UInt8] = []
            var quoted = false
            switch scanner.peek() {
            case UInt8(ascii: "{"):
                throw Failure(reason: "multi-dimensional arrays are not supported")
            case UInt8(ascii: "\""):
                quoted = true
                scanner.advance()
                while true {
                    guard let byte = scanner.next() else { throw bad }
                    if byte == UInt8(ascii: "\"") { break }
                    if byte == UInt8(ascii: "\\") {
                        guard let escaped = scanner.next() else { throw bad }
                        bytes.append(escaped)
                    } else {
                        bytes.append(byte)
                    }
                }
            default:
                while let byte = scanner.peek(), byte != UInt8(ascii: ","), byte != UInt8(ascii: "}") {
                    scanner.advance()
                    if byte == UInt8(ascii: "\\") {
                        guard let escaped = scanner.next() else { throw bad }
                        bytes.append(escaped)
                    } else {
                        bytes.append(byte)
                    }
                }
                while let last = bytes.last, last == UInt8(ascii: " ") { bytes.removeLast() }
            }
            let element = String(decoding: bytes, as: UTF8.self)
            if !quoted && element.uppercased() == "NULL" {
                elements.append(nil)
            } else {
                elements.append(element)
            }
            scanner.skipSpaces()
            if scanner.take(UInt8(ascii: ",")) { continue }
            if scanner.take(UInt8(ascii: "}")) { break }
            throw bad
        }
        scanner.skipSpaces()
        guard scanner.isAtEnd else { throw bad }
        return elements
    }

    // MARK: bytea

    /// `\x` followed by two hex digits a byte: `bytea`'s hex input format.
    static func byteaHex(_ data: Data) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var bytes: [UInt8] = [UInt8(ascii: "\\"), UInt8(ascii: "x")]
        bytes.reserveCapacity(2 + data.count * 2)
        for byte in data {
            bytes.append(digits[Int(byte >> 4)])
            bytes.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Reads both `bytea_output` formats: `hex` (the default) and the older `escape`.
    static func parseBytea(_ text: String) throws(Failure) -> Data {
        let bytes = Array(text.utf8)
        if bytes.count >= 2 && bytes[0] == UInt8(ascii: "\\") && bytes[1] == UInt8(ascii: "x") {
            guard bytes.count % 2 == 0 else { throw Failure(reason: "odd number of hex digits in bytea") }
            var data = Data(capacity: (bytes.count - 2) / 2)
            var index = 2
            while index < bytes.count {
                guard let high = hexValue(bytes[index]), let low = hexValue(bytes[index + 1]) else {
                    throw Failure(reason: "invalid hex digit in bytea")
                }
                data.append(high << 4 | low)
                index += 2
            }
            return data
        }
        var data = Data(capacity: bytes.count)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            guard byte == UInt8(ascii: "\\") else {
                data.append(byte)
                index += 1
                continue
            }
            if index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: "\\") {
                data.append(byte)
                index += 2
            } else if index + 3 < bytes.count, let a = octalValue(bytes[index + 1]), let b = octalValue(bytes[index + 2]),
                let c = octalValue(bytes[index + 3])
            {
                data.append(a << 6 | b << 3 | c)
                index += 4
            } else {
                throw Failure(reason: "invalid escape in bytea")
            }
        }
        return data
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    private static func octalValue(_ byte: UInt8) -> UInt8? {
        (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(byte) ? byte - UInt8(ascii: "0") : nil
    }

    // MARK: Identifiers

    /// `"name"` with embedded quotes doubled: safe to splice into SQL text as an identifier.
    static func quoteIdentifier(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

/// A cursor over a string's UTF-8 bytes, for the small parsers above.
private struct ByteScanner {
    private let bytes: [UInt8]
    private var index = 0

    init(_ text: String) { bytes = Array(text.utf8) }

    var isAtEnd: Bool { index == bytes.count }

    func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

    mutating func advance() { index += 1 }

    mutating func next() -> UInt8? {
        guard index < bytes.count else { return nil }
        defer { index += 1 }
        return bytes[index]
    }

    mutating func take(_ byte: UInt8) -> Bool {
        guard peek() == byte else { return false }
        index += 1
        return true
    }

    mutating func take(_ literal: String) -> Bool {
        let expected = Array(literal.utf8)
        guard bytes.count - index >= expected.count, Array(bytes[index..<index + expected.count]) == expected else { return false }
        index += expected.count
        return true
    }

    mutating func skipSpaces() {
        while let byte = peek(), byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\n") {
            index += 1
        }
    }

    mutating func digit() -> Int64? {
        guard let byte = peek(), (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
        index += 1
        return Int64(byte - UInt8(ascii: "0"))
    }

    /// Exactly `digits` digits, or at least one when `digits` is nil.
    mutating func integer(digits: Int? = nil) -> Int64? {
        let start = index
        var value: Int64 = 0
        while let digit = digit() {
            value = value * 10 + digit
            if let digits, index - start == digits { break }
            if index - start > 12 { return nil }
        }
        let count = index - start
        if count == 0 || (digits != nil && count != digits) { return nil }
        return value
    }
}
