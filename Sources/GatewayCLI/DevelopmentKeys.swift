import Crypto
import CryptoExtras
import Foundation
import JWTKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The local development key pair: an RSA-2048 private key in PEM, and the JWKS that a local
/// ingress reads through `AUTH_JWKS_URL=file://...`.
struct DevelopmentKeys {
    static let privateKeyFileName = "jwt-private.pem"
    static let jwksFileName = "jwks.json"
    /// The `iss` and `aud` of development tokens unless told otherwise.
    static let defaultIssuer = "mcpgw-dev"
    static let defaultAudience = "mcp-gateway"

    let privateKey: JWTKit.Insecure.RSA.PrivateKey
    /// The RFC 7638 thumbprint of the public key: stable for the key, so tokens and JWKS agree.
    let keyID: String
    let privateKeyURL: URL
    let jwksURL: URL

    /// The key pair in `directory`, created if the private key is absent. The JWKS is
    /// (re)written whenever it does not match the private key.
    static func loadOrCreate(in directory: URL) throws -> (keys: DevelopmentKeys, created: Bool) {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let privateKeyURL = directory.appending(path: privateKeyFileName)
        var created = false
        if !FileManager.default.fileExists(atPath: privateKeyURL.path) {
            let key = try JWTKit.Insecure.RSA.PrivateKey(backing: _RSA.Signing.PrivateKey(keySize: .bits2048))
            try writeOwnerOnly(Data(key.pemRepresentation.utf8), to: privateKeyURL)
            created = true
        }
        let keys = try load(from: directory, requireJWKS: false)
        let jwks = try keys.jwksDocument()
        if (try? Data(contentsOf: keys.jwksURL)) != jwks {
            try jwks.write(to: keys.jwksURL, options: .atomic)
        }
        return (keys, created)
    }

    /// The key pair `dev-keys` wrote in `directory`.
    static func load(from directory: URL, requireJWKS: Bool = true) throws -> DevelopmentKeys {
        let privateKeyURL = directory.appending(path: privateKeyFileName)
        let jwksURL = directory.appending(path: jwksFileName)
        guard let pem = try? String(contentsOf: privateKeyURL, encoding: .utf8) else {
            throw DevelopmentKeyError("no development key at \(privateKeyURL.path): run 'mcpgw dev-keys --dir \(directory.path)' first")
        }
        guard !requireJWKS || FileManager.default.fileExists(atPath: jwksURL.path) else {
            throw DevelopmentKeyError("no \(jwksFileName) next to the key in \(directory.path): run 'mcpgw dev-keys --dir \(directory.path)' again")
        }
        let privateKey: JWTKit.Insecure.RSA.PrivateKey
        do {
            privateKey = try JWTKit.Insecure.RSA.PrivateKey(pem: pem)
        } catch {
            throw DevelopmentKeyError("\(privateKeyURL.path) is not an RSA private key of at least 2048 bits: \(error)")
        }
        let (n, e) = try Self.primitives(of: privateKey)
        // RFC 7638: SHA-256 over the required members, in lexicographic order, no whitespace.
        let thumbprint = SHA256.hash(data: Data(#"{"e":"\#(e)","kty":"RSA","n":"\#(n)"}"#.utf8))
        return DevelopmentKeys(privateKey: privateKey, keyID: base64URL(Data(thumbprint)), privateKeyURL: privateKeyURL, jwksURL: jwksURL)
    }

    /// `{"keys":[{"kty":"RSA","use":"sig","alg":"RS256","kid":...,"n":...,"e":...}]}`.
    func jwksDocument() throws -> Data {
        let (n, e) = try Self.primitives(of: privateKey)
        let document = ["keys": [["kty": "RSA", "use": "sig", "alg": "RS256", "kid": keyID, "n": n, "e": e]]]
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(document) + Data("\n".utf8)
    }

    /// An RS256 token with the header `kid` of this key.
    func sign(_ claims: DevelopmentTokenClaims) async throws -> String {
        let collection = JWTKeyCollection()
        await collection.add(rsa: privateKey, digestAlgorithm: .sha256, kid: JWKIdentifier(string: keyID))
        return try await collection.sign(claims, kid: JWKIdentifier(string: keyID), header: ["typ": "JWT"])
    }

    private static func primitives(of key: JWTKit.Insecure.RSA.PrivateKey) throws -> (n: String, e: String) {
        let primitives = try key.publicKey.getKeyPrimitives()
        return (base64URL(primitives.modulus), base64URL(primitives.publicExponent))
    }

    /// Creates `url` readable by its owner only, failing if it exists: the key is never
    /// world-readable, not even for a moment.
    private static func writeOwnerOnly(_ data: Data, to url: URL) throws {
        let descriptor = open(url.path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard descriptor >= 0 else {
            throw DevelopmentKeyError("cannot create \(url.path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        let written = data.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written == data.count else {
            throw DevelopmentKeyError("cannot write \(url.path): \(String(cString: strerror(errno)))")
        }
    }
}
