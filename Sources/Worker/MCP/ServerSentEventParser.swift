/// One server-sent event.
struct ServerSentEvent: Sendable, Equatable {
    /// The `event:` field; `message` when the server named none.
    var event: String = "message"
    var data: String = ""
    var id: String?
}

/// Splits a `text/event-stream` body, fed in chunks as they arrive, into events, following the
/// WHATWG rules: lines end in CRLF, LF or CR; `:` starts a comment; `data:` lines join with `\n`;
/// one space after the colon is dropped; a blank line ends an event, and an event with no data
/// is not dispatched.
///
/// A line longer than `maximumLineLength` bytes is a protocol error, so that a broken or hostile
/// server cannot grow our buffer without bound.
struct ServerSentEventParser {
    let maximumLineLength: Int
    private var line: [UInt8] = []
    private var lastWasCR = false
    private var current = ServerSentEvent()
    private var hasData = false
    /// The reconnection time in milliseconds the server last asked for (`retry:`).
    private(set) var retry: Int?

    init(maximumLineLength: Int) {
        self.maximumLineLength = maximumLineLength
    }

    struct LineTooLong: Error {}

    /// Feeds bytes; returns the events they completed.
    mutating func feed(_ bytes: some Sequence<UInt8>) throws(LineTooLong) -> [ServerSentEvent] {
        var events: [ServerSentEvent] = []
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\n"):
                if lastWasCR {
                    lastWasCR = false
                    continue
                }
                endLine(into: &events)
            case UInt8(ascii: "\r"):
                lastWasCR = true
                endLine(into: &events)
                continue
            default:
                line.append(byte)
                if line.count > maximumLineLength { throw LineTooLong() }
            }
            lastWasCR = false
        }
        return events
    }

    private mutating func endLine(into events: inout [ServerSentEvent]) {
        defer { line.removeAll(keepingCapacity: true) }
        if line.isEmpty {
            if hasData {
                events.append(current)
            }
            current = ServerSentEvent()
            hasData = false
            return
        }
        if line.first == UInt8(ascii: ":") { return }
        let field: Substring
        var value: Substring
        let text = String(decoding: line, as: UTF8.self)
        if let colon = text.firstIndex(of: ":") {
            field = text[..<colon]
            value = text[text.index(after: colon)...]
            if value.first == " " { value = value.dropFirst() }
        } else {
            field = Substring(text)
            value = ""
        }
        switch field {
        case "event": current.event = value.isEmpty ? "message" : String(value)
        case "data":
            if hasData { current.data += "\n" }
            current.data += value
            hasData = true
        case "id": if !value.contains("\0") { current.id = String(value) }
        case "retry": if !value.isEmpty, value.allSatisfy(\.isASCII), let milliseconds = Int(value) { retry = milliseconds }
        default: break
        }
    }
}
