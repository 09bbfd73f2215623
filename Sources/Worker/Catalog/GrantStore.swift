import Foundation
import Shared

/// Reads and writes the grant tables (`group_tenant_mapping`, `user_tenant_access`,
/// `entra_groups`) for the CLI and the seed loader. Decisions are the ``Authorizer``'s.
public struct GrantStore: Sendable {
    public struct GroupGrant: Sendable, Equatable {
        public var group: String
        public var server: String
    }

    public struct UserGrant: Sendable, Equatable {
        public var email: String?
        public var tenantID: String?
        public var objectID: String?
        public var server: String
    }

    private let database: PostgresClient

    public init(database: PostgresClient) {
        self.database = database
    }

    /// Grants `group` the server (`*` for all); `false` when the grant already existed.
    @discardableResult
    public func grantGroup(_ group: String, server: String) async throws -> Bool {
        try await database.execute(
            "INSERT INTO group_tenant_mapping (group_name, tenant_id) VALUES (\(group), \(server)) ON CONFLICT DO NOTHING"
        ) == 1
    }

    @discardableResult
    public func revokeGroup(_ group: String, server: String) async throws -> Bool {
        try await database.execute("DELETE FROM group_tenant_mapping WHERE group_name = \(group) AND tenant_id = \(server)") > 0
    }

    /// Grants one user the server: by Entra tenant and object id (preferred), or by e-mail / UPN.
    @discardableResult
    public func grantUser(email: String?, tenantID: String?, objectID: String?, server: String) async throws -> Bool {
        if let objectID, let tenantID {
            return try await database.execute(
                """
                INSERT INTO user_tenant_access (user_tenant_id, user_object_id, user_email, tenant_id)
                VALUES (\(tenantID), \(objectID), \(email), \(server))
                ON CONFLICT (user_tenant_id, user_object_id, tenant_id) WHERE user_object_id IS NOT NULL DO NOTHING
                """
            ) == 1
        }
        return try await database.execute(
            """
            INSERT INTO user_tenant_access (user_email, tenant_id) VALUES (\(email), \(server))
            ON CONFLICT (lower(user_email), tenant_id) WHERE user_email IS NOT NULL DO NOTHING
            """
        ) == 1
    }

    @discardableResult
    public func revokeUser(email: String?, tenantID: String?, objectID: String?, server: String) async throws -> Bool {
        if let objectID, let tenantID {
            return try await database.execute(
                "DELETE FROM user_tenant_access WHERE user_tenant_id = \(tenantID) AND user_object_id = \(objectID) AND tenant_id = \(server)"
            ) > 0
        }
        return try await database.execute(
            "DELETE FROM user_tenant_access WHERE lower(user_email) = lower(\(email)) AND tenant_id = \(server)"
        ) > 0
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

    public func groupGrants() async throws -> [GroupGrant] {
        try await database.query("SELECT group_name, tenant_id FROM group_tenant_mapping ORDER BY group_name, tenant_id").map { row in
            GroupGrant(group: try row.decode(String.self, "group_name"), server: try row.decode(String.self, "tenant_id"))
        }
    }

    public func userGrants() async throws -> [UserGrant] {
        try await database.query(
            "SELECT user_email, user_tenant_id, user_object_id, tenant_id FROM user_tenant_access ORDER BY user_email, user_object_id, tenant_id"
        ).map { row in
            UserGrant(
                email: try row.decode(String?.self, "user_email"), tenantID: try row.decode(String?.self, "user_tenant_id"),
                objectID: try row.decode(String?.self, "user_object_id"), server: try row.decode(String.self, "tenant_id")
            )
        }
    }
}
