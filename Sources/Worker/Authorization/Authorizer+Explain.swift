import Foundation
import Logging
import Shared

extension Authorizer {
    /// Answers an administrator's "may this user call this tool, and why" (``CallKind/explain``).
    ///
    /// `arguments`: `{"server": "github", "tool": "delete_repo", "user": {"groups": [...],
    /// "roles": [...], "email": "...", "tenantId": "...", "objectId": "...", "groupsOverage": true, "method": "entra-v2"}}`.
    /// `method` is how the user would authenticate (``Principal/AuthenticationMethod``): with
    /// `entra-v1`/`entra-v2` grants by principal name do not count (``Principal/nameForGrants``).
    /// Without it, a user given by `objectId` is taken as an Entra user, one given by `email`
    /// only as a user of another identity provider.
    /// Only principals listed in `gateway_admins` (by group, app role or user) may ask; anyone
    /// else is refused with `forbidden`. The decision is made uncached, with the same function
    /// calls go through, and the answer names credentials but never shows their values.
    public func explain(_ arguments: JSONValue, askedBy asker: Principal) async throws(GatewayError) -> JSONValue {
        let admin: Bool
        do {
            admin = try await GrantStore(database: database).isAdmin(asker)
        } catch {
            throw GatewayError(.authorizationUnavailable, "authorization is unavailable right now; the request was refused", detail: "\(error)")
        }
        guard admin else {
            throw GatewayError(.forbidden, "only gateway administrators may ask for explanations (gateway_admins)")
        }
        guard let server = arguments["server"]?.stringValue, RequestEnvelope.isValidServerID(server) else {
            throw GatewayError(.badRequest, "'server' must be a server id")
        }
        let tool = arguments["tool"]?.stringValue
        if arguments["tool"] != nil && arguments["tool"] != .null && tool == nil {
            throw GatewayError(.badRequest, "'tool' must be a string")
        }
        let user = arguments["user"] ?? [:]
        guard user.isObject else { throw GatewayError(.badRequest, "'user' must be an object") }
        func strings(_ key: String) throws(GatewayError) -> [String] {
            guard let value = user[key], value != .null else { return [] }
            guard let array = value.arrayValue, array.allSatisfy({ $0.stringValue != nil }) else {
                throw GatewayError(.badRequest, "'user.\(key)' must be an array of strings")
            }
            return array.compactMap(\.stringValue)
        }
        let method: Principal.AuthenticationMethod
        switch user["method"] {
        case nil, .null?: method = Self.explainedMethod(nil, objectID: user["objectId"]?.stringValue)
        case .string(let value)?: method = Self.explainedMethod(value, objectID: nil)
        default: throw GatewayError(.badRequest, "'user.method' must be a string such as 'entra-v2'")
        }
        let principal = Principal(
            subject: user["objectId"]?.stringValue ?? user["email"]?.stringValue ?? "explain", objectID: user["objectId"]?.stringValue,
            tenantID: user["tenantId"]?.stringValue ?? "default", userName: user["email"]?.stringValue, groups: try strings("groups"),
            roles: try strings("roles"), authenticationMethod: method, groupsOverage: user["groupsOverage"] == .bool(true) ? true : nil
        )
        let decision = try await decide(principal, server: server, tool: tool, cached: false)
        guard case .object(var answer) = decision.json else { return decision.json }
        // The rate limits and quotas the call would have to fit (docs/isolation.md).
        do {
            let limits = try await RateLimiter(database: database, refresh: .zero, logger: Logger(label: "mcp-worker.explain"))
                .applicable(principal: principal, tenant: decision.tenant, server: server)
            answer["limits"] = .array(limits.map { $0.limit.json })
        } catch {
            throw GatewayError(.authorizationUnavailable, "the rate limits cannot be read", detail: "\(error)")
        }
        return .object(answer)
    }

    /// How an explained user authenticates: `method` when given; else an Entra user (v2) when
    /// the user is given by object id, and a user of another identity provider when by name only.
    public static func explainedMethod(_ method: String?, objectID: String?) -> Principal.AuthenticationMethod {
        if let method { return Principal.AuthenticationMethod(rawValue: method) }
        return objectID != nil ? .entraV2 : "explain"
    }
}
