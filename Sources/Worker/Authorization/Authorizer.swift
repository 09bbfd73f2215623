import Foundation
import Logging
import Shared

/// The one place that decides who may use which MCP server. `servers/list`, `tools/list` and
/// `tools/call` all ask it, so what a caller sees listed is exactly what they may call.
///
/// Deny by default: a principal reaches a server only through a row of `group_tenant_mapping`
/// (one of its groups, by Entra object id or by display name through `entra_groups`) or of
/// `user_tenant_access` (the user by tenant and object id, or by user principal name). A server
/// id of `*` in either table grants every server. When PostgreSQL cannot answer, the decision is
/// "deny" with `authorization_unavailable` (fail closed).
public struct Authorizer: Sendable {
    private let database: PostgresClient

    public init(database: PostgresClient) {
        self.database = database
    }

    /// The enabled servers `principal` may use, in id order.
    public func allowedServers(for principal: Principal) async throws(GatewayError) -> [ServerRecord] {
        try await servers(for: principal, only: nil)
    }

    /// Whether `principal` may use `server` (an enabled catalog entry).
    public func isAllowed(_ principal: Principal, server: String) async throws(GatewayError) -> Bool {
        try await !servers(for: principal, only: server).isEmpty
    }

    private func servers(for principal: Principal, only server: String?) async throws(GatewayError) -> [ServerRecord] {
        let groups = principal.groups
        let userName = principal.userName?.lowercased() ?? ""
        let objectID = principal.objectID ?? ""
        do {
            let rows = try await database.query(
                """
                WITH caller_groups AS (
                    SELECT unnest(\(groups)::text[]) AS name
                    UNION
                    SELECT display_name FROM entra_groups WHERE object_id = ANY(\(groups)::text[])
                )
                SELECT s.* FROM mcp_servers s
                WHERE s.enabled
                  AND (\(server)::text IS NULL OR s.id = \(server)::text)
                  AND (
                    EXISTS (
                        SELECT 1 FROM group_tenant_mapping g
                        WHERE g.tenant_id IN (s.id, '*') AND g.group_name IN (SELECT name FROM caller_groups)
                    )
                    OR EXISTS (
                        SELECT 1 FROM user_tenant_access u
                        WHERE u.tenant_id IN (s.id, '*')
                          AND ((u.user_object_id <> '' AND u.user_object_id = \(objectID) AND u.user_tenant_id = \(principal.tenantID))
                               OR (\(userName) <> '' AND lower(u.user_email) = \(userName)))
                    )
                  )
                ORDER BY s.id
                """
            )
            return try rows.map(ServerRecord.init(row:))
        } catch {
            throw GatewayError(.authorizationUnavailable, "authorization is unavailable right now; the call was refused", detail: "\(error)")
        }
    }
}
