/// The authenticated caller, as the ingress verified it from the Entra ID access token.
///
/// Workers authorize on these fields only; nothing the HTTP caller sent as a plain header ever
/// ends up here. The envelope is signed, so a worker can trust that an ingress built it.
///
/// JSON keys follow the token claims where one exists (`sub`, `oid`, `tid`).
public struct Principal: Codable, Sendable, Equatable, Hashable {
    /// The token's `sub` claim: stable per user and application.
    public var subject: String
    /// The token's `oid` claim: the user's object id, stable across applications in the tenant.
    /// Absent for tokens that carry none (local development).
    public var objectID: String?
    /// The token's `tid` claim: the Entra tenant that issued the token.
    public var tenantID: String
    /// A name for logs and screens (`name` or `preferred_username`). Never used to authorize.
    public var userName: String?
    /// Entra group object ids (or names, where the tenant emits them).
    public var groups: [String]
    /// App roles (`roles` claim).
    public var roles: [String]
    /// Delegated scopes (`scp` claim, split on spaces).
    public var scopes: [String]
    /// How the ingress authenticated the caller, so the authorizer can refuse weaker methods.
    public var authenticationMethod: AuthenticationMethod
    /// `true` when the token said the user is in more groups than it carries (Entra's group
    /// overage: `_claim_names`/`hasgroups`). Then `groups` is incomplete, and an authorizer that
    /// needs a group it does not see must look it up or fail closed, never treat it as absent.
    public var groupsOverage: Bool?
    /// Why an overage principal's groups could not be resolved (Microsoft Graph not configured,
    /// or the lookup failed), so that a refusal can tell the user why their groups did not count.
    /// `nil` when there was no overage or the ingress resolved it. Optional in the JSON, so older
    /// envelopes still decode.
    public var groupsOverageDetail: String?

    public init(
        subject: String,
        objectID: String? = nil,
        tenantID: String,
        userName: String? = nil,
        groups: [String] = [],
        roles: [String] = [],
        scopes: [String] = [],
        authenticationMethod: AuthenticationMethod,
        groupsOverage: Bool? = nil,
        groupsOverageDetail: String? = nil
    ) {
        self.subject = subject
        self.objectID = objectID
        self.tenantID = tenantID
        self.userName = userName
        self.groups = groups
        self.roles = roles
        self.scopes = scopes
        self.authenticationMethod = authenticationMethod
        self.groupsOverage = groupsOverage
        self.groupsOverageDetail = groupsOverageDetail
    }

    enum CodingKeys: String, CodingKey {
        case subject = "sub"
        case objectID = "oid"
        case tenantID = "tid"
        case userName
        case groups
        case roles
        case scopes
        case authenticationMethod
        case groupsOverage
        case groupsOverageDetail
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        subject = try container.decode(String.self, forKey: .subject)
        objectID = try container.decodeIfPresent(String.self, forKey: .objectID)
        tenantID = try container.decode(String.self, forKey: .tenantID)
        userName = try container.decodeIfPresent(String.self, forKey: .userName)
        groups = try container.decodeIfPresent([String].self, forKey: .groups) ?? []
        roles = try container.decodeIfPresent([String].self, forKey: .roles) ?? []
        scopes = try container.decodeIfPresent([String].self, forKey: .scopes) ?? []
        authenticationMethod = try container.decode(AuthenticationMethod.self, forKey: .authenticationMethod)
        groupsOverage = try container.decodeIfPresent(Bool.self, forKey: .groupsOverage)
        groupsOverageDetail = try container.decodeIfPresent(String.self, forKey: .groupsOverageDetail)
    }
}

extension Principal {
    /// How the ingress authenticated a caller. An open set of strings, so a worker can read (and
    /// refuse) a method it does not know instead of failing to decode the whole envelope.
    public struct AuthenticationMethod: RawRepresentable, Codable, Sendable, Hashable, ExpressibleByStringLiteral,
        CustomStringConvertible
    {
        public var rawValue: String

        public init(rawValue: String) { self.rawValue = rawValue }
        public init(stringLiteral value: String) { self.rawValue = value }

        /// An Entra ID v2.0 access token (issuer `https://login.microsoftonline.com/{tid}/v2.0`).
        public static let entraV2: Self = "entra-v2"
        /// An Entra ID v1.0 access token (issuer `https://sts.windows.net/{tid}/`).
        public static let entraV1: Self = "entra-v1"
        /// A development identity configured locally; never accepted in production.
        public static let localDev: Self = "local-dev"

        public init(from decoder: any Decoder) throws {
            rawValue = try decoder.singleValueContainer().decode(String.self)
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(rawValue)
        }

        public var description: String { rawValue }
    }
}

extension Principal {
    /// The name a user grant by principal name may match (`user_tenant_access.user_email`, the
    /// seed's compatibility form), lower-cased; `nil` when name grants must not apply.
    ///
    /// Entra principals are never matched by name: `preferred_username`, `upn`, `email` and
    /// `name` are for display and audit only, since a user or another tenant's administrator can
    /// set them; an Entra user is granted by (`tid`, `oid`). Names still count for the other
    /// identity providers (a configured OpenID issuer, local development keys), where the
    /// issuer that signed the token vouches for the name.
    public var nameForGrants: String? {
        if authenticationMethod == .entraV1 || authenticationMethod == .entraV2 { return nil }
        guard let name = userName?.lowercased(), !name.isEmpty else { return nil }
        return name
    }
}
