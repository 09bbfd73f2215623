import Foundation
import Shared
import TestSupport
import Testing
import Worker

/// The seed document's whole setup: its 18 servers (all served here by one real fixture server
/// over streamable HTTP) and its group mappings, written through the legacy
/// `group_tenant_mapping` table exactly as the original loaded them. Every group × every server,
/// listed and called, allowed exactly where the mapping says.
@Suite struct SeedMatrixTests {
    static let servers = SeedData.servers.map(\.id)

    /// What the seed maps, with `MCP-Admin`'s "all" spelled out as one row per server, as the
    /// original's rows were.
    static var legacyRows: [(group: String, server: String)] {
        SeedData.groupMappings.flatMap { mapping in
            mapping.servers.flatMap { server in server == "*" ? servers.map { (mapping.group, $0) } : [(mapping.group, server)] }
        }
    }

    static func reaches(_ group: String?) -> Set<String> {
        Set(legacyRows.filter { $0.group == group }.map(\.server))
    }

    @Test func everySeedGroupReachesExactlyItsServersAmongAllEighteen() async throws {
        let fixture = try FixtureServer(.streamableHTTP)
        let options = GatewayHarness.Options(servers: Self.servers.map { TenancySetup.record(fixture, id: $0) })
        try await TenancySetup.with(fixture) {
            try await GatewayHarness.run(options) { gateway in
                // The seed's statements, unchanged, against the compatibility view.
                for row in Self.legacyRows {
                    try await gateway.database.execute("INSERT INTO group_tenant_mapping (group_name, tenant_id) VALUES (\(row.group), \(row.server))")
                }
                let count = try await gateway.database.query("SELECT count(*) AS n FROM group_tenant_mapping")[0].decode(Int.self, "n")
                #expect(count == Self.legacyRows.count)

                let groups: [String?] = SeedData.groupMappings.map(\.group) + [nil]
                for group in groups {
                    let token = gateway.token(subject: "seed-\(group ?? "none")", groups: group.map { [$0] } ?? [])
                    let expected = Self.reaches(group)
                    let listed = try await gateway.get("/servers", token: token)
                    #expect(listed.status == 200)
                    #expect(TenancyDecisionTests.names(listed, "servers") == expected, "servers listed for \(group ?? "no group")")
                    for server in Self.servers {
                        let tools = try await gateway.get("/servers/\(server)/tools", token: token)
                        let call = try await gateway.post("/servers/\(server)/tools/echo", token: token, json: #"{"text":"\#(server)"}"#)
                        if expected.contains(server) {
                            #expect(tools.status == 200, "\(group ?? "-") listing \(server)")
                            #expect(call.status == 200, "\(group ?? "-") calling \(server): \(call.body)")
                            #expect(call.body.firstText == server)
                        } else {
                            #expect(tools.status == 403, "\(group ?? "-") listing \(server)")
                            #expect(call.status == 403, "\(group ?? "-") calling \(server)")
                        }
                    }
                }
            }
        }
    }
}
