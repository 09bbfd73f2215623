import Crypto
import Foundation
import JWTKit

/// The claims of a development token: the registered ones, plus the Entra-style claims the
/// gateway reads (`tid`, `oid`, `groups`, `roles`, `scp`).
struct DevelopmentTokenClaims: JWTPayload {
    var iss: String
    var sub: String
    var aud: String
    var iat: Int
    var nbf: Int
    var exp: Int
    var tid: String?
    var oid: String
    var name: String?
    var preferredUsername: String?
    var groups: [String]?
    var roles: [String]?
    var scp: String?

    private enum CodingKeys: String, CodingKey {
        case iss, sub, aud, iat, nbf, exp, tid, oid, name, groups, roles, scp
        case preferredUsername = "preferred_username"
    }

    init(
        issuer: String,
        subject: String,
        audience: String,
        lifetime: Duration,
        now: Date = Date(),
        tenant: String?,
        objectID: String,
        name: String?,
        groups: [String],
        roles: [String],
        scopes: [String]
    ) {
        let issuedAt = Int(now.timeIntervalSince1970)
        iss = issuer
        sub = subject
        aud = audience
        iat = issuedAt
        nbf = issuedAt
        exp = issuedAt + Int(lifetime.components.seconds)
        tid = tenant
        oid = objectID
        self.name = name
        preferredUsername = name
        self.groups = groups.isEmpty ? nil : groups
        self.roles = roles.isEmpty ? nil : roles
        scp = scopes.isEmpty ? nil : scopes.joined(separator: " ")
    }

    /// Nothing to check when signing.
    func verify(using algorithm: some JWTAlgorithm) async throws {}

    /// A UUID-shaped id derived from the subject, so one development user keeps one `oid`.
    static func objectID(forSubject subject: String) -> String {
        let hex = SHA256.hash(data: Data("mcpgw-dev-oid:\(subject)".utf8)).map { String(format: "%02x", $0) }.joined()
        let characters = Array(hex.prefix(32))
        return [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(characters[$0]) }.joined(separator: "-")
    }
}
