import Foundation
import Shared

/// How the ingress asks Microsoft Graph for the groups of a user whose token has a group
/// overage (more groups than a token carries): an app-only token from the gateway's own client
/// credentials, one per tenant, then the user's transitive group memberships.
///
/// Every variable and its default is listed in `docs/authentication.md`.
public struct GraphConfiguration: Sendable, Equatable {
    /// The application (client) id whose credentials get the app-only token: usually the
    /// gateway API's own registration (`ENTRA_CLIENT_ID`).
    public var clientID: String
    /// Its client secret. Never logged.
    public var clientSecret: String
    /// Where app-only tokens come from: `{tokenAuthority}/{tid}/oauth2/v2.0/token`.
    public var tokenAuthority: URL
    /// Microsoft Graph's base URL, with its version (`https://graph.microsoft.com/v1.0`).
    public var graphURL: URL
    /// The scope asked for in the client-credentials grant.
    public var scope: String
    /// How long one token request or one Graph page may take.
    public var timeout: Duration
    /// The longest a user's resolved groups are reused; never longer than the user's token lives.
    public var maximumCacheLifetime: Duration

    public init(
        clientID: String,
        clientSecret: String,
        tokenAuthority: URL = URL(string: "https://login.microsoftonline.com")!,
        graphURL: URL = URL(string: "https://graph.microsoft.com/v1.0")!,
        scope: String = "https://graph.microsoft.com/.default",
        timeout: Duration = .seconds(5),
        maximumCacheLifetime: Duration = .seconds(600)
    ) {
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.tokenAuthority = tokenAuthority
        self.graphURL = graphURL
        self.scope = scope
        self.timeout = timeout
        self.maximumCacheLifetime = maximumCacheLifetime
    }

    /// The token endpoint of one tenant.
    func tokenURL(tenant: String) -> URL {
        tokenAuthority.appending(path: tenant).appending(path: "oauth2/v2.0/token")
    }

    /// The first page of a user's transitive memberships (groups, directory roles, units);
    /// only groups are kept. `$top=999` is Graph's largest page.
    func membershipURL(objectID: String) -> URL {
        graphURL.appending(path: "users").appending(path: objectID).appending(path: "transitiveMemberOf")
            .appending(queryItems: [URLQueryItem(name: "$select", value: "id"), URLQueryItem(name: "$top", value: "999")])
    }

    /// The Graph settings from `ENTRA_GRAPH_*`, or `nil` when `ENTRA_GRAPH_CLIENT_SECRET` is not
    /// set (overage then stays unresolved, and users in it get only their direct grants).
    static func from(environment: EnvironmentReader, entra: EntraProfile?) throws(ConfigurationError) -> Self? {
        guard let secret = environment.string("ENTRA_GRAPH_CLIENT_SECRET"), !secret.isEmpty else {
            if environment.string("ENTRA_GRAPH_CLIENT_ID") != nil {
                throw ConfigurationError(variable: "ENTRA_GRAPH_CLIENT_SECRET", reason: "is required when ENTRA_GRAPH_CLIENT_ID is set")
            }
            return nil
        }
        guard let entra else {
            throw ConfigurationError(variable: "ENTRA_GRAPH_CLIENT_SECRET", reason: "needs the Entra profile (ENTRA_TENANT_IDS, ENTRA_CLIENT_ID)")
        }
        let clientID = environment.string("ENTRA_GRAPH_CLIENT_ID") ?? entra.clientID
        guard EntraProfile.isGUID(clientID) else {
            throw ConfigurationError(variable: "ENTRA_GRAPH_CLIENT_ID", reason: "must be an application (client) id, a GUID, got '\(clientID)'")
        }
        let authority = try url(environment, "ENTRA_GRAPH_AUTHORITY", default: entra.authority.absoluteString)
        let graph = try url(environment, "ENTRA_GRAPH_URL", default: "https://graph.microsoft.com/v1.0")
        return Self(
            clientID: clientID.lowercased(),
            clientSecret: secret,
            tokenAuthority: authority,
            graphURL: graph,
            scope: environment.string("ENTRA_GRAPH_SCOPE", default: "https://graph.microsoft.com/.default"),
            timeout: try environment.milliseconds("ENTRA_GRAPH_TIMEOUT_MS", default: .seconds(5), range: 100...60_000),
            maximumCacheLifetime: .seconds(try environment.int("ENTRA_GRAPH_CACHE_SECONDS", default: 600, range: 0...86_400))
        )
    }

    private static func url(_ environment: EnvironmentReader, _ variable: String, default defaultValue: String) throws(ConfigurationError) -> URL {
        let text = environment.string(variable, default: defaultValue)
        guard let url = URL(string: text.hasSuffix("/") ? String(text.dropLast()) : text),
            ["https", "http"].contains(url.scheme?.lowercased() ?? ""), url.host?.isEmpty == false
        else {
            throw ConfigurationError(variable: variable, reason: "must be an https:// (or, for tests, http://) URL, got '\(text)'")
        }
        return url
    }
}
