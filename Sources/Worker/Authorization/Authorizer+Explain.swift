import Foundation
import Shared

extension Authorizer {
    /// Answers an administrator's "may this user call this tool, and why" (``CallKind/explain``).
    ///
    /// `arguments`: `{"server": "github", "tool": "delete_repo", "user": {"groups": [...],
    /// "roles": [...], "email": "...", "tenantId": "...", "objectId": "...", "groupsOverage": true}}`.
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
        let principal = Principal(
            subject: user["objectId"]?.stringValue ?? user["email"]?.stringValue ?? "explain", objectID: user["objectId"]?.stringValue,
            tenantID: user["tenantId"]?.stringValue ?? "default", userName: user["email"]?.stringValue, groups: try strings("groups"),
            roles: try strings("roles"), authenticationMethod: "explain", groupsOverage: user["groupsOverage"] == .bool(true) ? true : nil
        )
        return try await decide(principal, server: server, tool: tool, cached: false).json
    }
}
