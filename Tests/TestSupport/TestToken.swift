import Crypto
import Foundation
import Shared

/// Builds compact JWS tokens byte by byte, so tests control every header field, claim and
/// signature, including the hostile ones no JWT library would produce.
public struct TestToken {
    public var header: [String: JSONValue]
    public var claims: [String: JSONValue]

    /// An RS256 header naming `key`.
    public init(key: TestSigningKey = .primary, claims: [String: JSONValue]) {
        header = ["typ": "JWT", "alg": "RS256", "kid": .string(key.kid)]
        self.claims = claims
    }

    public var signingInput: String {
        Self.base64URL(Self.json(.object(header))) + "." + Self.base64URL(Self.json(.object(claims)))
    }

    /// Signed with RS256 by `key`.
    public func signed(by key: TestSigningKey = .primary) -> String {
        let input = signingInput
        return input + "." + Self.base64URL(key.sign(Data(input.utf8)))
    }

    /// Signed with HMAC-SHA256 using `secret` as the key: the algorithm-confusion attack when
    /// the secret is the issuer's public key.
    public func signedHS256(secret: Data) -> String {
        let input = signingInput
        let mac = HMAC<SHA256>.authenticationCode(for: Data(input.utf8), using: SymmetricKey(data: secret))
        return input + "." + Self.base64URL(Data(mac))
    }

    /// `alg: none` style: no signature at all.
    public var unsigned: String { signingInput + "." }

    public static func json(_ value: JSONValue) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try! encoder.encode(value)
    }

    public static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
