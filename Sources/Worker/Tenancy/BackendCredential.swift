import Foundation

/// The credential a call reaches its backend with: HTTP headers (streamable HTTP, SSE) and
/// environment variables (stdio), opened from `backend_credentials` for one (tenant, server).
///
/// Its description, debug description and mirror never show a value, so no string
/// interpolation, log line or error can leak one.
public struct BackendCredential: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public enum Source: Sendable, Hashable {
        /// The tenant's own credential.
        case tenant(String)
        /// The platform's credential, used because `platform_credential_shares` says this tenant may.
        case platformSharedWith(String)
    }

    public var source: Source
    public var headers: [String: String]
    public var environment: [String: String]

    public init(source: Source, headers: [String: String] = [:], environment: [String: String] = [:]) {
        self.source = source
        self.headers = headers
        self.environment = environment
    }

    /// The tenant whose call this is; the backend pool keeps one backend per scope.
    public var scope: String {
        switch source {
        case .tenant(let tenant), .platformSharedWith(let tenant): "tenant:\(tenant)"
        }
    }

    /// Names only: `header Authorization, env GITHUB_TOKEN`.
    public var names: [String] {
        headers.keys.sorted().map { "header \($0)" } + environment.keys.sorted().map { "env \($0)" }
    }

    public var sourceDescription: String {
        switch source {
        case .tenant(let tenant): "tenant '\(tenant)''s own credential"
        case .platformSharedWith(let tenant): "the platform's credential, shared with tenant '\(tenant)' (platform_credential_shares)"
        }
    }

    public var description: String { "\(sourceDescription) [\(names.joined(separator: ", "))]" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["description": description]) }
}
