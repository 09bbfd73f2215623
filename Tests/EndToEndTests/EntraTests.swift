import AsyncHTTPClient
import Foundation
import Ingress
import NIOCore
import Shared
import TestSupport
import Testing
import Worker

/// The whole gateway with the Entra profile: tokens of Entra's exact shape, keys and Microsoft
/// Graph served by the local stand-in, grants in PostgreSQL, real MCP servers.
@Suite struct EntraTests {
    static let tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
    static let gatewayClientID = "6e74172b-be56-4843-9ff4-e66a39bb12e3"
    static let openWebUIClientID = "d3590ed6-52b3-4102-aeff-aad2292ab01c"
    static let user = "00000000-0000-0000-66f3-3332eca7ea81"
    /// A group only Graph knows the user is in: it is on the last page of their memberships.
    static let githubGroup = "7b0d8a3e-5f1c-4a9e-9d2b-3c4e5f6a7b8c"
    static let secret = "gateway-graph-secret"

    static func standInState() -> EntraStandIn.State {
        var state = EntraStandIn.State(clientID: gatewayClientID, clientSecret: secret, tenant: tenant)
        let filler = (0..<7).map { String(format: "%08x-1111-4000-8000-%012x", $0, $0) }
        state.members = [user: filler + [githubGroup]]
        state.pageSize = 3
        return state
    }

    /// Servers `github` (granted to ``githubGroup``) and `notion` (granted to the user directly,
    /// by tenant and object id), with the Entra profile pointed at `standIn`.
    static func options(_ standIn: EntraStandIn, graph: Bool) throws -> GatewayHarness.Options {
        var options = GatewayHarness.Options(servers: [try Fixtures.stdioServer("github"), try Fixtures.stdioServer("notion")])
        options.groupGrants = [(githubGroup, "github")]
        options.authentication = try AuthenticationConfiguration(
            entra: EntraProfile(
                tenantIDs: [tenant], clientID: gatewayClientID, authority: standIn.baseURL, requiredScopes: ["mcp.invoke"],
                allowedClientApps: [openWebUIClientID]
            )
        )
        if graph {
            options.overage = GroupOverageResolver(
                configuration: GraphConfiguration(
                    clientID: gatewayClientID, clientSecret: secret, tokenAuthority: standIn.baseURL, graphURL: standIn.graphURL, timeout: .seconds(3)
                ),
                httpClient: .shared, logger: TestEnvironment.logger
            )
        }
        return options
    }

    /// A v2 access token as Entra issues it to Open WebUI for the gateway's scope.
    static func token(overage: Bool, groups: [String] = [], change: (inout [String: JSONValue]) -> Void = { _ in }) -> String {
        let now = Int64(Date().timeIntervalSince1970)
        var claims: [String: JSONValue] = [
            "aud": .string(gatewayClientID), "iss": .string("https://login.microsoftonline.com/\(tenant)/v2.0"),
            "iat": .integer(now - 60), "nbf": .integer(now - 60), "exp": .integer(now + 3600),
            "azp": .string(openWebUIClientID), "oid": .string(user), "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
            "tid": .string(tenant), "ver": "2.0", "scp": "mcp.invoke", "preferred_username": "alice@contoso.example",
        ]
        if overage {
            claims["_claim_names"] = ["groups": "src1"]
            claims["_claim_sources"] = ["src1": ["endpoint": .string("https://graph.windows.net/\(tenant)/users/\(user)/getMemberObjects")]]
        } else {
            claims["groups"] = .array(groups.map(JSONValue.string))
        }
        change(&claims)
        return TestToken(claims: claims).signed()
    }

    static func serverIDs(_ answer: GatewayHarness.Answer) -> Set<String> {
        Set(answer.body["servers"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? [])
    }

    @Test func anOverageUserReachesAServerThroughAGroupOnlyGraphKnows() async throws {
        try await EntraStandIn.with(Self.standInState()) { standIn in
            try await GatewayHarness.run(try Self.options(standIn, graph: true)) { gateway in
                try await gateway.grants.grantUser(email: nil, tenantID: Self.tenant, objectID: Self.user, server: "notion")
                let token = Self.token(overage: true)
                let listed = try await gateway.get("/servers", token: token)
                #expect(listed.status == 200, "\(listed.body)")
                #expect(Self.serverIDs(listed) == ["github", "notion"])
                #expect(listed.body["notice"] == nil)
                let call = try await gateway.post("/servers/github/tools/echo", token: token, json: #"{"text":"via graph"}"#)
                #expect(call.status == 200, "\(call.body)")
                #expect(call.body.firstText == "via graph")
                // Eight groups and a directory role, three per page: three pages, for one user, once.
                #expect(standIn.count("graph") == 3)
                #expect(standIn.count("token") == 1)
            }
        }
    }

    @Test func whenGraphFailsAnOverageUserGetsOnlyDirectGrantsAndIsToldWhy() async throws {
        var state = Self.standInState()
        state.failGraph = true
        try await EntraStandIn.with(state) { standIn in
            try await GatewayHarness.run(try Self.options(standIn, graph: true)) { gateway in
                try await gateway.grants.grantUser(email: nil, tenantID: Self.tenant, objectID: Self.user, server: "notion")
                let token = Self.token(overage: true)
                // Forged identity headers next to the valid token change nothing.
                let forged = [
                    "X-Entra-Groups": Self.githubGroup, "X-User-Groups": "MCP-Admin", "X-Auth-Source": "entra-token",
                    "X-OpenWebUI-User-Groups": "MCP-Admin", "X-OpenWebUI-User-Email": "admin@contoso.example",
                ]
                let listed = try await gateway.get("/servers", token: token, headers: forged)
                #expect(listed.status == 200)
                #expect(Self.serverIDs(listed) == ["notion"])
                #expect(listed.body["notice"]?.stringValue?.contains("could not be looked up in Microsoft Graph") == true)
                #expect(try await gateway.post("/servers/notion/tools/echo", token: token, json: #"{"text":"direct"}"#).status == 200)

                let refused = try await gateway.post("/servers/github/tools/echo", token: token, json: "{}", headers: forged)
                #expect(refused.status == 403)
                #expect(refused.errorCode == "forbidden")
                let message = try #require(refused.body["error"]?["message"]?.stringValue)
                #expect(message.contains("could not be looked up in Microsoft Graph"), "\(message)")
                #expect(message.contains("HTTP 503"))
            }
        }
    }

    /// `preferred_username`, `upn`, `email` and `name` are display values an Entra user (or another
    /// tenant's administrator) can set: a grant or an administrator entry by principal name never
    /// matches an Entra token, however its names are spelled. Only (`tid`, `oid`) does.
    @Test func anEntraUsersNamesNeverGrantAccessOrAdministration() async throws {
        try await EntraStandIn.with(Self.standInState()) { standIn in
            try await GatewayHarness.run(try Self.options(standIn, graph: false)) { gateway in
                try await gateway.grants.grantUser(email: "alice@contoso.example", tenantID: nil, objectID: nil, server: "notion")
                try await gateway.grants.addAdmin(kind: .user, subject: "alice@contoso.example")
                let token = Self.token(overage: false) { claims in
                    claims["upn"] = "alice@contoso.example"
                    claims["email"] = "alice@contoso.example"
                    claims["name"] = "alice@contoso.example"
                }
                let listed = try await gateway.get("/servers", token: token)
                #expect(listed.status == 200, "\(listed.body)")
                #expect(Self.serverIDs(listed).isEmpty)
                #expect(try await gateway.post("/servers/notion/tools/echo", token: token, json: "{}").status == 403)
                let explain = try await gateway.post("/admin/explain", token: token, json: #"{"server":"notion","user":{"email":"alice@contoso.example"}}"#)
                #expect(explain.status == 403, "\(explain.body)")

                // The same user granted by tenant and object id is let in.
                try await gateway.grants.grantUser(email: nil, tenantID: Self.tenant, objectID: Self.user, server: "notion")
                // (The worker drops its cached grants when PostgreSQL announces the change.)
                let call = try await eventually(timeout: .seconds(10)) { () -> GatewayHarness.Answer? in
                    let answer = try await gateway.post("/servers/notion/tools/echo", token: token, json: #"{"text":"by oid"}"#)
                    return answer.status == 200 ? answer : nil
                }
                #expect(call.body.firstText == "by oid")
            }
        }
    }

    /// The groups claim carries object ids; a mapping by display name applies once the id is named
    /// in `entra_groups`, and a display name sent as a header or any other claim counts for nothing.
    @Test func aMappingByGroupDisplayNameAppliesToTheGroupsObjectID() async throws {
        try await EntraStandIn.with(Self.standInState()) { standIn in
            try await GatewayHarness.run(try Self.options(standIn, graph: false)) { gateway in
                try await gateway.grants.grantGroup("MCP-Notion", server: "notion")
                let group = "5e2f9a1c-0d3b-4c6e-8f7a-1b2c3d4e5f60"
                let token = Self.token(overage: false, groups: [group])
                let before = try await gateway.post("/servers/notion/tools/echo", token: token, json: "{}", headers: ["X-Entra-Groups": "MCP-Notion"])
                #expect(before.status == 403)
                try await gateway.grants.nameGroup(objectID: group, displayName: "MCP-Notion")
                // The harness's worker caches grants until PostgreSQL announces the change.
                _ = try await eventually(timeout: .seconds(10)) { () -> Bool? in
                    try await gateway.post("/servers/notion/tools/echo", token: token, json: #"{"text":"named"}"#).status == 200 ? true : nil
                }
                #expect(Self.serverIDs(try await gateway.get("/servers", token: token)) == ["notion"])
            }
        }
    }

    @Test func withoutGraphAnOverageUserIsToldGraphIsNotConfigured() async throws {
        try await EntraStandIn.with(Self.standInState()) { standIn in
            try await GatewayHarness.run(try Self.options(standIn, graph: false)) { gateway in
                let refused = try await gateway.post("/servers/github/tools/echo", token: Self.token(overage: true), json: "{}")
                #expect(refused.status == 403)
                #expect(refused.body["error"]?["message"]?.stringValue?.contains("not configured to look them up in Microsoft Graph") == true)
                // A user with the group in the token itself needs no Graph.
                let direct = try await gateway.post(
                    "/servers/github/tools/echo", token: Self.token(overage: false, groups: [Self.githubGroup]), json: #"{"text":"claim"}"#
                )
                #expect(direct.status == 200)
                #expect(standIn.count("graph") == 0)
            }
        }
    }

    @Test func theHTTPEdgeAnswersTokensOfEverySizeAndShapeCleanly() async throws {
        try await EntraStandIn.with(Self.standInState()) { standIn in
            try await GatewayHarness.run(try Self.options(standIn, graph: false)) { gateway in
                // 350 group ids: a 16 KiB token in the Authorization header.
                let many = (0..<349).map { String(format: "%08x-0000-4000-8000-%012x", $0, $0) } + [Self.githubGroup]
                let large = Self.token(overage: false, groups: many)
                #expect(large.utf8.count >= 16_384)
                let accepted = try await gateway.post("/servers/github/tools/echo", token: large, json: #"{"text":"big"}"#)
                #expect(accepted.status == 200, "\(accepted.body)")

                // Over AUTH_MAX_TOKEN_BYTES (32 KiB): a clean 401 that says so.
                let tooLarge = Self.token(overage: false, groups: (0..<900).map { String(format: "%08x-0000-4000-8000-%012x", $0, $0) })
                let refused = try await gateway.get("/servers", token: tooLarge)
                #expect(refused.status == 401)
                #expect(refused.errorCode == "unauthenticated")
                #expect(refused.headers["www-authenticate"]?.contains(#"error="invalid_token""#) == true)

                // Far over what the HTTP server reads: refused (a 4xx, or the connection closed), never a 5xx.
                do {
                    let huge = try await gateway.get("/servers", token: String(repeating: "A", count: 200_000))
                    #expect((400..<500).contains(huge.status), "\(huge.status)")
                } catch {
                    // The server closed the connection on the oversized header: refused cleanly.
                }
                // And it goes on serving.
                #expect(try await gateway.get("/servers", token: Self.token(overage: false, groups: [Self.githubGroup])).status == 200)

                // A token without the gateway's scope: 403 insufficient_scope.
                let unscoped = try await gateway.get("/servers", token: Self.token(overage: false) { $0["scp"] = "User.Read" })
                #expect(unscoped.status == 403)
                #expect(unscoped.headers["www-authenticate"]?.contains(#"error="insufficient_scope""#) == true)

                // Fuzzed header values: always 401.
                var random = SystemRandomNumberGenerator()
                let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~+/=:;,!#$%&'*()[]{}\"")
                let valid = Self.token(overage: false, groups: [Self.githubGroup])
                for round in 0..<60 {
                    var candidate: String
                    switch round % 3 {
                    case 0: candidate = String((0..<Int.random(in: 1...3000, using: &random)).map { _ in alphabet.randomElement(using: &random)! })
                    case 1: candidate = String(valid.prefix(Int.random(in: 1..<valid.count, using: &random)))
                    default:
                        var characters = Array(valid)
                        characters[Int.random(in: 0..<characters.count, using: &random)] = alphabet.randomElement(using: &random)!
                        characters[Int.random(in: 0..<characters.count, using: &random)] = alphabet.randomElement(using: &random)!
                        candidate = String(characters)
                    }
                    let answer = try await gateway.get("/servers", token: candidate)
                    // Two flipped characters can, rarely, leave the decoded bytes as they were.
                    if round % 3 != 2 || answer.status != 200 {
                        #expect(answer.status == 401, "\(answer.status) \(answer.body)")
                    }
                }
                // The gateway still serves well-formed requests after all of it.
                #expect(try await gateway.post("/servers/github/tools/echo", token: valid, json: #"{"text":"still"}"#).status == 200)
            }
        }
    }
}
