import Foundation
import Shared
import TestSupport
import Testing
import Worker

/// What a hostile or broken request gets: a clear, typed error in the stable JSON shape, and
/// nothing else lost (the gateway keeps serving).
@Suite struct BadInputTests {
    static func options() throws -> GatewayHarness.Options {
        GatewayHarness.Options(servers: [try Fixtures.stdioServer("echo")], groupGrants: [("Team", "echo")])
    }

    @Test func requestsWithoutAValidTokenGet401WithAChallenge() async throws {
        try await GatewayHarness.run(try Self.options()) { gateway in
            let missing = try await gateway.get("/servers", token: nil)
            #expect(missing.status == 401)
            #expect(missing.errorCode == "unauthenticated")
            #expect(missing.headers["www-authenticate"]?.hasPrefix("Bearer") == true)

            for bad in ["not-a-jwt", "a.b.c", gateway.token(groups: ["Team"]) + "x"] {
                let answer = try await gateway.post("/servers/echo/tools/echo", token: bad, json: "{}")
                #expect(answer.status == 401)
                #expect(answer.headers["www-authenticate"]?.contains(#"error="invalid_token""#) == true)
            }
            let expired = gateway.token(groups: ["Team"], claims: ["exp": .integer(Int64(Date().timeIntervalSince1970) - 3600)])
            #expect(try await gateway.get("/servers", token: expired).status == 401)
        }
    }

    @Test func unknownServersAndToolsAre404() async throws {
        try await GatewayHarness.run(try Self.options()) { gateway in
            let token = gateway.token(groups: ["Team"])
            let server = try await gateway.post("/servers/nosuch/tools/echo", token: token, json: "{}")
            #expect(server.status == 404)
            #expect(server.errorCode == "not_found")
            let invalid = try await gateway.get("/servers/NOT..valid/tools", token: token)
            #expect(invalid.status == 404)
            let tool = try await gateway.post("/servers/echo/tools/nosuch", token: token, json: "{}")
            #expect(tool.status == 404)
            #expect(tool.errorCode == "not_found")
        }
    }

    @Test(arguments: [
        ("{", "malformed JSON"), ("[1,2]", "an array"), ("\"text\"", "a string"), ("null", "null"),
        (String(repeating: "{\"a\":", count: 300) + "1" + String(repeating: "}", count: 300), "nested too deep"),
    ])
    func argumentsThatAreNotAJSONObjectGet400(body: String, what: String) async throws {
        try await GatewayHarness.run(try Self.options()) { gateway in
            let answer = try await gateway.post("/servers/echo/tools/echo", token: gateway.token(groups: ["Team"]), json: body)
            #expect(answer.status == 400, "\(what)")
            #expect(answer.errorCode == "bad_request")
            #expect(answer.body["error"]?["message"]?.stringValue?.isEmpty == false)
            // The gateway still serves the next, well-formed call.
            let next = try await gateway.post("/servers/echo/tools/echo", token: gateway.token(groups: ["Team"]), json: #"{"text":"ok"}"#)
            #expect(next.status == 200)
        }
    }

    @Test func anOversizedBodyGets413() async throws {
        try await GatewayHarness.run(try Self.options()) { gateway in
            let huge = #"{"text":""# + String(repeating: "x", count: 200 * 1024) + #""}"#
            let answer = try await gateway.post("/servers/echo/tools/echo", token: gateway.token(groups: ["Team"]), json: huge)
            #expect(answer.status == 413)
            #expect(answer.errorCode == "payload_too_large")
        }
    }
}
