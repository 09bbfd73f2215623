import Foundation

/// The file `mcpgw audit export` writes: lines buffered and flushed every megabyte (bounded
/// memory), and resumable. `--resume` reads the last complete line's offset, drops a partial last
/// line (an export killed mid-write) and continues after it.
public final class AuditExportFile {
    private let handle: FileHandle
    private var buffer: [UInt8] = []
    public let format: AuditFormat
    /// The offset of the last record already in the file when resuming.
    public let resumedAfter: Int64?

    public init(path: String, format: AuditFormat, resume: Bool, overwrite: Bool) throws {
        precondition(format == .jsonl || format == .csv || format == .json)
        self.format = format
        let manager = FileManager.default
        let exists = manager.fileExists(atPath: path)
        if exists, !resume, !overwrite {
            throw AuditFailure(.refused, "\(path) exists: add --resume to continue it, or --force to replace it")
        }
        if !exists || !resume {
            guard manager.createFile(atPath: path, contents: nil) else { throw AuditFailure(.refused, "cannot create \(path)") }
        }
        handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        if exists, resume {
            let (offset, keep) = try Self.lastRecord(handle, format: format)
            try handle.truncate(atOffset: keep)
            try handle.seekToEnd()
            resumedAfter = offset
        } else {
            resumedAfter = nil
        }
        if resumedAfter == nil, let header = format.header, (try handle.seekToEnd()) == 0 {
            buffer.append(contentsOf: Array((header + "\n").utf8))
        }
    }

    public func write(_ entry: AuditEntry) throws {
        format.write(entry, to: &buffer)
        if buffer.count >= 1 << 20 { try flush() }
    }

    public func flush() throws {
        guard !buffer.isEmpty else { return }
        try handle.write(contentsOf: buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    public func close() throws {
        try flush()
        try handle.synchronize()
        try handle.close()
    }

    /// The offset in the last complete line, and the file length up to the end of that line.
    static func lastRecord(_ handle: FileHandle, format: AuditFormat) throws -> (Int64?, UInt64) {
        let size = try handle.seekToEnd()
        var start = size
        var tail: [UInt8] = []
        // Read backwards in 64 KB steps until a complete line with an offset is found.
        while start > 0 {
            let step = min(UInt64(65_536), start)
            start -= step
            try handle.seek(toOffset: start)
            tail = Array(try handle.read(upToCount: Int(step)) ?? Data()) + tail
            var end = tail.count
            // Lines that end with a newline are complete; look at them from the last.
            while let newline = tail[..<end].lastIndex(of: 0x0A) {
                let lineStart = (tail[..<newline].lastIndex(of: 0x0A).map { $0 + 1 }) ?? 0
                if lineStart == 0, start > 0 { break }
                let line = String(decoding: tail[lineStart..<newline], as: UTF8.self)
                if let offset = Self.offset(in: line, format: format) {
                    return (offset, start + UInt64(newline) + 1)
                }
                end = lineStart
                if end == 0 { break }
            }
        }
        // No record yet: keep a complete header line, if any.
        if let firstNewline = tail.firstIndex(of: 0x0A) { return (nil, UInt64(firstNewline) + 1) }
        return (nil, 0)
    }

    static func offset(in line: String, format: AuditFormat) -> Int64? {
        switch format {
        case .csv: return Int64(line.prefix { $0 != "," })
        default:
            // The last match: `arguments` (written first) may hold a key of that name too.
            guard let match = line.matches(of: /"offset":([0-9]+)/).last else { return nil }
            return Int64(match.output.1)
        }
    }
}
