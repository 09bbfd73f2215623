import Foundation
import Shared

/// Reads and writes grants (`access_grants`, with their `tool_rules`), tenants and the
/// `entra_groups` names, for the CLI, the seed loader and tests. Decisions are the ``Authorizer``'s.
///
/// A grant without an explicit tenant goes to the tenant its group is assigned to
/// (`tenant_groups`), else to `default`: the same rule the legacy `group_tenant_mapping` view applies.
public struct GrantStore: Sendable {
    public struct GroupGrant: Sendable, Equatable {
        public var group: String
        public var server: String
        public var tenant: String
    }

    public struct UserGrant: Sendable, Equatable {
        public var email: String?
        public var tenantID: String?
        public var objectID: String?
        public var server: String
        public var tenant: String
    }

    public struct Tenant: Sendable, Equatable {
        public var id: String
        public var displayName: String
        public var entraTenantID: String?
        public var groups: [String]
    }

    public static let defaultTenant = "default"

    private let database: PostgresClient

    public init(database: PostgresClient) {
        self.database = database
    }

    // MARK: Grants

    /// Grants `group` the server (`*` for all) in `tenant`; `false` when the grant already existed.
    @discardableResult
    public func grantGroup(_ group: String, server: String, tenant: String? = nil) async throws -> Bool {
        try await database.execute(
            """
            INSERT INTO access_grants (tenant_id, server_id, subject_kind, group_name)
            VALUES (coalesce(\(tenant)::text, (SELECT tenant_id FROM tenant_groups WHERE group_name = \(group)), 'default'), \(server), 'group', \(group))
            ON CONFLICT DO NOTHING
            """
        ) == 1
    }

    /// Takes the server from the group, in `tenant` (or in every tenant); `false` when there was no such grant.
    @discardableResult
    public func revokeGroup(_ group: String, server: String, tenant: String? = nil) async throws -> Bool {
        try await database.execute(
            """
            DELETE FROM access_grants WHERE subject_kind = 'group' AND group_name = \(group) AND server_id = \(server)
              AND (\(tenant)::text IS NULL OR tenant_id = \(tenant)::text)
            """
        ) > 0
    }

    /// Grants an app role value (the token's `roles` claim) the server in `tenant`.
    @discardableResult
    public func grantRole(_ role: String, server: String, tenant: String = GrantStore.defaultTenant) async throws -> Bool {
        try await database.execute(
            "INSERT INTO access_grants (tenant_id, server_id, subject_kind, role_name) VALUES (\(tenant), \(server), 'role', \(role)) ON CONFLICT DO NOTHING"
        ) == 1
    }

    @discardableResult
    public func revokeRole(_ role: String, server: String, tenant: String? = nil) async throws -> Bool {
        try await database.execute(
            """
            DELETE FROM access_grants WHERE subject_kind = 'role' AND role_name = \(role) AND server_id = \(server)
              AND (\(tenant)::text IS NULL OR tenant_id = \(tenant)::text)
            """
        ) > 0
    }

    /// Grants one user the server: by Entra tenant and object id (preferred), or by e-mail / UPN.
    @discardableResult
    public func grantUser(
        email: String?, tenantID: String?, objectID: String?, server: String, tenant: String = GrantStore.defaultTenant
    ) async throws -> Bool {
        let byObject = objectID != nil && tenantID != nil
        return try await database.execute(
            """
            INSERT INTO access_grants (tenant_id, server_id, subject_kind, user_email, user_tenant_id, user_object_id)
            VALUES (\(tenant), \(server), 'user', \(email), \(byObject ? tenantID : nil), \(byObject ? objectID : nil))
            ON CONFLICT DO NOTHING
            """
        ) == 1
    }

    @discardableResult
    public func revokeUser(email: String?, tenantID: String?, objectID: String?, server: String, tenant: String? = nil) async throws -> Bool {
        if let objectID, let tenantID {
            return try await database.execute(
                """
                DELETE FROM access_grants WHERE subject_kind = 'user' AND user_tenant_id = \(tenantID) AND user_object_id = \(objectID)
                  AND server_id = \(server) AND (\(tenant)::text IS NULL OR tenant_id = \(tenant)::text)
                """
            ) > 0
        }
        return try await database.execute(
            """
            DELETE FROM access_grants WHERE subject_kind = 'user' AND user_object_id IS NULL AND lower(user_email) = lower(\(email))
              AND server_id = \(server) AND (\(tenant)::text IS NULL OR tenant_id = \(tenant)::text)
            """
        ) > 0
    }

    /// Removes one grant by id (and its tool rules); `false` when there is none.
    @discardableResult
    public func revokeGrant(id: Int64) async throws -> Bool {
        try await database.execute("DELETE FROM access_grants WHERE id = \(id)") > 0
    }

    /// Every grant, with its rules, optionally of one tenant or server.
    public func grants(tenant: String? = nil, server: String? = nil) async throws -> [AccessGrant] {
        try await database.query(
            """
            SELECT g.id, g.tenant_id, g.server_id, g.subject_kind,
                   CASE g.subject_kind WHEN 'group' THEN g.group_name WHEN 'role' THEN g.role_name
                        ELSE coalesce(g.user_tenant_id || '/' || g.user_object_id, g.user_email) END AS subject,
                   (g.user_object_id IS NOT NULL) AS by_object,
                   coalesce((SELECT json_agg(json_build_object('id', r.id, 'effect', r.effect, 'pattern', r.pattern) ORDER BY r.id)
                             FROM tool_rules r WHERE r.grant_id = g.id), '[]'::json) AS rules
            FROM access_grants g
            WHERE (\(tenant)::text IS NULL OR g.tenant_id = \(tenant)::text) AND (\(server)::text IS NULL OR g.server_id = \(server)::text)
            ORDER BY g.tenant_id, g.server_id, g.id
            """
        ).map(AccessGrant.init(row:))
    }

    public func groupGrants() async throws -> [GroupGrant] {
        try await database.query(
            "SELECT group_name, server_id, tenant_id FROM access_grants WHERE subject_kind = 'group' ORDER BY group_name, server_id, tenant_id"
        ).map { row in
            GroupGrant(group: try row.decode(String.self, "group_name"), server: try row.decode(String.self, "server_id"), tenant: try row.decode(String.self, "tenant_id"))
        }
    }

    public func userGrants() async throws -> [UserGrant] {
        try await database.query(
            """
            SELECT user_email, user_tenant_id, user_object_id, server_id, tenant_id FROM access_grants WHERE subject_kind = 'user'
            ORDER BY user_email, user_object_id, server_id
            """
        ).map { row in
            UserGrant(
                email: try row.decode(String?.self, "user_email"), tenantID: try row.decode(String?.self, "user_tenant_id"),
                objectID: try row.decode(String?.self, "user_object_id"), server: try row.decode(String.self, "server_id"),
                tenant: try row.decode(String.self, "tenant_id")
            )
        }
    }

    // MARK: Tool rules

    /// Narrows grant `grantID`: `allow` rules make it an allow list, `deny` rules always refuse.
    /// Returns the rule's id.
    public func addToolRule(grantID: Int64, effect: AccessGrant.ToolRule.Effect, pattern: String) async throws -> Int64 {
        let rows = try await database.query(
            """
            INSERT INTO tool_rules (grant_id, effect, pattern) VALUES (\(grantID), \(effect.rawValue), \(pattern))
            ON CONFLICT (grant_id, effect, pattern) DO UPDATE SET pattern = EXCLUDED.pattern
            RETURNING id
            """
        )
        return try rows[0].decode(Int64.self, "id")
    }

    @discardableResult
    public func removeToolRule(id: Int64) async throws -> Bool {
        try await database.execute("DELETE FROM tool_rules WHERE id = \(id)") > 0
    }

    // MARK: Tenants and groups

    /// Adds a tenant, or renames it; `entraTenantID` binds its grants to tokens of that directory.
    public func upsertTenant(id: String, displayName: String, entraTenantID: String? = nil) async throws {
        try await database.execute(
            """
            INSERT INTO tenants (id, display_name, entra_tenant_id) VALUES (\(id), \(displayName), \(entraTenantID))
            ON CONFLICT (id) DO UPDATE SET display_name = EXCLUDED.display_name, entra_tenant_id = EXCLUDED.entra_tenant_id
            """
        )
    }

    @discardableResult
    public func removeTenant(id: String) async throws -> Bool {
        try await database.execute("DELETE FROM tenants WHERE id = \(id) AND id NOT IN ('default', 'platform')") > 0
    }

    public func tenants() async throws -> [Tenant] {
        try await database.query(
            """
            SELECT t.id, t.display_name, t.entra_tenant_id,
                   coalesce((SELECT json_agg(g.group_name ORDER BY g.group_name) FROM tenant_groups g WHERE g.tenant_id = t.id), '[]'::json) AS groups
            FROM tenants t ORDER BY t.id
            """
        ).map { row in
            Tenant(
                id: try row.decode(String.self, "id"), displayName: try row.decode(String.self, "display_name"),
                entraTenantID: try row.decode(String?.self, "entra_tenant_id"), groups: try row.decodeJSON([String].self, "groups")
            )
        }
    }

    /// Says that `group`'s people belong to `tenant`: its grants written without a tenant land there.
    public func assignGroup(_ group: String, toTenant tenant: String) async throws {
        try await database.execute(
            "INSERT INTO tenant_groups (group_name, tenant_id) VALUES (\(group), \(tenant)) ON CONFLICT (group_name) DO UPDATE SET tenant_id = EXCLUDED.tenant_id"
        )
    }

    /// Names an Entra group's object id, so mappings by display name apply to tokens with ids.
    public func nameGroup(objectID: String, displayName: String) async throws {
        try await database.execute(
            """
            INSERT INTO entra_groups (object_id, display_name) VALUES (\(objectID), \(displayName))
            ON CONFLICT (object_id) DO UPDATE SET display_name = EXCLUDED.display_name
            """
        )
    }

    // MARK: Administrators

    /// Lets a group, a user (`tid/oid` or a user principal name) or an app role ask admin questions (explain).
    public func addAdmin(kind: AccessGrant.SubjectKind, subject: String) async throws {
        try await database.execute("INSERT INTO gateway_admins (subject_kind, subject) VALUES (\(kind.rawValue), \(subject)) ON CONFLICT DO NOTHING")
    }

    @discardableResult
    public func removeAdmin(kind: AccessGrant.SubjectKind, subject: String) async throws -> Bool {
        try await database.execute("DELETE FROM gateway_admins WHERE subject_kind = \(kind.rawValue) AND subject = \(subject)") > 0
    }

    /// Whether `principal` is a gateway administrator (`gateway_admins`).
    public func isAdmin(_ principal: Principal) async throws -> Bool {
        let user = principal.objectID.map { "\(principal.tenantID)/\($0)" } ?? ""
        let name = principal.nameForGrants ?? ""
        let rows = try await database.query(
            """
            WITH caller_groups AS (
                SELECT unnest(\(principal.groups)::text[]) AS name
                UNION SELECT display_name FROM entra_groups WHERE object_id = ANY(\(principal.groups)::text[])
            )
            SELECT EXISTS (
                SELECT 1 FROM gateway_admins a WHERE
                    (a.subject_kind = 'group' AND a.subject IN (SELECT name FROM caller_groups))
                 OR (a.subject_kind = 'role' AND a.subject = ANY(\(principal.roles)::text[]))
                 OR (a.subject_kind = 'user' AND ((\(user) <> '' AND a.subject = \(user))
                                                  OR (\(name) <> '' AND lower(a.subject) = \(name))))
            ) AS admin
            """
        )
        return try rows[0].decode(Bool.self, "admin")
    }
}
