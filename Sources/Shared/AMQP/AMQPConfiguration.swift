import Foundation

/// How to reach the broker, and how the connection behaves. Filled from `AMQP_*` variables.
public struct AMQPConfiguration: Sendable, Equatable {
    public struct TLS: Sendable, Equatable {
        /// PEM file of the CA(s) that sign the broker's certificate; `nil` uses the system store.
        public var caFile: String?
        /// PEM client certificate and key, for brokers that require mutual TLS.
        public var certificateFile: String?
        public var keyFile: String?
        /// Verify the broker's certificate chain (default on).
        public var verifyPeer: Bool = true
        /// Verify that the certificate names the host we dialled (default on). librabbitmq 0.11
        /// matches DNS names only, so connect by name, not by IP address.
        public var verifyHostname: Bool = true

        public init(caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil, verifyPeer: Bool = true, verifyHostname: Bool = true) {
            self.caFile = caFile
            self.certificateFile = certificateFile
            self.keyFile = keyFile
            self.verifyPeer = verifyPeer
            self.verifyHostname = verifyHostname
        }
    }

    /// Where the broker listens: the URL's `host:port`, or the cluster's nodes from
    /// `AMQP_ADDRESSES` (never empty). Every (re)connect tries them in turn (``AMQPAddressRotation``).
    public var addresses: [AMQPAddress]
    /// The first address.
    public var host: String { addresses[0].host }
    public var port: Int { addresses[0].port }
    public var user: String
    public var password: String
    public var virtualHost: String
    /// Present for `amqps://` URLs. TLS 1.2 is the minimum.
    public var tls: TLS?
    /// Heartbeat interval asked of the broker, in seconds (0 disables; not advised).
    public var heartbeatSeconds: Int = 30
    public var connectTimeout: Duration = .seconds(5)
    public var handshakeTimeout: Duration = .seconds(10)
    /// Limit for synchronous broker calls (declare, consume, qos). librabbitmq closes the
    /// connection when it passes, and recovery takes over.
    public var rpcTimeout: Duration = .seconds(15)
    /// Default time a publish waits for its confirm.
    public var publishTimeout: Duration = .seconds(10)
    /// Reconnect backoff: doubles from `minimum` up to `maximum`, with jitter.
    public var reconnectMinimum: Duration = .milliseconds(100)
    public var reconnectMaximum: Duration = .seconds(30)
    /// Shown in the broker's management UI and `rabbitmqctl list_connections`.
    public var connectionName: String
    public var frameMax: Int = 131_072

    public init(url: String, connectionName: String) throws(ConfigurationError) {
        try self.init(url: url, variable: "AMQP_URL", connectionName: connectionName)
    }

    init(url: String, variable: String, connectionName: String) throws(ConfigurationError) {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased() else {
            throw ConfigurationError(variable: variable, reason: "is not a URL (expected amqp://user:password@host:port/vhost)")
        }
        switch scheme {
        case "amqp": tls = nil
        case "amqps": tls = TLS()
        default: throw ConfigurationError(variable: variable, reason: "must use amqp:// or amqps://, got \(scheme)://")
        }
        guard let host = components.host, !host.isEmpty else {
            throw ConfigurationError(variable: variable, reason: "has no host")
        }
        let port = components.port ?? (scheme == "amqps" ? 5671 : 5672)
        guard (1...65535).contains(port) else { throw ConfigurationError(variable: variable, reason: "has an invalid port \(port)") }
        self.addresses = [AMQPAddress(host: host, port: port)]
        self.user = components.user?.removingPercentEncoding ?? "guest"
        self.password = components.password?.removingPercentEncoding ?? "guest"
        // The path is the vhost, percent-encoded: "/%2f" is "/", "" or "/" alone is the default "/".
        let path = components.percentEncodedPath
        if path.isEmpty || path == "/" {
            self.virtualHost = "/"
        } else {
            let encoded = String(path.dropFirst())
            guard !encoded.contains("/"), let decoded = encoded.removingPercentEncoding else {
                throw ConfigurationError(variable: variable, reason: "has a malformed vhost '\(encoded)' (encode '/' as %2f)")
            }
            self.virtualHost = decoded
        }
        self.connectionName = connectionName
        for item in components.queryItems ?? [] {
            switch item.name {
            case "heartbeat": heartbeatSeconds = try Self.integer(item, variable: variable, range: 0...3600)
            case "connection_timeout": connectTimeout = .milliseconds(try Self.integer(item, variable: variable, range: 1...600_000))
            case "frame_max": frameMax = try Self.integer(item, variable: variable, range: 4096...1_048_576)
            case "cacertfile": tls?.caFile = item.value
            case "certfile": tls?.certificateFile = item.value
            case "keyfile": tls?.keyFile = item.value
            case "verify": tls?.verifyPeer = item.value != "verify_none"
            case "server_name_indication": continue
            default: continue
            }
        }
    }

    /// The URL's user, password, vhost and TLS settings with the broker `addresses` instead of
    /// its host (`AMQP_ADDRESSES` syntax: `host:port,host:port,...`; `nil` keeps the URL's).
    public init(url: String, addresses: String?, connectionName: String) throws(ConfigurationError) {
        try self.init(url: url, variable: "AMQP_URL", connectionName: connectionName)
        if let addresses {
            self.addresses = try AMQPAddress.list(addresses, defaultPort: tls == nil ? 5672 : 5671, variable: "AMQP_ADDRESSES")
        }
    }

    /// Reads `AMQP_URL` (default `amqp://guest:guest@127.0.0.1:5672/%2f`), `AMQP_ADDRESSES` and
    /// the `AMQP_*` settings documented in the README.
    public init(environment: EnvironmentReader, connectionName: String) throws(ConfigurationError) {
        try self.init(
            url: environment.string("AMQP_URL", default: "amqp://guest:guest@127.0.0.1:5672/%2f"),
            addresses: environment.string("AMQP_ADDRESSES"),
            connectionName: environment.string("AMQP_CONNECTION_NAME", default: connectionName)
        )
        heartbeatSeconds = try environment.int("AMQP_HEARTBEAT_SECONDS", default: heartbeatSeconds, range: 0...3600)
        connectTimeout = try environment.milliseconds("AMQP_CONNECT_TIMEOUT_MS", default: connectTimeout, range: 1...600_000)
        handshakeTimeout = try environment.milliseconds("AMQP_HANDSHAKE_TIMEOUT_MS", default: handshakeTimeout, range: 1...600_000)
        rpcTimeout = try environment.milliseconds("AMQP_RPC_TIMEOUT_MS", default: rpcTimeout, range: 100...600_000)
        publishTimeout = try environment.milliseconds("AMQP_PUBLISH_TIMEOUT_MS", default: publishTimeout, range: 1...600_000)
        reconnectMinimum = try environment.milliseconds("AMQP_RECONNECT_MIN_MS", default: reconnectMinimum, range: 1...600_000)
        reconnectMaximum = try environment.milliseconds("AMQP_RECONNECT_MAX_MS", default: reconnectMaximum, range: 1...3_600_000)
        if var settings = tls {
            settings.caFile = environment.string("AMQP_TLS_CA_FILE") ?? settings.caFile
            settings.certificateFile = environment.string("AMQP_TLS_CERT_FILE") ?? settings.certificateFile
            settings.keyFile = environment.string("AMQP_TLS_KEY_FILE") ?? settings.keyFile
            settings.verifyPeer = try environment.bool("AMQP_TLS_VERIFY_PEER", default: settings.verifyPeer)
            settings.verifyHostname = try environment.bool("AMQP_TLS_VERIFY_HOSTNAME", default: settings.verifyHostname)
            if (settings.certificateFile == nil) != (settings.keyFile == nil) {
                throw ConfigurationError(variable: "AMQP_TLS_CERT_FILE", reason: "and AMQP_TLS_KEY_FILE must be set together")
            }
            tls = settings
        } else if environment.string("AMQP_TLS_CA_FILE") != nil {
            throw ConfigurationError(variable: "AMQP_TLS_CA_FILE", reason: "is set but AMQP_URL is not amqps://")
        }
    }

    /// The URL without its password, for logs.
    public var redactedURL: String {
        let scheme = tls == nil ? "amqp" : "amqps"
        let vhost = virtualHost.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? virtualHost
        return "\(scheme)://\(user):***@\(addresses.map(\.description).joined(separator: ","))/\(vhost)"
    }

    private static func integer(_ item: URLQueryItem, variable: String, range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        guard let raw = item.value, let value = Int(raw), range.contains(value) else {
            throw ConfigurationError(variable: variable, reason: "has an invalid \(item.name)=\(item.value ?? "") (\(range.lowerBound)...\(range.upperBound))")
        }
        return value
    }
}
