import Crypto
import Foundation

/// The shared secret(s) with which the ingress signs envelopes and workers verify them.
///
/// | variable | meaning |
/// | --- | --- |
/// | `ENVELOPE_SIGNING_KEY` | required: the current key, base64 (standard or URL-safe, padding optional) or hex; at least 32 bytes once decoded |
/// | `ENVELOPE_SIGNING_KEY_ID` | the current key's id, sent as `x-signature-key-id`; default `default`; 1 to 64 of `A-Z a-z 0-9 . _ -` |
/// | `ENVELOPE_SIGNING_KEYS_PREVIOUS` | optional: `id:key,id:key` accepted for verification only, so that a rotation needs no lock-step restart |
///
/// A value made only of hex digits (and of even length) is read as hex, anything else as base64.
/// Surrounding whitespace (a trailing newline from a mounted secret) is ignored.
///
/// Rotation: give every process the new key as previous, then make it current everywhere (the
/// old current one becomes previous), then drop the old one once no message signed with it can
/// still be queued (after the longest deadline).
///
/// Errors name the variable and never repeat key material.
public struct EnvelopeSigningConfiguration: Sendable, CustomStringConvertible {
    public enum Variable {
        public static let key = "ENVELOPE_SIGNING_KEY"
        public static let keyID = "ENVELOPE_SIGNING_KEY_ID"
        public static let previousKeys = "ENVELOPE_SIGNING_KEYS_PREVIOUS"
    }

    /// Shorter keys weaken HMAC-SHA256 below its 256-bit strength.
    public static let minimumKeyBytes = 32
    public static let defaultKeyID = "default"

    public var currentKeyID: String
    public var currentKey: SymmetricKey
    /// Keys accepted for verification only, by id.
    public var previousKeys: [String: SymmetricKey]

    public init(currentKeyID: String, currentKey: SymmetricKey, previousKeys: [String: SymmetricKey] = [:]) {
        self.currentKeyID = currentKeyID
        self.currentKey = currentKey
        self.previousKeys = previousKeys
    }

    public init(environment: EnvironmentReader = EnvironmentReader()) throws(ConfigurationError) {
        let keyID = environment.string(Variable.keyID)?.trimmingCharacters(in: .whitespacesAndNewlines) ?? Self.defaultKeyID
        guard Self.isValidKeyID(keyID) else {
            throw ConfigurationError(
                variable: Variable.keyID,
                reason: "must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' or '-'"
            )
        }
        let key = try Self.decodeKey(try environment.require(Variable.key), variable: Variable.key, what: "the key")

        var previous: [String: SymmetricKey] = [:]
        for (index, entry) in environment.list(Variable.previousKeys).enumerated() {
            let position = "entry \(index + 1)"
            guard let colon = entry.firstIndex(of: ":") else {
                throw ConfigurationError(variable: Variable.previousKeys, reason: "\(position) must be id:key")
            }
            let id = String(entry[..<colon]).trimmingCharacters(in: .whitespaces)
            guard Self.isValidKeyID(id) else {
                throw ConfigurationError(
                    variable: Variable.previousKeys,
                    reason: "\(position) has an invalid key id; ids are 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' or '-'"
                )
            }
            guard id != keyID, previous[id] == nil else {
                throw ConfigurationError(variable: Variable.previousKeys, reason: "key id '\(id)' is given more than once")
            }
            previous[id] = try Self.decodeKey(
                String(entry[entry.index(after: colon)...]),
                variable: Variable.previousKeys,
                what: "the key of '\(id)'"
            )
        }
        self.init(currentKeyID: keyID, currentKey: key, previousKeys: previous)
    }

    /// Never shows key material.
    public var description: String {
        let previous = previousKeys.keys.sorted().joined(separator: ",")
        return "EnvelopeSigningConfiguration(currentKeyID: \(currentKeyID), previousKeyIDs: [\(previous)])"
    }

    // MARK: Parsing

    static func isValidKeyID(_ id: String) -> Bool {
        let bytes = id.utf8
        return (1...64).contains(bytes.count)
            && bytes.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
                    true
                default:
                    false
                }
            }
    }

    static func decodeKey(_ raw: String, variable: String, what: String) throws(ConfigurationError) -> SymmetricKey {
        let text = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let bytes = Self.hexBytes(text) ?? Self.base64Bytes(text) else {
            throw ConfigurationError(variable: variable, reason: "\(what) must be base64 or hex")
        }
        guard bytes.count >= minimumKeyBytes else {
            throw ConfigurationError(
                variable: variable,
                reason: "\(what) must decode to at least \(minimumKeyBytes) bytes, got \(bytes.count)"
            )
        }
        return SymmetricKey(data: bytes)
    }

    /// The bytes of an even-length string of hex digits, or `nil`.
    static func hexBytes(_ text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard !digits.isEmpty, digits.count.isMultiple(of: 2) else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        var index = 0
        while index < digits.count {
            guard let high = hexValue(digits[index]), let low = hexValue(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    /// The bytes of standard or URL-safe base64, with or without padding, or `nil`.
    static func base64Bytes(_ text: String) -> [UInt8]? {
        guard !text.isEmpty else { return nil }
        var normalized = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        let remainder = normalized.utf8.count % 4
        if remainder == 1 { return nil }
        if remainder > 0 { normalized += String(repeating: "=", count: 4 - remainder) }
        guard let data = Data(base64Encoded: normalized) else { return nil }
        return Array(data)
    }

    private static func hexValue(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
