import Foundation
import HTTPTypes
import Hummingbird
import Shared

extension HTTPField.Name {
    /// The IETF httpapi draft's header naming one call across retries.
    static let idempotencyKey = Self("Idempotency-Key")!
}

/// What a caller says about a `tools/call` in its request headers, checked: the deadline it asks
/// for (`X-Timeout-Ms`) and the key that makes retries safe (`Idempotency-Key`).
///
/// A bad value is a 400, never ignored: a client that believes it set a 5 s deadline or an
/// idempotency key must not silently get 30 s or a second execution.
struct CallHeaders: Sendable {
    /// The call's deadline from now: the requested one (capped at `CALL_MAX_TIMEOUT_MS`), else the default.
    var timeout: Duration
    var idempotencyKey: String?

    /// The largest `X-Timeout-Ms` accepted at all (one day); larger values are a client bug.
    static let largestTimeoutMilliseconds = 86_400_000

    init(_ request: Request, configuration: IngressConfiguration, callID: String) throws(GatewayHTTPError) {
        timeout = configuration.defaultTimeout
        if let raw = request.header("x-timeout-ms") {
            let text = raw.trimmingCharacters(in: .whitespaces)
            guard !text.isEmpty, text.utf8.allSatisfy({ (0x30...0x39).contains($0) }), text.utf8.count <= 12, let milliseconds = Int(text),
                (1...Self.largestTimeoutMilliseconds).contains(milliseconds)
            else {
                throw GatewayHTTPError(
                    GatewayError(.badRequest, "X-Timeout-Ms must be a whole number of milliseconds from 1 to \(Self.largestTimeoutMilliseconds)"),
                    callID: callID
                )
            }
            timeout = configuration.timeout(requestedMilliseconds: milliseconds)
        }
        if let raw = request.header("idempotency-key") {
            idempotencyKey = try Self.idempotencyKey(raw, callID: callID)
        }
    }

    /// The key as the draft writes it (a structured-field string, `"…"`) or bare: 1 to 255
    /// printable ASCII characters.
    static func idempotencyKey(_ raw: String, callID: String) throws(GatewayHTTPError) -> String {
        var key = raw.trimmingCharacters(in: .whitespaces)
        if key.count >= 2, key.hasPrefix("\""), key.hasSuffix("\"") { key = String(key.dropFirst().dropLast()) }
        guard !key.isEmpty, key.utf8.count <= 255, key.utf8.allSatisfy({ (0x20...0x7E).contains($0) }) else {
            throw GatewayHTTPError(GatewayError(.badRequest, "Idempotency-Key must be 1 to 255 printable ASCII characters"), callID: callID)
        }
        return key
    }

    /// The call id of a call made with `key`: the same for every retry by the same caller (tenant
    /// and subject), and unrelated for any other caller.
    static func callID(idempotencyKey key: String, principal: Principal) -> String {
        UUIDs.derived("idempotency-key", principal.tenantID, principal.subject, key)
    }

    /// This call's id: derived from the idempotency key when there is one, else `fallback`.
    func callID(for principal: Principal, fallback: String) -> String {
        idempotencyKey.map { Self.callID(idempotencyKey: $0, principal: principal) } ?? fallback
    }
}
