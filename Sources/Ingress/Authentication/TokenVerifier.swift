import Foundation
import JWTKit
import Shared

/// Verifies a bearer token and returns the principal it proves, built from its verified
/// claims only.
///
/// In order, each step refusing with its own ``AuthenticationError/Code``:
/// 1. Before any key work: size, three base64url segments, a JSON header with `alg` exactly
///    `RS256`, a `kid`, no `nonce` (a Microsoft Graph token) and no `crit`; a JSON payload.
/// 2. The issuer picks the profile: a configured generic issuer, or an Entra issuer whose
///    `tid` is an allowed GUID that the issuer names. Only then are keys fetched, and only
///    from configured URLs.
/// 3. The `kid`'s key (one refresh if unknown, rate limited); the RS256 signature (jwt-kit).
/// 4. `exp` and `nbf` with the leeway; the audience; Entra's `ver`, `oid`, scopes or roles
///    and client application.
/// 5. An Entra token with a group overage gets its groups from Microsoft Graph through
///    ``GroupOverageResolver``. When that is not configured or fails, the token is still
///    accepted, with ``Principal/groupsOverageDetail`` saying why its groups are missing.
public struct TokenVerifier: Sendable {
    public let configuration: AuthenticationConfiguration
    public let keys: JWKSCache
    /// `nil` when Microsoft Graph is not configured (`ENTRA_GRAPH_CLIENT_SECRET`).
    public let overage: GroupOverageResolver?
    private let now: @Sendable () -> Date

    /// - Parameter now: the clock for `exp` and `nbf`; tests may pin it.
    public init(
        configuration: AuthenticationConfiguration, keys: JWKSCache, overage: GroupOverageResolver? = nil,
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.configuration = configuration
        self.keys = keys
        self.overage = overage
        self.now = now
    }

    public func verify(token: String) async throws(AuthenticationError) -> Principal {
        let unverified = try UnverifiedToken(token, maximumBytes: configuration.maximumTokenBytes, scopeHint: scopeHint)
        let profile = try match(unverified.claims)
        let key = try await keys.signingKey(kid: unverified.keyID, url: profile.jwksURL)

        let claims: AccessTokenClaims
        do {
            claims = try await key.verify(token, as: AccessTokenClaims.self)
        } catch let error as JWTError where error.errorType == .signatureVerificationFailed {
            throw AuthenticationError(.badSignature, "The token signature is invalid.", detail: "kid \(unverified.keyID.escapedForDetail)")
        } catch {
            throw AuthenticationError.malformed("jwt-kit refused the token: \(error)")
        }

        // The profile was chosen from the same bytes before they were verified; a decoder that
        // read them differently the second time (duplicate keys) must not change the answer.
        guard claims == unverified.claims else {
            throw AuthenticationError.malformed("the payload decodes differently after verification")
        }
        try checkLifetime(claims)
        switch profile {
        case .generic(let generic):
            var principal = try generic.principal(from: claims)
            if principal.groupsOverage == true { principal.groupsOverageDetail = Self.overageNotResolvable }
            return principal
        case .entra(let entra, let version, let tenant):
            let principal = try entra.principal(from: claims, version: version, tenant: tenant)
            return await resolvingOverage(of: principal, tokenExpiry: claims.exp ?? 0)
        }
    }

    /// The principal with the groups Microsoft Graph lists for it, when its token has an overage.
    private func resolvingOverage(of principal: Principal, tokenExpiry: Double) async -> Principal {
        guard principal.groupsOverage == true, let objectID = principal.objectID else { return principal }
        var principal = principal
        guard let overage else {
            principal.groupsOverageDetail = Self.overageNotConfigured
            return principal
        }
        do {
            let resolved = try await overage.groups(
                tenant: principal.tenantID, objectID: objectID, tokenExpiry: Date(timeIntervalSince1970: tokenExpiry)
            )
            var seen = Set<String>()
            principal.groups = (principal.groups + resolved).filter { seen.insert($0.lowercased()).inserted }
            principal.groupsOverage = false
        } catch {
            principal.groupsOverageDetail =
                "Your groups could not be looked up in Microsoft Graph (\(error.reason)), so only grants made to you directly apply."
        }
        return principal
    }

    static let overageNotConfigured =
        "Your token does not list your groups (you are in more groups than a token carries), and this gateway is not configured to look them up in Microsoft Graph, so only grants made to you directly apply."
    static let overageNotResolvable =
        "Your token does not list all your groups, and groups cannot be looked up for this issuer, so only grants made to you directly apply."

    /// The profile whose issuer the token names; checked again after the signature, on the
    /// same (then verified) claims.
    private func match(_ claims: AccessTokenClaims) throws(AuthenticationError) -> MatchedProfile {
        guard let issuer = claims.iss, !issuer.isEmpty else { throw AuthenticationError.missingClaim("iss") }
        if let generic = configuration.generic, generic.issuers.contains(issuer) {
            return .generic(generic)
        }
        if let entra = configuration.entra, let match = try entra.match(issuer: issuer, tenant: claims.tid) {
            return .entra(entra, match.version, tenant: match.tenant)
        }
        throw AuthenticationError(
            .wrongIssuer, "The token was issued by an issuer the gateway does not accept.", detail: "iss \(issuer.escapedForDetail)"
        )
    }

    private func checkLifetime(_ claims: AccessTokenClaims) throws(AuthenticationError) {
        let now = now().timeIntervalSince1970
        let leeway = configuration.leeway / .seconds(1)
        guard let expiry = claims.exp else { throw AuthenticationError.missingClaim("exp") }
        guard now <= expiry + leeway else {
            throw AuthenticationError(.expired, "The token has expired.", detail: "expired \(Int(now - expiry)) s ago")
        }
        if let notBefore = claims.nbf, now + leeway < notBefore {
            throw AuthenticationError(.notYetValid, "The token is not valid yet.", detail: "valid in \(Int(notBefore - now)) s")
        }
    }

    /// What to ask for instead of a Graph token.
    private var scopeHint: String {
        guard let entra = configuration.entra else { return "the gateway's API scope" }
        return "\(entra.appIDURI)/\(entra.requiredScopes.first ?? "<scope>")"
    }

    private enum MatchedProfile {
        case generic(GenericJWTProfile)
        case entra(EntraProfile, EntraProfile.TokenVersion, tenant: String)

        var jwksURL: URL {
            switch self {
            case .generic(let profile): profile.jwksURL
            case .entra(let profile, _, let tenant): profile.keySource(tenant: tenant).url
            }
        }
    }
}
