import Foundation
import JWTKit
import Shared

extension EntraProfile {
    /// The token format and tenant of an Entra-shaped issuer, checked before any key is
    /// fetched: `tid` a GUID, `iss` exactly the template with that `tid`, the tenant allowed.
    /// `nil` when `issuer` is not an Entra issuer at all.
    func match(issuer: String, tenant: String?) throws(AuthenticationError) -> (version: TokenVersion, tenant: String)? {
        guard let version = Self.version(ofIssuer: issuer) else { return nil }
        guard tokenVersions.contains(version) else {
            throw AuthenticationError(
                .wrongIssuer,
                "Entra \(version.claimValue) access tokens are not accepted; the gateway accepts \(tokenVersions.sorted().map(\.claimValue).joined(separator: " and "))."
            )
        }
        guard let tenant, !tenant.isEmpty else { throw AuthenticationError.missingClaim("tid") }
        guard Self.isGUID(tenant) else {
            throw AuthenticationError(.tenantNotAllowed, "The token's tenant is not allowed.", detail: "tid \(tenant.escapedForDetail) is not a GUID")
        }
        guard issuer == version.issuer(tenant: tenant) else {
            throw AuthenticationError(
                .issuerTenantMismatch, "The token's issuer names another tenant than its tid claim.",
                detail: "iss \(issuer.escapedForDetail), tid \(tenant)"
            )
        }
        guard tenantIDs.contains(tenant.lowercased()) else {
            throw AuthenticationError(.tenantNotAllowed, "The token's tenant is not allowed.", detail: "tid \(tenant)")
        }
        return (version, tenant.lowercased())
    }

    /// The principal of a token whose signature, lifetime, issuer and tenant have been verified.
    func principal(from claims: AccessTokenClaims, version: TokenVersion, tenant: String) throws(AuthenticationError) -> Principal {
        guard let audiences = claims.aud?.value else { throw AuthenticationError.missingClaim("aud") }
        // v2: always the client id. v1: the App ID URI, or the client id when the client
        // asked for the resource by id (as Microsoft.Identity.Web accepts).
        let accepted = version == .v2 ? [clientID] : [appIDURI, clientID]
        guard audiences.contains(where: { audience in accepted.contains { $0.caseInsensitiveCompare(audience) == .orderedSame } }) else {
            throw AuthenticationError(
                .wrongAudience, "The token was not issued for this gateway (audience).",
                detail: "aud \(audiences.joined(separator: ",").escapedForDetail)"
            )
        }
        guard let ver = claims.ver else { throw AuthenticationError.missingClaim("ver") }
        guard ver == version.claimValue else {
            throw AuthenticationError(
                .wrongIssuer, "The token's version does not match its issuer.", detail: "ver \(ver.escapedForDetail) with a \(version) issuer"
            )
        }
        guard let subject = claims.sub, !subject.isEmpty else { throw AuthenticationError.missingClaim("sub") }
        guard let objectID = claims.oid, !objectID.isEmpty else { throw AuthenticationError.missingClaim("oid") }

        let scopes = claims.scopes
        let roles = claims.roles ?? []
        if !requiredScopes.isEmpty || !requiredRoles.isEmpty {
            guard scopes.contains(where: requiredScopes.contains) || roles.contains(where: requiredRoles.contains) else {
                throw AuthenticationError(.insufficientScope, "The token carries none of the required \(requirementDescription).")
            }
        }
        if !allowedClientApps.isEmpty {
            let client = version == .v2 ? claims.azp : claims.appid
            guard let client, allowedClientApps.contains(client.lowercased()) else {
                throw AuthenticationError(
                    .clientNotAllowed, "The application that requested the token is not allowed to call the gateway.",
                    detail: "\(version == .v2 ? "azp" : "appid") \(client?.escapedForDetail ?? "missing")"
                )
            }
        }
        return Principal(
            subject: subject,
            objectID: objectID,
            tenantID: tenant,
            userName: claims.displayName,
            groups: claims.groups ?? [],
            roles: roles,
            scopes: scopes,
            authenticationMethod: version == .v2 ? .entraV2 : .entraV1,
            groupsOverage: claims.hasGroupsOverage
        )
    }

    /// What a caller without enough permissions should ask for: `scope(s) a, b or app role(s) c`.
    private var requirementDescription: String {
        var parts: [String] = []
        if !requiredScopes.isEmpty { parts.append("scopes (\(requiredScopes.joined(separator: ", ")))") }
        if !requiredRoles.isEmpty { parts.append("app roles (\(requiredRoles.joined(separator: ", ")))") }
        return parts.joined(separator: " or ")
    }

    /// The format an issuer belongs to, from its shape alone.
    static func version(ofIssuer issuer: String) -> TokenVersion? {
        if issuer.hasPrefix("https://login.microsoftonline.com/") && issuer.hasSuffix("/v2.0") { return .v2 }
        if issuer.hasPrefix("https://sts.windows.net/") && issuer.hasSuffix("/") { return .v1 }
        return nil
    }
}
