import Crypto
import CryptoExtras
import Foundation
import Shared

/// An RSA key of the tests' own, standing in for one of Entra's signing keys.
public struct TestSigningKey: Sendable {
    public let kid: String
    public let privateKey: _RSA.Signing.PrivateKey

    /// Generating RSA keys is slow; the tests share these.
    public static let primary = TestSigningKey(kid: "entra-key-1")
    public static let secondary = TestSigningKey(kid: "entra-key-2")
    /// Another key published under nobody's `kid`: signs forgeries.
    public static let rogue = TestSigningKey(kid: "entra-key-1")

    private init(kid: String) {
        self.kid = kid
        // Key generation only fails on a broken crypto library; nothing a test could handle.
        self.privateKey = try! _RSA.Signing.PrivateKey(keySize: .bits2048)
    }

    /// The public key as Entra publishes it: `kty`, `use`, `kid`, `x5t`, `n`, `e`, and an
    /// `issuer` template.
    public var jwk: [String: JSONValue] {
        let primitives = try! privateKey.publicKey.getKeyPrimitives()
        return [
            "kty": "RSA", "use": "sig", "kid": .string(kid), "x5t": .string(kid),
            "n": .string(TestToken.base64URL(primitives.modulus)), "e": .string(TestToken.base64URL(primitives.publicExponent)),
            "issuer": "https://login.microsoftonline.com/{tenantid}/v2.0",
        ]
    }

    /// The public key in PEM, as an attacker would use it for an HS256 secret.
    public var publicKeyPEM: String { privateKey.publicKey.pemRepresentation }

    public func sign(_ data: Data) -> Data {
        try! privateKey.signature(for: data, padding: .insecurePKCS1v1_5).rawRepresentation
    }

    /// A JWKS document with these keys.
    public static func jwks(_ keys: [TestSigningKey], extra: [JSONValue] = []) -> String {
        let document: JSONValue = .object(["keys": .array(keys.map { .object($0.jwk) } + extra)])
        return String(decoding: try! JSONEncoder().encode(document), as: UTF8.self)
    }
}
