import JWTKit
import Shared

/// The claims the gateway reads from an access token: the registered ones, and Entra's.
///
/// Decoding is strict for claims that shape the principal (a `groups` that is not a list of
/// strings makes the token malformed) and lenient for the overage markers, whose mere
/// presence is what counts.
struct AccessTokenClaims: JWTPayload, Equatable {
    var iss: String?
    var sub: String?
    var aud: AudienceClaim?
    var exp: Double?
    var nbf: Double?
    var iat: Double?

    var tid: String?
    var oid: String?
    var ver: String?
    /// The client application, v2 tokens.
    var azp: String?
    /// The client application, v1 tokens.
    var appid: String?
    /// Delegated scopes, space separated.
    var scp: String?
    var roles: [String]?
    var groups: [String]?
    /// Overage in the implicit flow.
    var hasgroups: JSONValue?
    /// Overage: `{"groups": "src1"}` when the user is in more groups than the token can carry.
    var claimNames: [String: JSONValue]?

    var preferredUsername: String?
    var upn: String?
    var uniqueName: String?
    var email: String?
    var name: String?

    private enum CodingKeys: String, CodingKey {
        case iss, sub, aud, exp, nbf, iat, tid, oid, ver, azp, appid, scp, roles, groups, hasgroups, upn, email, name
        case claimNames = "_claim_names"
        case preferredUsername = "preferred_username"
        case uniqueName = "unique_name"
    }

    /// jwt-kit calls this after the signature checks out. The claims are validated by
    /// ``TokenVerifier`` instead, which knows the configuration, the leeway and the clock.
    func verify(using algorithm: some JWTAlgorithm) async throws {}

    /// `true` when the token says it does not carry all of the user's groups.
    var hasGroupsOverage: Bool {
        if claimNames?["groups"] != nil { return true }
        if let hasgroups, hasgroups != .bool(false) { return true }
        return false
    }

    /// `scp` split on spaces.
    var scopes: [String] {
        scp?.split(separator: " ").map(String.init) ?? []
    }

    /// A name for logs and screens; never used to authorize.
    var displayName: String? {
        [preferredUsername, upn, uniqueName, email, name].lazy.compactMap { $0 }.first { !$0.isEmpty }
    }
}
