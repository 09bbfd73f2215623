import Foundation
import Shared
import TestSupport
import Testing
import Worker

/// The seed's group mappings, decided by the worker against PostgreSQL: listing shows exactly
/// what calling allows, and nothing else is reachable.
@Suite struct AuthorizationTests {
    /// Seed servers served by real MCP servers (the fixture over stdio), so calls really run.
    static let servers = ["github", "filesystem", "atlassian", "notion", "slack"]

    static func seededOptions() throws -> GatewayHarness.Options {
        var options = GatewayHarness.Options(servers: try servers.map { try Fixtures.stdioServer($0) })
        options.groupGrants = SeedData.groupMappings.flatMap { mapping in
            mapping.servers.filter { $0 == "*" || servers.contains($0) }.map { (mapping.group, $0) }
        }
        return options
    }

    /// Group → servers it reaches, among ``servers``, per the seed document.
    static let expectations: [(groups: [String], reaches: Set<String>)] = [
        (["MCP-GitHub"], ["github"]),
        (["MCP-Filesystem"], ["filesystem"]),
        (["MCP-Atlassian"], ["atlassian"]),
        (["Tenant-Google"], ["github", "notion", "atlassian", "filesystem"]),
        (["Tenant-AcmeCorp"], ["atlassian", "slack", "filesystem"]),
        (["Tenant-Microsoft"], ["github", "atlassian", "filesystem"]),
        (["MCP-Admin"], Set(servers)),
        ([], []),
        (["Not-A-Mapped-Group"], []),
        (["MCP-GitHub", "Tenant-AcmeCorp"], ["github", "atlassian", "slack", "filesystem"]),
    ]

    @Test func everyGroupReachesExactlyWhatTheSeedMappingGrants() async throws {
        try await GatewayHarness.run(try Self.seededOptions()) { gateway in
            for expectation in Self.expectations {
                let token = gateway.token(subject: "user-\(expectation.groups.joined(separator: "+"))", groups: expectation.groups)
                let listed = try await gateway.get("/servers", token: token)
                #expect(listed.status == 200)
                let ids = Set(listed.body["servers"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? [])
                #expect(ids == expectation.reaches, "listing for \(expectation.groups)")

                for server in Self.servers {
                    let call = try await gateway.post("/servers/\(server)/tools/echo", token: token, json: #"{"text":"\#(server)"}"#)
                    if expectation.reaches.contains(server) {
                        #expect(call.status == 200, "\(expectation.groups) calling \(server): \(call.body)")
                        #expect(call.body.firstText == server)
                    } else {
                        #expect(call.status == 403, "\(expectation.groups) calling \(server): \(call.body)")
                        #expect(call.errorCode == "forbidden")
                        let tools = try await gateway.get("/servers/\(server)/tools", token: token)
                        #expect(tools.status == 403)
                    }
                }
            }
        }
    }

    @Test func aDirectUserGrantOpensOneServerToOneUser() async throws {
        try await GatewayHarness.run(try Self.seededOptions()) { gateway in
            try await gateway.grants.grantUser(email: "carol@example.com", tenantID: nil, objectID: nil, server: "notion")
            let carol = gateway.token(subject: "carol")
            let listed = try await gateway.get("/servers", token: carol)
            #expect(listed.body["servers"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == ["notion"])
            #expect(try await gateway.post("/servers/notion/tools/echo", token: carol, json: #"{"text":"hi"}"#).status == 200)
            #expect(try await gateway.post("/servers/slack/tools/echo", token: carol, json: #"{"text":"hi"}"#).status == 403)
            // Another user gets nothing from Carol's grant.
            #expect(try await gateway.post("/servers/notion/tools/echo", token: gateway.token(subject: "dave"), json: "{}").status == 403)
        }
    }

    @Test func identityHeadersFromTheCallerAreIgnored() async throws {
        try await GatewayHarness.run(try Self.seededOptions()) { gateway in
            let forged = [
                "X-Entra-Groups": "MCP-Admin", "X-User-Groups": "MCP-Admin", "X-Auth-Source": "entra-token",
                "X-OpenWebUI-User-Email": "admin@example.com", "X-OpenWebUI-User-Groups": "MCP-Admin",
            ]
            let token = gateway.token(subject: "mallory", groups: [])
            let listed = try await gateway.get("/servers", token: token, headers: forged)
            #expect(listed.status == 200)
            #expect(listed.body["servers"]?.arrayValue?.isEmpty == true)
            let call = try await gateway.post("/servers/github/tools/echo", token: token, json: "{}", headers: forged)
            #expect(call.status == 403)
            // And without a token the headers alone get a 401.
            #expect(try await gateway.get("/servers", token: nil, headers: forged).status == 401)
        }
    }
}
