import Hummingbird
import Logging
import Shared

/// The production ``RequestAuthenticator``: a bearer token verified by ``TokenVerifier``
/// (signature against the issuer's published keys, issuer, audience, lifetime, tenant).
public struct TokenAuthenticator: RequestAuthenticator {
    let verifier: TokenVerifier
    let logger: Logger

    public init(verifier: TokenVerifier, logger: Logger) {
        self.verifier = verifier
        self.logger = logger
    }

    public func authenticate(headers: HTTPFields, callID: String) async throws(GatewayHTTPError) -> Principal {
        do {
            let principal = try await verifier.verify(token: try bearerToken(from: headers))
            if let reason = principal.groupsOverageDetail {
                logger.info("Group overage unresolved; only direct grants apply", metadata: [LogKeys.callID: "\(callID)", "reason": "\(reason)"])
            }
            return principal
        } catch {
            logger.info(
                "Authentication refused",
                metadata: [LogKeys.callID: "\(callID)", "auth_error": "\(error.code)", LogKeys.error: "\(error.detail ?? error.message)"]
            )
            var fields: HTTPFields = [:]
            if let challenge = error.wwwAuthenticate { fields[.wwwAuthenticate] = challenge }
            if error.status == .serviceUnavailable { fields[.retryAfter] = "5" }
            let code: GatewayErrorCode =
                switch error.status {
                case .forbidden: .forbidden
                case .serviceUnavailable: .unavailable
                default: .unauthenticated
                }
            throw GatewayHTTPError(status: error.status, code: code.rawValue, message: error.message, callID: callID, headers: fields)
        }
    }
}
