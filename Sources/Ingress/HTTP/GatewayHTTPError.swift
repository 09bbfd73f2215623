import Foundation
import HTTPTypes
import Hummingbird
import Shared

/// An error as a client sees it: an HTTP status and the stable JSON shape
/// `{"error": {"code": "...", "message": "...", "callId": "..."}}`. Only the edge builds these;
/// the detail behind a message goes to the logs, not to the client.
public struct GatewayHTTPError: Error, HTTPResponseError, Sendable, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var callID: String?
    /// Shown as `mayHaveRun: true` when the call failed after its backend call had started.
    public var mayHaveRun: Bool?
    public var headers: HTTPFields

    public init(
        status: HTTPResponse.Status, code: String, message: String, callID: String?, headers: HTTPFields = [:], mayHaveRun: Bool? = nil
    ) {
        self.status = status
        self.code = code
        self.message = message
        self.callID = callID
        self.headers = headers
        self.mayHaveRun = mayHaveRun
    }

    public init(_ error: GatewayError, callID: String?) {
        var headers: HTTPFields = [:]
        switch error.code {
        case .unavailable, .authorizationUnavailable: headers[.retryAfter] = "\(error.retryAfter ?? 5)"
        case .unauthenticated: headers[.wwwAuthenticate] = #"Bearer realm="mcp-gateway""#
        default: if let seconds = error.retryAfter { headers[.retryAfter] = "\(seconds)" }
        }
        if let limit = error.rateLimit {
            // draft-ietf-httpapi-ratelimit-headers: the policy that applied, and where the caller stands.
            var policy = "\"\(limit.policy)\";q=\(limit.quota)"
            if let window = limit.windowSeconds { policy += ";w=\(window)" }
            headers[.rateLimitPolicy] = policy
            headers[.rateLimit] = "\"\(limit.policy)\";r=\(limit.remaining);t=\(limit.resetSeconds)"
        }
        self.init(
            status: HTTPResponse.Status(code: error.code.httpStatus), code: error.code.rawValue, message: error.message, callID: callID,
            headers: headers, mayHaveRun: error.mayHaveRun
        )
    }

    struct Body: Encodable {
        struct Detail: Encodable {
            var code: String
            var message: String
            var callId: String?
            var mayHaveRun: Bool?
        }
        var error: Detail
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let data = try JSONEncoder().encode(Body(error: .init(code: code, message: message, callId: callID, mayHaveRun: mayHaveRun)))
        var headers = self.headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    public var description: String { "\(status.code) \(code): \(message)" }
}

extension HTTPField.Name {
    static let rateLimitPolicy = Self("RateLimit-Policy")!
    static let rateLimit = Self("RateLimit")!
}
