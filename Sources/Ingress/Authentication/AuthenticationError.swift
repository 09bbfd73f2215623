import HTTPTypes

/// Why a request's bearer token was refused.
///
/// ``message`` is safe to show a client: it never contains the token or any value read from
/// it. ``detail`` is for logs only (an issuer, a key id, a fetch failure), with token-derived
/// values escaped and cut short.
public struct AuthenticationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A stable code a caller can switch on. New codes may be added.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        fileprivate enum Base: String, Sendable {
            case missingToken, malformed, tokenTooLarge, unsupportedAlgorithm, graphToken, unknownKey, badSignature
            case expired, notYetValid, wrongIssuer, wrongAudience, tenantNotAllowed, issuerTenantMismatch
            case missingClaim, insufficientScope, clientNotAllowed, keysUnavailable
        }

        fileprivate let base: Base

        private init(_ base: Base) { self.base = base }

        /// No `Authorization: Bearer` header at all (or another scheme).
        public static let missingToken = Self(.missingToken)
        /// Not a compact JWS: wrong number of segments, bad base64url, bad JSON, no `kid`.
        public static let malformed = Self(.malformed)
        /// Larger than the configured maximum (`AUTH_MAX_TOKEN_BYTES`).
        public static let tokenTooLarge = Self(.tokenTooLarge)
        /// `alg` other than `RS256`, or a `crit` header the gateway does not understand.
        public static let unsupportedAlgorithm = Self(.unsupportedAlgorithm)
        /// A Microsoft Graph token (`nonce` header or Graph audience): not for this gateway.
        public static let graphToken = Self(.graphToken)
        /// The `kid` is not in the issuer's key set, even after a refresh.
        public static let unknownKey = Self(.unknownKey)
        public static let badSignature = Self(.badSignature)
        /// `exp` is further in the past than the leeway allows.
        public static let expired = Self(.expired)
        /// `nbf` is further in the future than the leeway allows.
        public static let notYetValid = Self(.notYetValid)
        /// `iss` is not an accepted issuer, or the token version (`ver`) is not accepted.
        public static let wrongIssuer = Self(.wrongIssuer)
        public static let wrongAudience = Self(.wrongAudience)
        /// `tid` is not a GUID on the tenant allow list.
        public static let tenantNotAllowed = Self(.tenantNotAllowed)
        /// `iss` names another tenant than `tid`.
        public static let issuerTenantMismatch = Self(.issuerTenantMismatch)
        /// A claim the profile requires (`sub`, `exp`, `oid`, `tid`, `ver`, `iss`, `aud`) is absent.
        public static let missingClaim = Self(.missingClaim)
        /// None of the required scopes (`scp`) or app roles (`roles`). HTTP 403.
        public static let insufficientScope = Self(.insufficientScope)
        /// The client application (`azp`/`appid`) is not on the allow list. HTTP 403.
        public static let clientNotAllowed = Self(.clientNotAllowed)
        /// The issuer's signing keys were never loaded (unreachable). HTTP 503, fail closed.
        public static let keysUnavailable = Self(.keysUnavailable)

        public var description: String { base.rawValue }
    }

    public var code: Code
    /// What went wrong, in words a client may see.
    public var message: String
    /// More for the logs; never the token itself.
    public var detail: String?

    public init(_ code: Code, _ message: String, detail: String? = nil) {
        self.code = code
        self.message = message
        self.detail = detail
    }

    /// 401 for every bad or missing token; 403 when the token is valid but lacks a required
    /// scope, role or client; 503 when the keys to check it are unavailable.
    public var status: HTTPResponse.Status {
        switch code.base {
        case .insufficientScope, .clientNotAllowed: .forbidden
        case .keysUnavailable: .serviceUnavailable
        default: .unauthorized
        }
    }

    /// The `WWW-Authenticate` challenge (RFC 6750 §3) to send with the response, or `nil` for
    /// a 503, which is not an authentication challenge.
    public var wwwAuthenticate: String? {
        let realm = #"Bearer realm="\#(Self.realm)""#
        switch code.base {
        case .missingToken: return realm
        case .keysUnavailable: return nil
        case .insufficientScope, .clientNotAllowed:
            return realm + #", error="insufficient_scope", error_description=\#(Self.quoted(message))"#
        default:
            return realm + #", error="invalid_token", error_description=\#(Self.quoted(message))"#
        }
    }

    public var description: String {
        if let detail { return "\(code): \(message) (\(detail))" }
        return "\(code): \(message)"
    }

    /// The protection space named in every challenge.
    public static let realm = "mcp-gateway"

    /// An RFC 9110 quoted-string holding only the characters RFC 6750 allows in
    /// `error_description` (printable ASCII); anything else becomes `?`.
    static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"", "\\": result += "\\" + String(scalar)
            case " "..."~": result.unicodeScalars.append(scalar)
            default: result += "?"
            }
        }
        return result + "\""
    }
}

extension AuthenticationError {
    static func malformed(_ detail: String) -> Self {
        Self(.malformed, "The bearer token is not a well-formed JWT.", detail: detail)
    }

    static func missingClaim(_ claim: String) -> Self {
        Self(.missingClaim, "The token has no '\(claim)' claim.")
    }
}
