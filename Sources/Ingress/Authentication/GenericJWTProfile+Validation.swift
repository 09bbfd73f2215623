import JWTKit
import Shared

extension GenericJWTProfile {
    /// The principal of a token whose signature, lifetime and issuer have been verified.
    func principal(from claims: AccessTokenClaims) throws(AuthenticationError) -> Principal {
        guard let audiences = claims.aud?.value else { throw AuthenticationError.missingClaim("aud") }
        guard audiences.contains(where: self.audiences.contains) else {
            throw AuthenticationError(
                .wrongAudience, "The token was not issued for this gateway (audience).",
                detail: "aud \(audiences.joined(separator: ",").escapedForDetail)"
            )
        }
        guard let subject = claims.sub, !subject.isEmpty else { throw AuthenticationError.missingClaim("sub") }
        return Principal(
            subject: subject,
            objectID: claims.oid,
            tenantID: claims.tid.flatMap { $0.isEmpty ? nil : $0 } ?? defaultTenant,
            userName: claims.displayName,
            groups: claims.groups ?? [],
            roles: claims.roles ?? [],
            scopes: claims.scopes,
            authenticationMethod: authenticationMethod,
            groupsOverage: claims.hasGroupsOverage
        )
    }
}
