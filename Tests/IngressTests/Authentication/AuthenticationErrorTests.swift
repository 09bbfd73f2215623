import HTTPTypes
import Ingress
import Testing

@Suite("Authentication errors as HTTP answers")
struct AuthenticationErrorTests {
    @Test func missingTokenChallengesWithTheRealmOnly() {
        let error = AuthenticationError(.missingToken, "The request has no bearer token.")
        #expect(error.status == .unauthorized)
        #expect(error.wwwAuthenticate == #"Bearer realm="mcp-gateway""#)
    }

    @Test func badTokenChallengesWithInvalidToken() {
        let error = AuthenticationError(.expired, "The token has expired.")
        #expect(error.status == .unauthorized)
        #expect(error.wwwAuthenticate == #"Bearer realm="mcp-gateway", error="invalid_token", error_description="The token has expired.""#)
    }

    @Test("403 for a valid token without permission", arguments: [AuthenticationError.Code.insufficientScope, .clientNotAllowed])
    func permissionErrorsAre403InsufficientScope(code: AuthenticationError.Code) {
        let error = AuthenticationError(code, "No.")
        #expect(error.status == .forbidden)
        #expect(error.wwwAuthenticate == #"Bearer realm="mcp-gateway", error="insufficient_scope", error_description="No.""#)
    }

    @Test func unavailableKeysAre503WithoutAChallenge() {
        let error = AuthenticationError(.keysUnavailable, "later")
        #expect(error.status == .serviceUnavailable)
        #expect(error.wwwAuthenticate == nil)
    }

    @Test func descriptionIsQuoteEscapedAndPrintableASCII() {
        let error = AuthenticationError(.malformed, "say \"hi\" \\ ok\r\nX-Injected: 1 — é")
        #expect(
            error.wwwAuthenticate
                == #"Bearer realm="mcp-gateway", error="invalid_token", error_description="say \"hi\" \\ ok??X-Injected: 1 ? ?""#
        )
    }

    @Test func codesHaveStableNames() {
        #expect(AuthenticationError.Code.issuerTenantMismatch.description == "issuerTenantMismatch")
        #expect(AuthenticationError.Code.keysUnavailable.description == "keysUnavailable")
    }
}
