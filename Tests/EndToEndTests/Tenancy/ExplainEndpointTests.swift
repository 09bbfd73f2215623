import Foundation
import Shared
import TestSupport
import Testing
import Worker

/// `POST /admin/explain`, through the broker to a worker: administrators (gateway_admins) get
/// the decision and its reasons, everyone else 403.
@Suite struct ExplainEndpointTests {
    @Test func anAdministratorLearnsWhyAndOthersAreRefused() async throws {
        let options = GatewayHarness.Options(servers: [try Fixtures.stdioServer("github")])
        try await GatewayHarness.run(options) { gateway in
            try await TenancySetup.customerTenants(gateway)
            try await gateway.grants.grantGroup("Tenant-Google", server: "github")
            let grant = try #require(try await gateway.grants.grants(tenant: "google").first)
            let rule = try await gateway.grants.addToolRule(grantID: grant.id, effect: .deny, pattern: "delete_*")
            try await gateway.grants.addAdmin(kind: .group, subject: "Gateway-Admins")
            let admin = gateway.token(subject: "ada", groups: ["Gateway-Admins"])

            let question = #"{"server":"github","tool":"delete_repo","user":{"groups":["Tenant-Google"],"email":"gina@example.com"}}"#
            let denied = try await gateway.post("/admin/explain", token: admin, json: question)
            #expect(denied.status == 200, "\(denied.body)")
            #expect(denied.body["allowed"] == .bool(false))
            #expect(denied.body["tenant"]?.stringValue == "google")
            #expect(denied.body["decidedBy"]?.stringValue?.contains("#\(rule)") == true, "\(denied.body)")

            let allowed = try await gateway.post(
                "/admin/explain", token: admin, json: #"{"server":"github","tool":"echo","user":{"groups":["Tenant-Google"]}}"#)
            #expect(allowed.body["allowed"] == .bool(true))
            #expect(allowed.body["decidedBy"]?.stringValue == "grant #\(grant.id)")

            // Not an administrator (even with access to the server): 403.
            let refused = try await gateway.post("/admin/explain", token: gateway.token(subject: "gina", groups: ["Tenant-Google"]), json: question)
            #expect(refused.status == 403)
            #expect(refused.errorCode == "forbidden")
            // A bad question is a 400.
            #expect(try await gateway.post("/admin/explain", token: admin, json: #"{"server":"Not Valid"}"#).status == 400)
        }
    }
}
