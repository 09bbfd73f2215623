import Crypto
import Foundation

/// Name-based call ids: the same inputs give the same UUID on every replica.
enum UUIDs {
    /// A UUID (version 8, RFC 9562 layout) from the SHA-256 of the parts.
    static func derived(_ parts: String...) -> String {
        derived(parts: parts)
    }

    static func derived(parts: [String]) -> String {
        var bytes = Array(SHA256.hash(data: Array(parts.joined(separator: "\u{0}").utf8)).prefix(16))
        bytes[6] = (bytes[6] & 0x0F) | 0x80
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        let uuid = UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
        return uuid.uuidString.lowercased()
    }
}
