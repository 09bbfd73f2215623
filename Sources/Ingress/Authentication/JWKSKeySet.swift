import Foundation
import JWTKit

/// The usable keys of one JWKS document: RSA signing keys, each behind its own single-key
/// `JWTKeyCollection` whose signer is fixed to RS256.
///
/// Pinning matters twice over. A JWK without `alg` would otherwise let jwt-kit build the
/// signer from the token's own `alg` header, and a collection falls back to its default key
/// for an unknown `kid`; with one collection per `kid`, looked up by the cache, neither can
/// happen.
struct JWKSKeySet: Sendable {
    /// Signers by `kid`.
    let keys: [String: JWTKeyCollection]
    /// Why other keys of the document were left out (for logs).
    let skipped: [String]

    /// Entra publishes a handful of keys per tenant; anything near this is not a key set.
    static let maximumKeys = 100

    /// Parses a JWKS document. Keys that are not RSA signing keys usable with RS256 are
    /// skipped; a document with none at all is an error, so the last good set stays in use.
    static func parse(_ data: Data) async throws(JWKSLoadError) -> JWKSKeySet {
        let document: Document
        do {
            document = try JSONDecoder().decode(Document.self, from: data)
        } catch {
            throw JWKSLoadError("not a JWKS document (\(error))")
        }
        var keys: [String: JWTKeyCollection] = [:]
        var skipped: [String] = []
        for key in document.keys.prefix(maximumKeys) {
            let name = key.kid.map { "kid \($0.escapedForDetail)" } ?? "a key without kid"
            guard key.kty == "RSA" else {
                skipped.append("\(name): kty \(key.kty?.escapedForDetail ?? "missing"), not RSA")
                continue
            }
            guard let kid = key.kid, !kid.isEmpty else {
                skipped.append("\(name): no kid")
                continue
            }
            guard key.use == nil || key.use == "sig" else {
                skipped.append("\(name): use is not sig")
                continue
            }
            guard key.alg == nil || key.alg == "RS256" else {
                skipped.append("\(name): alg \(key.alg?.escapedForDetail ?? ""), not RS256")
                continue
            }
            guard keys[kid] == nil else {
                skipped.append("\(name): duplicate kid")
                continue
            }
            guard let modulus = key.n, let exponent = key.e else {
                skipped.append("\(name): no n or e")
                continue
            }
            let publicKey: Insecure.RSA.PublicKey
            do {
                publicKey = try Insecure.RSA.PublicKey(modulus: modulus, exponent: exponent)
            } catch {
                skipped.append("\(name): not a usable RSA public key (\(error))")
                continue
            }
            let collection = JWTKeyCollection()
            await collection.add(rsa: publicKey, digestAlgorithm: .sha256, kid: JWKIdentifier(string: kid))
            keys[kid] = collection
        }
        if document.keys.count > maximumKeys {
            skipped.append("\(document.keys.count - maximumKeys) keys beyond the first \(maximumKeys)")
        }
        guard !keys.isEmpty else {
            throw JWKSLoadError("no usable RSA signing key" + (skipped.isEmpty ? "" : ": " + skipped.joined(separator: "; ")))
        }
        return JWKSKeySet(keys: keys, skipped: skipped)
    }

    /// The JWKS shape (RFC 7517 §5), read leniently: a key with a field of an unexpected type
    /// is skipped, not the whole document.
    private struct Document: Decodable {
        var keys: [Key]
    }

    private struct Key: Decodable {
        var kty: String?
        var kid: String?
        var use: String?
        var alg: String?
        var n: String?
        var e: String?

        private enum CodingKeys: String, CodingKey { case kty, kid, use, alg, n, e }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            func text(_ key: CodingKeys) -> String? { try? container.decodeIfPresent(String.self, forKey: key) }
            kty = text(.kty)
            kid = text(.kid)
            use = text(.use)
            alg = text(.alg)
            n = text(.n)
            e = text(.e)
        }
    }
}
