import HTTPTypes

/// The token of an `Authorization: Bearer <token>` header value (RFC 6750 §2.1).
///
/// The scheme is matched case-insensitively; exactly one token must follow, made of the
/// `b64token` characters. No header (or another scheme, such as `Basic`) is
/// ``AuthenticationError/Code/missingToken``; anything else that is not one well-formed token
/// is ``AuthenticationError/Code/malformed``.
public func bearerToken(from authorizationHeader: String?) throws(AuthenticationError) -> String {
    let value = (authorizationHeader ?? "").trimmingHTTPWhitespace()
    guard !value.isEmpty else {
        throw AuthenticationError(.missingToken, "The request has no bearer token.")
    }
    let scheme = value.prefix { $0 != " " && $0 != "\t" }
    guard scheme.lowercased() == "bearer" else {
        throw AuthenticationError(.missingToken, "The request has no bearer token (only the Bearer scheme is accepted).")
    }
    let token = value.dropFirst(scheme.count).trimmingHTTPWhitespace()
    guard !token.isEmpty else {
        throw AuthenticationError.malformed("Authorization header has the Bearer scheme but no token")
    }
    guard token.unicodeScalars.allSatisfy(isBearerTokenCharacter) else {
        throw AuthenticationError.malformed("Authorization header holds more than one token or characters outside b64token")
    }
    return token
}

/// The bearer token of a request's headers. More than one `Authorization` field is
/// ``AuthenticationError/Code/malformed``: which one would count is ambiguous.
///
/// Only `Authorization` is read: identity headers a caller adds (`X-Entra-Groups`,
/// `X-User-Groups`, `X-OpenWebUI-User-*`, ...) never reach the verifier.
public func bearerToken(from headers: HTTPFields) throws(AuthenticationError) -> String {
    let values = headers[values: .authorization]
    guard values.count <= 1 else {
        throw AuthenticationError.malformed("\(values.count) Authorization header fields")
    }
    return try bearerToken(from: values.first)
}

/// RFC 6750 `b64token`: `ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/"`, then `=` padding.
/// Padding in the middle is let through here and refused by the JWT parser.
private func isBearerTokenCharacter(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar {
    case "A"..."Z", "a"..."z", "0"..."9", "-", ".", "_", "~", "+", "/", "=": true
    default: false
    }
}

extension StringProtocol {
    fileprivate func trimmingHTTPWhitespace() -> String {
        let isWhitespace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = firstIndex(where: { !isWhitespace($0) }), let last = lastIndex(where: { !isWhitespace($0) }) else { return "" }
        return String(self[first...last])
    }
}
