import Crypto
import Foundation
import Shared

/// A self-contained, signed `Mcp-Session-Id`: everything a session needs travels with every
/// request, so any ingress replica serves the next request of a session another one opened
/// (no sticky sessions, no shared store).
///
/// Form: `s1.<payload>.<key id>.<mac>`, the payload being base64url JSON
/// `{"pv": protocol version, "who": principal binding, "iat": ms, "exp": ms, "n": nonce}` and the
/// MAC an HMAC-SHA256 under the envelope signing key, over a domain prefix and the payload (the
/// prefix keeps a session id from ever passing for an envelope signature or the reverse). Key
/// rotation works as for envelopes: ids signed with a previous key still verify.
///
/// The session is bound to the caller (a hash of tenant and subject), so a session id stolen
/// without the token is worthless and one user cannot continue another's session. Each
/// `initialize` gets a fresh nonce, so (session, caller, JSON-RPC id) names one call.
struct MCPSessionToken: Sendable, Equatable {
    var protocolVersion: String
    var principalBinding: String
    var issuedAt: Int64
    var expiresAt: Int64
    var nonce: String

    /// The session id itself.
    let id: String

    static let domain = Array("mcp-session-id\u{0}".utf8)

    init(protocolVersion: String, principal: Principal, lifetime: Duration, signer: EnvelopeSigner, now: Date = .now) {
        let issued = now.millisecondsSince1970
        self.protocolVersion = protocolVersion
        principalBinding = Self.binding(of: principal)
        issuedAt = issued
        expiresAt = issued + lifetime.components.seconds * 1000 + lifetime.components.attoseconds / 1_000_000_000_000_000
        nonce = Self.base64URL(Data(SymmetricKey(size: .bits128).withUnsafeBytes { Array($0) }))
        let payload: JSONValue = [
            "pv": .string(protocolVersion), "who": .string(principalBinding), "iat": .integer(issuedAt), "exp": .integer(expiresAt),
            "n": .string(nonce),
        ]
        let payloadText = Self.base64URL((try? JSONResponse.encoder.encode(payload)) ?? Data())
        let (keyID, signature) = signer.sign(body: Self.domain + Array(payloadText.utf8))
        id = "s1.\(payloadText).\(keyID).\(Self.base64URL(Data(base64Encoded: signature) ?? Data()))"
    }

    /// Why a session id was refused. The endpoint answers 404 for every one of them, which tells
    /// an MCP client to start a new session.
    enum Refusal: Error, Equatable {
        case malformed, badSignature, expired, otherPrincipal
    }

    /// Verifies `id` and that it belongs to `principal`.
    init(verifying id: String, principal: Principal, signer: EnvelopeSigner, now: Date = .now) throws(Refusal) {
        let parts = id.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count >= 4, parts[0] == "s1", id.utf8.count <= 1024 else { throw .malformed }
        let payloadText = parts[1]
        let keyID = parts[2..<(parts.count - 1)].joined(separator: ".")
        guard let mac = Base64URL.decode(parts[parts.count - 1]) else { throw .malformed }
        do {
            try signer.verify(body: Self.domain + Array(payloadText.utf8), keyID: keyID, signature: mac.base64EncodedString())
        } catch {
            throw .badSignature
        }
        guard let data = Base64URL.decode(payloadText), let payload = try? ContractJSON.decoder.decode(JSONValue.self, from: data),
            let version = payload["pv"]?.stringValue, let who = payload["who"]?.stringValue, let issued = payload["iat"]?.int64Value,
            let expires = payload["exp"]?.int64Value, let nonce = payload["n"]?.stringValue
        else { throw .malformed }
        guard now.millisecondsSince1970 < expires else { throw .expired }
        guard who == Self.binding(of: principal) else { throw .otherPrincipal }
        self.protocolVersion = version
        self.principalBinding = who
        self.issuedAt = issued
        self.expiresAt = expires
        self.nonce = nonce
        self.id = id
    }

    /// A hash of who the caller is (tenant and subject), not reversible to either.
    static func binding(of principal: Principal) -> String {
        let digest = SHA256.hash(data: Array("\(principal.tenantID)\n\(principal.subject)".utf8))
        return base64URL(Data(digest.prefix(16)))
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
