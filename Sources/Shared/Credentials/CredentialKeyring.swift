import Crypto
import Foundation

/// The keys that seal backend credentials at rest (AES-256-GCM), from configuration (in
/// production a Kubernetes secret mounted as environment).
///
/// | variable | meaning |
/// | --- | --- |
/// | `CREDENTIALS_KEY` | required by workers and by the CLI's credential commands: 32 bytes, base64 or hex |
/// | `CREDENTIALS_KEY_ID` | the current key's id, stored with every sealed value; default `k1` |
/// | `CREDENTIALS_KEYS_PREVIOUS` | optional `id:key,...`: older keys, still able to open values sealed under them |
///
/// New values are sealed under the current key. Rotation, in this order: give every worker the
/// new key as a previous key (they can open values sealed under it), run
/// `mcpgw credentials rotate-key` with the new key current and the old one previous (it refuses
/// while a live worker lacks the new key), make the new key current on the workers, then drop
/// the old key. Errors name the variable or the key id, never key material.
public struct CredentialKeyring: Sendable, CustomStringConvertible {
    public enum Variable {
        public static let key = "CREDENTIALS_KEY"
        public static let keyID = "CREDENTIALS_KEY_ID"
        public static let previousKeys = "CREDENTIALS_KEYS_PREVIOUS"
    }

    public static let defaultKeyID = "k1"

    public let currentKeyID: String
    private let keys: [String: SymmetricKey]

    public init(currentKeyID: String, currentKey: SymmetricKey, previousKeys: [String: SymmetricKey] = [:]) {
        self.currentKeyID = currentKeyID
        var keys = previousKeys
        keys[currentKeyID] = currentKey
        self.keys = keys
    }

    public init(environment: EnvironmentReader = EnvironmentReader()) throws(ConfigurationError) {
        let keyID = environment.string(Variable.keyID)?.trimmingCharacters(in: .whitespacesAndNewlines) ?? Self.defaultKeyID
        guard EnvelopeSigningConfiguration.isValidKeyID(keyID) else {
            throw ConfigurationError(variable: Variable.keyID, reason: "must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' or '-'")
        }
        guard let raw = environment.string(Variable.key), !raw.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw ConfigurationError(
                variable: Variable.key,
                reason: "is required: the 32-byte AES-256 key (base64 or hex) that seals backend credentials; generate one with 'openssl rand -base64 32'"
            )
        }
        let key = try Self.decodeKey(raw, variable: Variable.key, what: "the key")
        var previous: [String: SymmetricKey] = [:]
        for (index, entry) in environment.list(Variable.previousKeys).enumerated() {
            guard let colon = entry.firstIndex(of: ":") else {
                throw ConfigurationError(variable: Variable.previousKeys, reason: "entry \(index + 1) must be id:key")
            }
            let id = String(entry[..<colon]).trimmingCharacters(in: .whitespaces)
            guard EnvelopeSigningConfiguration.isValidKeyID(id), id != keyID, previous[id] == nil else {
                throw ConfigurationError(
                    variable: Variable.previousKeys, reason: "entry \(index + 1) has an invalid, repeated or current key id '\(id)'")
            }
            previous[id] = try Self.decodeKey(String(entry[entry.index(after: colon)...]), variable: Variable.previousKeys, what: "the key of '\(id)'")
        }
        self.init(currentKeyID: keyID, currentKey: key, previousKeys: previous)
    }

    /// Every key id this keyring can open, current first.
    public var keyIDs: [String] {
        [currentKeyID] + keys.keys.filter { $0 != currentKeyID }.sorted()
    }

    public func hasKey(_ id: String) -> Bool { keys[id] != nil }

    /// A fingerprint of the key `id` (an HMAC of a fixed label under the key, 16 hex digits):
    /// equal for the same key, and no help in guessing it. `nil` for a key this keyring lacks.
    public func fingerprint(of id: String) -> String? {
        guard let key = keys[id] else { return nil }
        let mac = HMAC<SHA256>.authenticationCode(for: Array("mcpgw credentials key fingerprint".utf8), using: key)
        return mac.prefix(8).map { String(format: "%02x", $0) }.joined()
    }

    /// Seals `plaintext` under the current key, bound to `context` (authenticated, not stored).
    public func seal(_ plaintext: [UInt8], context: String) throws(CredentialSealError) -> (keyID: String, sealed: Data) {
        try (currentKeyID, seal(plaintext, context: context, keyID: currentKeyID))
    }

    public func seal(_ plaintext: [UInt8], context: String, keyID: String) throws(CredentialSealError) -> Data {
        guard let key = keys[keyID] else { throw CredentialSealError(.unknownKey, keyID: keyID) }
        do {
            let box = try AES.GCM.seal(plaintext, using: key, authenticating: Array(context.utf8))
            guard let combined = box.combined else { throw CredentialSealError(.sealFailed, keyID: keyID) }
            return combined
        } catch let error as CredentialSealError {
            throw error
        } catch {
            throw CredentialSealError(.sealFailed, keyID: keyID)
        }
    }

    /// Opens a value sealed under `keyID` for `context`. A wrong key, a tampered value or a
    /// value moved to another row (another context) all fail the same way.
    public func open(_ sealed: Data, keyID: String, context: String) throws(CredentialSealError) -> [UInt8] {
        guard let key = keys[keyID] else { throw CredentialSealError(.unknownKey, keyID: keyID) }
        do {
            let box = try AES.GCM.SealedBox(combined: sealed)
            return Array(try AES.GCM.open(box, using: key, authenticating: Array(context.utf8)))
        } catch {
            throw CredentialSealError(.openFailed, keyID: keyID)
        }
    }

    public var description: String { "CredentialKeyring(currentKeyID: \(currentKeyID), keyIDs: \(keyIDs))" }

    static func decodeKey(_ raw: String, variable: String, what: String) throws(ConfigurationError) -> SymmetricKey {
        let text = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let bytes = EnvelopeSigningConfiguration.hexBytes(text) ?? EnvelopeSigningConfiguration.base64Bytes(text) else {
            throw ConfigurationError(variable: variable, reason: "\(what) must be base64 or hex")
        }
        guard bytes.count == 32 else {
            throw ConfigurationError(variable: variable, reason: "\(what) must decode to exactly 32 bytes (AES-256), got \(bytes.count)")
        }
        return SymmetricKey(data: bytes)
    }
}

/// A credential could not be sealed or opened. Never carries key material or plaintext.
public struct CredentialSealError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// No key with this id is configured.
        case unknownKey = "unknown_key"
        /// The key is not the one the value was sealed with, or the value was altered.
        case openFailed = "open_failed"
        case sealFailed = "seal_failed"
    }

    public var code: Code
    public var keyID: String

    public init(_ code: Code, keyID: String) {
        self.code = code
        self.keyID = keyID
    }

    public var description: String {
        switch code {
        case .unknownKey:
            "no credentials key with id '\(keyID)' is configured (\(CredentialKeyring.Variable.key)/\(CredentialKeyring.Variable.keyID) or \(CredentialKeyring.Variable.previousKeys))"
        case .openFailed:
            "a credential sealed under key '\(keyID)' does not open with the configured key of that id: wrong key, or the value was altered"
        case .sealFailed: "sealing a credential under key '\(keyID)' failed"
        }
    }
}
