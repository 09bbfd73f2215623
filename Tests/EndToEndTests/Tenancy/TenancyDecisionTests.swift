import Foundation
import Shared
import TestSupport
import Testing
import Worker

/// The decision end to end: tool rules, app roles, user grants under group overage, and a
/// revocation reaching a running worker through PostgreSQL NOTIFY.
@Suite struct TenancyDecisionTests {
    /// Tool names (`tools`) or server ids (`servers`) of a listing.
    static func names(_ answer: GatewayHarness.Answer, _ key: String) -> Set<String> {
        Set(answer.body[key]?.arrayValue?.compactMap { $0[key == "servers" ? "id" : "name"]?.stringValue } ?? [])
    }

    @Test func deniedToolsAreAbsentFromTheListAndRefusedOnCall() async throws {
        let options = GatewayHarness.Options(servers: [try Fixtures.stdioServer("github")])
        try await GatewayHarness.run(options) { gateway in
            try await TenancySetup.customerTenants(gateway)
            try await gateway.grants.grantGroup("Tenant-Google", server: "github")
            let grant = try #require(try await gateway.grants.grants(tenant: "google", server: "github").first)
            // An allow list (echo, add*, fail) with a deny rule that beats the allow of `fail`.
            for pattern in ["echo", "add*", "fail"] { _ = try await gateway.grants.addToolRule(grantID: grant.id, effect: .allow, pattern: pattern) }
            _ = try await gateway.grants.addToolRule(grantID: grant.id, effect: .deny, pattern: "fa?l")
            let token = gateway.token(groups: ["Tenant-Google"])

            let listed = try await gateway.get("/servers/github/tools", token: token)
            #expect(listed.status == 200)
            #expect(Self.names(listed, "tools") == ["echo", "add", "add_tool"])
            for tool in ["fail", "sleep", "whoami", "show_credential"] {
                let call = try await gateway.post("/servers/github/tools/\(tool)", token: token, json: #"{"message":"x","seconds":0}"#)
                #expect(call.status == 403, "\(tool): \(call.body)")
                #expect(call.errorCode == "forbidden")
            }
            let echo = try await gateway.post("/servers/github/tools/echo", token: token, json: #"{"text":"allowed"}"#)
            #expect(echo.status == 200)
            #expect(echo.body.firstText == "allowed")

            let decision = try await gateway.workers[0].components.authorizer.decide(
                Principal(subject: "alice", tenantID: "default", groups: ["Tenant-Google"], authenticationMethod: .localDev), server: "github", tool: "fail")
            #expect(!decision.allowed)
            #expect(decision.rule?.pattern == "fa?l")
            #expect(decision.tenant == "google")
        }
    }

    @Test func anAppRoleGrantOpensTheServerEndToEnd() async throws {
        let options = GatewayHarness.Options(servers: [try Fixtures.stdioServer("linear"), try Fixtures.stdioServer("slack")])
        try await GatewayHarness.run(options) { gateway in
            try await gateway.grants.grantRole("Gateway.Linear", server: "linear")
            let withRole = gateway.token(subject: "rita", claims: ["roles": ["Gateway.Linear"]])
            let otherRole = gateway.token(subject: "otto", claims: ["roles": ["Gateway.Other"]])
            #expect(Self.names(try await gateway.get("/servers", token: withRole), "servers") == ["linear"])
            #expect(try await gateway.post("/servers/linear/tools/echo", token: withRole, json: #"{"text":"r"}"#).status == 200)
            #expect(try await gateway.post("/servers/slack/tools/echo", token: withRole, json: #"{"text":"r"}"#).status == 403)
            #expect(try await gateway.post("/servers/linear/tools/echo", token: otherRole, json: #"{"text":"r"}"#).status == 403)
        }
    }

    @Test func underGroupOverageADenialSaysTheGroupListWasIncompleteAndUserGrantsStillApply() async throws {
        let options = GatewayHarness.Options(servers: [try Fixtures.stdioServer("github"), try Fixtures.stdioServer("notion")], groupGrants: [("MCP-GitHub", "github")])
        try await GatewayHarness.run(options) { gateway in
            try await gateway.grants.grantUser(email: nil, tenantID: "tid-overage", objectID: "oid-olga", server: "notion")
            let overage = gateway.token(subject: "olga", claims: ["tid": "tid-overage", "oid": "oid-olga", "hasgroups": true])
            let denied = try await gateway.post("/servers/github/tools/echo", token: overage, json: #"{"text":"x"}"#)
            #expect(denied.status == 403)
            let message = denied.body["error"]?["message"]?.stringValue ?? ""
            #expect(message.contains("group list was incomplete"), "\(message)")
            #expect(try await gateway.post("/servers/notion/tools/echo", token: overage, json: #"{"text":"x"}"#).status == 200)
            // Without overage, the same denial does not talk about groups.
            let plain = gateway.token(subject: "pete", claims: ["tid": "tid-overage", "oid": "oid-pete"])
            let plainDenied = try await gateway.post("/servers/github/tools/echo", token: plain, json: #"{"text":"x"}"#)
            #expect(plainDenied.status == 403)
            #expect(plainDenied.body["error"]?["message"]?.stringValue?.contains("incomplete") == false)
        }
    }

    /// The cache's TTL is an hour here, so only the NOTIFY can explain the worker seeing the revocation.
    @Test func revokingAGrantTakesEffectOnARunningWorkerThroughNotify() async throws {
        var options = GatewayHarness.Options(servers: [try Fixtures.stdioServer("github")], groupGrants: [("Team", "github")])
        options.authorizationCacheTTL = .seconds(3600)
        try await GatewayHarness.run(options) { gateway in
            let token = gateway.token(groups: ["Team"])
            let listener = gateway.workers[0].components.tenancyListener
            _ = try await eventually(timeout: .seconds(10)) { listener.connections > 0 ? true : nil }
            // Warm the cache: the decision is now held by the worker.
            #expect(try await gateway.post("/servers/github/tools/echo", token: token, json: #"{"text":"before"}"#).status == 200)
            #expect(try await gateway.post("/servers/github/tools/echo", token: token, json: #"{"text":"cached"}"#).status == 200)
            let invalidationsBefore = listener.invalidations

            #expect(try await gateway.grants.revokeGroup("Team", server: "github"))
            let refused = try await eventually(timeout: .seconds(10)) { () -> GatewayHarness.Answer? in
                let answer = try await gateway.post("/servers/github/tools/echo", token: token, json: #"{"text":"after"}"#)
                return answer.status == 403 ? answer : nil
            }
            #expect(refused.errorCode == "forbidden")
            #expect(listener.invalidations > invalidationsBefore)
            // And granting again reaches it the same way.
            try await gateway.grants.grantGroup("Team", server: "github")
            _ = try await eventually(timeout: .seconds(10)) { () -> Bool? in
                try await gateway.post("/servers/github/tools/echo", token: token, json: #"{"text":"again"}"#).status == 200 ? true : nil
            }
        }
    }
}
