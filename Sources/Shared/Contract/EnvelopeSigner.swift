import Crypto
import Foundation

/// Signs and verifies message bodies with HMAC-SHA256 under a secret shared by the ingress and
/// the workers.
///
/// The MAC covers the exact body bytes, nothing else: the worker verifies the bytes it received
/// before it parses them, so a JSON parser never sees data from anyone but an ingress. The key
/// id is not secret; it only picks which key to verify with, and a forged id gains nothing
/// without that key.
///
/// A signature does not stop replays by someone who can publish to the broker; the envelope's
/// deadline bounds how long a replayed message is worth anything, and workers dedupe by call id.
public struct EnvelopeSigner: Sendable {
    public let currentKeyID: String
    private let currentKey: SymmetricKey
    private let verificationKeys: [String: SymmetricKey]

    /// Signs with `currentKey`; verifies with it and with `previousKeys`.
    public init(currentKeyID: String, currentKey: SymmetricKey, previousKeys: [String: SymmetricKey] = [:]) {
        self.currentKeyID = currentKeyID
        self.currentKey = currentKey
        var keys = previousKeys
        keys[currentKeyID] = currentKey
        self.verificationKeys = keys
    }

    public init(configuration: EnvelopeSigningConfiguration) {
        self.init(
            currentKeyID: configuration.currentKeyID,
            currentKey: configuration.currentKey,
            previousKeys: configuration.previousKeys
        )
    }

    /// The ids of every key this signer accepts, current one included.
    public var acceptedKeyIDs: Set<String> { Set(verificationKeys.keys) }

    /// The current key's id and the base64 HMAC-SHA256 of `body`, for the ``ContractHeaders/signatureKeyID``
    /// and ``ContractHeaders/signature`` headers.
    public func sign(body: some DataProtocol) -> (keyID: String, signature: String) {
        let mac = HMAC<SHA256>.authenticationCode(for: body, using: currentKey)
        return (currentKeyID, Data(mac).base64EncodedString())
    }

    /// Throws unless `signature` is the base64 HMAC-SHA256 of `body` under the key `keyID`.
    ///
    /// The comparison is constant-time (`HMAC.isValidAuthenticationCode`), so the time taken
    /// does not tell an attacker how many leading bytes of a forged signature were right.
    public func verify(body: some DataProtocol, keyID: String, signature: String) throws(EnvelopeError) {
        guard let key = verificationKeys[keyID] else { throw .unknownKey(keyID) }
        guard let mac = Data(base64Encoded: signature), mac.count == SHA256.byteCount else { throw .badSignature }
        guard HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: body, using: key) else {
            throw .badSignature
        }
    }
}

extension EnvelopeSigner {
    /// A signer from ``EnvelopeSigningConfiguration``'s environment variables.
    public init(environment: EnvironmentReader = EnvironmentReader()) throws(ConfigurationError) {
        self.init(configuration: try EnvelopeSigningConfiguration(environment: environment))
    }
}
