import TestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Ingress
import NIOCore
import Shared
import Testing

@Suite("The Authorization header")
struct BearerTokenTests {
    @Test(
        "well-formed Bearer headers yield the token",
        arguments: ["Bearer abc.def.ghi", "bearer abc.def.ghi", "BEARER abc.def.ghi", "Bearer   abc.def.ghi  ", "Bearer\tabc.def.ghi"]
    )
    func bearerSchemeIsCaseInsensitiveAndYieldsTheToken(header: String) throws {
        #expect(try bearerToken(from: header) == "abc.def.ghi")
    }

    @Test(
        "anything else is refused",
        arguments: [
            (nil, AuthenticationError.Code.missingToken), ("", .missingToken), ("   ", .missingToken), ("Basic YWxpY2U6c2VjcmV0", .missingToken),
            ("Token abc", .missingToken), ("Bearerabc.def.ghi", .missingToken), ("Bearer", .malformed), ("Bearer ", .malformed),
            ("Bearer a.b.c d.e.f", .malformed), ("Bearer a.b.c,Bearer d.e.f", .malformed), ("Bearer a\"b", .malformed),
        ] as [(String?, AuthenticationError.Code)]
    )
    func otherSchemesAndShapesAreRefused(header: String?, code: AuthenticationError.Code) {
        #expect(throws: AuthenticationError.self) { try bearerToken(from: header) }
        do throws(AuthenticationError) {
            _ = try bearerToken(from: header)
        } catch {
            #expect(error.code == code)
        }
    }

    @Test func twoAuthorizationFieldsAreRefused() {
        var headers = HTTPFields()
        headers.append(HTTPField(name: .authorization, value: "Bearer a.b.c"))
        headers.append(HTTPField(name: .authorization, value: "Bearer d.e.f"))
        let error = #expect(throws: AuthenticationError.self) { try bearerToken(from: headers) }
        #expect(error?.code == .malformed)
    }

    @Test func identityHeadersAloneAuthenticateNobody() {
        let headers: HTTPFields = [
            HTTPField.Name("X-Entra-Groups")!: "MCP-Admin", HTTPField.Name("X-User-Groups")!: "MCP-Admin",
            HTTPField.Name("X-OpenWebUI-User-Email")!: "admin@contoso.example", HTTPField.Name("X-Auth-Source")!: "entra",
        ]
        let error = #expect(throws: AuthenticationError.self) { try bearerToken(from: headers) }
        #expect(error?.code == .missingToken)
    }

    /// A route that authenticates the way the ingress does (the Authorization header through
    /// the verifier) and answers with the principal: forged identity headers next to a valid
    /// token for a user without groups change nothing.
    @Test func forgedIdentityHeadersNextToAValidTokenGainNothing() async throws {
        try await AuthenticationHarness.run { harness in
            let router = Router()
            router.get("/whoami") { request, _ -> Response in
                let principal: Principal
                do throws(AuthenticationError) {
                    principal = try await harness.verifier.verify(token: bearerToken(from: request.headers))
                } catch {
                    var headers = HTTPFields()
                    headers[.wwwAuthenticate] = error.wwwAuthenticate
                    return Response(status: error.status, headers: headers)
                }
                return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(bytes: try JSONEncoder().encode(principal))))
            }
            var claims = EntraFixture.v2Claims()
            claims["groups"] = nil
            let token = TestToken(claims: claims).signed()
            let forged: HTTPFields = [
                .authorization: "Bearer \(token)",
                HTTPField.Name("X-Entra-Groups")!: "MCP-Admin",
                HTTPField.Name("X-User-Groups")!: "MCP-Admin,Tenant-Google",
                HTTPField.Name("X-OpenWebUI-User-Id")!: "admin",
                HTTPField.Name("X-OpenWebUI-User-Role")!: "admin",
                HTTPField.Name("X-Auth-Source")!: "entra",
                HTTPField.Name("X-Tenant-Id")!: EntraFixture.tenantB,
            ]
            let app = Application(router: router, logger: JWKSTestServer.quietLogger)
            try await app.test(.router) { client in
                try await client.execute(uri: "/whoami", method: .get, headers: forged) { response in
                    #expect(response.status == .ok)
                    let principal = try JSONDecoder().decode(Principal.self, from: Data(response.body.readableBytesView))
                    #expect(principal.groups.isEmpty)
                    #expect(principal.tenantID == EntraFixture.tenantA)
                    #expect(principal.objectID == EntraFixture.userObjectID)
                }
                var withoutToken = forged
                withoutToken[.authorization] = nil
                try await client.execute(uri: "/whoami", method: .get, headers: withoutToken) { response in
                    #expect(response.status == .unauthorized)
                    #expect(response.headers[.wwwAuthenticate] == #"Bearer realm="mcp-gateway""#)
                }
            }
        }
    }
}
