import Foundation

/// Strict base64url (RFC 4648 §5) without padding, as JWS compact serialisation requires.
enum Base64URL {
    /// The bytes, or `nil` for any character outside the URL-safe alphabet, padding, or an
    /// impossible length.
    static func decode(_ text: some StringProtocol) -> Data? {
        guard text.utf8.count % 4 != 1 else { return nil }
        var base64 = ""
        base64.reserveCapacity(text.utf8.count + 3)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "A"..."Z", "a"..."z", "0"..."9": base64.unicodeScalars.append(scalar)
            case "-": base64 += "+"
            case "_": base64 += "/"
            default: return nil
            }
        }
        base64 += String(repeating: "=", count: (4 - base64.utf8.count % 4) % 4)
        return Data(base64Encoded: base64)
    }
}
