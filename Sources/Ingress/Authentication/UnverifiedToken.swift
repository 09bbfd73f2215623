import Foundation
import JWTKit
import Shared

/// A bearer token taken apart before any key is touched: the cheap checks that turn away
/// garbage, oversized and hostile tokens, and the claims that decide which issuer's keys to
/// verify it with. Nothing read here is trusted until the signature is verified.
struct UnverifiedToken {
    /// The header's `kid`.
    let keyID: String
    /// The payload, decoded but not yet verified.
    let claims: AccessTokenClaims

    /// The audiences of Microsoft Graph tokens, which third parties cannot validate.
    static let graphAudiences: Set<String> = [
        "00000003-0000-0000-c000-000000000000", "https://graph.microsoft.com", "https://graph.microsoft.com/",
    ]

    /// - Parameter scopeHint: what a Graph token's sender should ask for instead, named in the
    ///   error (`api://<client id>/mcp.invoke`).
    init(_ token: String, maximumBytes: Int, scopeHint: String) throws(AuthenticationError) {
        guard token.utf8.count <= maximumBytes else {
            throw AuthenticationError(
                .tokenTooLarge, "The bearer token is larger than \(maximumBytes) bytes.", detail: "\(token.utf8.count) bytes"
            )
        }
        let segments = token.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard segments.count == 3 else {
            throw AuthenticationError.malformed("\(segments.count) segments, not 3")
        }
        guard let headerData = Base64URL.decode(Substring(segments[0])), let payloadData = Base64URL.decode(Substring(segments[1])) else {
            throw AuthenticationError.malformed("header or payload is not base64url")
        }
        let header: [String: JSONValue]
        do {
            header = try JSONDecoder().decode([String: JSONValue].self, from: headerData)
        } catch {
            throw AuthenticationError.malformed("header is not a JSON object")
        }
        // Graph tokens carry a `nonce` header and are signed over a transformed nonce: they
        // cannot verify here, and are not meant for the gateway anyway.
        if header["nonce"] != nil {
            throw Self.graphTokenError(scopeHint: scopeHint)
        }
        guard header["alg"] == .string("RS256") else {
            let alg: String
            if case .string(let value) = header["alg"] { alg = value.escapedForDetail } else { alg = "missing" }
            throw AuthenticationError(.unsupportedAlgorithm, "The token must be signed with RS256.", detail: "alg \(alg)")
        }
        guard header["crit"] == nil else {
            throw AuthenticationError(.unsupportedAlgorithm, "The token uses critical header extensions the gateway does not support.")
        }
        guard case .string(let kid) = header["kid"], !kid.isEmpty else {
            throw AuthenticationError.malformed("no kid in the header")
        }
        // After the header checks, so that `alg: none` (and its empty signature) is named as such.
        guard !segments[2].isEmpty, Base64URL.decode(Substring(segments[2])) != nil else {
            throw AuthenticationError.malformed("signature is empty or not base64url")
        }
        do {
            claims = try JSONDecoder().decode(AccessTokenClaims.self, from: payloadData)
        } catch {
            throw AuthenticationError.malformed("payload is not a JSON object of the expected claim types")
        }
        if let audiences = claims.aud?.value, audiences.contains(where: Self.graphAudiences.contains) {
            throw Self.graphTokenError(scopeHint: scopeHint)
        }
        keyID = kid
    }

    static func graphTokenError(scopeHint: String) -> AuthenticationError {
        AuthenticationError(
            .graphToken,
            "This is a Microsoft Graph token, which only Microsoft Graph can validate. Request a token for the gateway's scope (\(scopeHint)) instead."
        )
    }
}
