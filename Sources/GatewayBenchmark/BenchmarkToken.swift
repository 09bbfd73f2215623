import Crypto
import CryptoExtras
import Foundation
import Shared

/// The benchmark's own token issuer: an RSA key made for this run, its JWKS in a temporary file
/// (the ingress reads it through a `file://` URL, as a local deployment does), and RS256 tokens
/// of the generic JWT profile signed with it.
struct BenchmarkIssuer {
    static let issuer = "https://issuer.benchmark.invalid/mcpgw"
    static let audience = "mcp-gateway"

    let keyID = "bench-key-1"
    let privateKey: _RSA.Signing.PrivateKey
    let jwksFile: URL

    init() throws {
        privateKey = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        jwksFile = FileManager.default.temporaryDirectory.appendingPathComponent("\(BenchmarkNames.runID)-jwks.json")
        let primitives = try privateKey.publicKey.getKeyPrimitives()
        let jwk: JSONValue = [
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": .string(keyID),
            "n": .string(Self.base64URL(primitives.modulus)), "e": .string(Self.base64URL(primitives.publicExponent)),
        ]
        let document: JSONValue = ["keys": [jwk]]
        try Self.json(document).write(to: jwksFile)
    }

    func removeFiles() {
        try? FileManager.default.removeItem(at: jwksFile)
    }

    /// The variables an ingress needs to trust this issuer.
    var environment: [String: String] {
        ["AUTH_JWKS_URL": jwksFile.absoluteString, "AUTH_ISSUER": Self.issuer, "AUTH_AUDIENCE": Self.audience]
    }

    /// A token for `subject` in `groups`, valid for `lifetime`.
    func token(subject: String, groups: [String], lifetime: TimeInterval = 3600) throws -> String {
        let now = Int64(Date().timeIntervalSince1970)
        let header: JSONValue = ["typ": "JWT", "alg": "RS256", "kid": .string(keyID)]
        let claims: JSONValue = [
            "iss": .string(Self.issuer), "aud": .string(Self.audience), "sub": .string(subject), "iat": .integer(now),
            "nbf": .integer(now - 5), "exp": .integer(now + Int64(lifetime)), "preferred_username": .string("\(subject)@benchmark.invalid"),
            "groups": .array(groups.map(JSONValue.string)),
        ]
        let input = Self.base64URL(try Self.json(header)) + "." + Self.base64URL(try Self.json(claims))
        let signature = try privateKey.signature(for: Data(input.utf8), padding: .insecurePKCS1v1_5)
        return input + "." + Self.base64URL(signature.rawRepresentation)
    }

    private static func json(_ value: JSONValue) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
