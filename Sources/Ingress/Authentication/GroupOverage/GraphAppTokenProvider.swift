import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Shared

/// App-only (client-credentials) tokens for Microsoft Graph, one per tenant, each reused until
/// shortly before it expires, with at most one token request per tenant in flight.
actor GraphAppTokenProvider {
    private struct Cached {
        var token: String
        /// When to stop using it: ``refreshMargin`` before Entra's `expires_in`.
        var renewAt: Date
    }

    private let configuration: GraphConfiguration
    private let http: GraphHTTP
    private let now: @Sendable () -> Date
    private var tokens: [String: Cached] = [:]
    private var inFlight: [String: Task<Result<Cached, GraphError>, Never>] = [:]
    /// Token requests made since start, for diagnostics and tests.
    private(set) var requestCount = 0

    /// Renew this long before expiry (Entra's app tokens live 60-90 minutes), but never more
    /// than half of a token's lifetime.
    static let refreshMargin: TimeInterval = 300

    init(configuration: GraphConfiguration, http: GraphHTTP, now: @escaping @Sendable () -> Date) {
        self.configuration = configuration
        self.http = http
        self.now = now
    }

    /// A valid app-only token for `tenant`, from the cache or from the tenant's token endpoint.
    func token(tenant: String) async throws(GraphError) -> String {
        if let cached = tokens[tenant], now() < cached.renewAt { return cached.token }
        let task: Task<Result<Cached, GraphError>, Never>
        if let running = inFlight[tenant] {
            task = running
        } else {
            // Unstructured on purpose: the request belongs to every caller waiting on it; it is
            // bounded by the HTTP timeout.
            task = Task { await self.request(tenant: tenant) }
            inFlight[tenant] = task
        }
        let result = await task.value
        if inFlight[tenant] == task { inFlight[tenant] = nil }
        let cached = try result.get()
        tokens[tenant] = cached
        return cached.token
    }

    /// Forgets a tenant's token (Graph refused it): the next lookup asks for a new one.
    func invalidate(tenant: String, token: String) {
        if tokens[tenant]?.token == token { tokens[tenant] = nil }
    }

    private func request(tenant: String) async -> Result<Cached, GraphError> {
        requestCount += 1
        let body = [
            ("client_id", configuration.clientID), ("client_secret", configuration.clientSecret), ("scope", configuration.scope),
            ("grant_type", "client_credentials"),
        ].map { "\($0)=\(Self.formEncoded($1))" }.joined(separator: "&")
        var request = HTTPClientRequest(url: configuration.tokenURL(tenant: tenant).absoluteString)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Accept", value: "application/json")
        request.body = .bytes(ByteBuffer(string: body))
        let issued = now()
        do {
            let json = try await http.send(request, what: "the app-only token request for Microsoft Graph")
            guard let token = json["access_token"]?.stringValue, !token.isEmpty else {
                return .failure(GraphError("the app-only token request for Microsoft Graph answered no access_token"))
            }
            let lifetime = json["expires_in"]?.doubleValue ?? json["expires_in"]?.stringValue.flatMap { Double($0) } ?? 0
            let margin = min(Self.refreshMargin, lifetime / 2)
            return .success(Cached(token: token, renewAt: issued.addingTimeInterval(max(0, lifetime - margin))))
        } catch {
            return .failure(error)
        }
    }

    /// `application/x-www-form-urlencoded`: everything but the unreserved characters escaped, so
    /// that a secret with `+`, `&` or `=` arrives as it is.
    static func formEncoded(_ value: String) -> String {
        var allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        allowed.insert(charactersIn: "-._~")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }
}
