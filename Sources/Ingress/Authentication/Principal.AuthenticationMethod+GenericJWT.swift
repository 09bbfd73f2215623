import Shared

extension Principal.AuthenticationMethod {
    /// A JWT from a configured (non-Entra) OpenID provider, verified with its published keys.
    public static let genericJWT: Self = "jwt"
}
