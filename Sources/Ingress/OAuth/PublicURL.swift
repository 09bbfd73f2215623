import Foundation
import Hummingbird

/// The ingress's public base URL (no trailing slash): `PUBLIC_BASE_URL` when set, else what the
/// request says it was sent to (`X-Forwarded-Proto`/`X-Forwarded-Host` from a trusted proxy,
/// then `Host`). Configure `PUBLIC_BASE_URL` in production: it is what clients compare the
/// protected-resource metadata's `resource` with.
enum PublicURL {
    static func base(of request: Request, configured: String?) -> String {
        if let configured { return configured }
        let scheme = request.header("x-forwarded-proto")?.split(separator: ",").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? "http"
        let host = request.header("x-forwarded-host") ?? request.header("host") ?? request.head.authority ?? "localhost"
        return "\(scheme == "https" ? "https" : "http")://\(host)"
    }
}
