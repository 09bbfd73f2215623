import CLibPQ

/// How to reach PostgreSQL and how large a pool to keep.
///
/// The connection string is handed to libpq untouched, so everything libpq understands works:
/// URIs and `key=value` strings, several hosts with `target_session_attrs=read-write` for
/// failover, `sslmode`, SCRAM, and, when `DATABASE_URL` is unset, libpq's own `PG*` variables.
///
/// Precedence for each libpq setting: the connection string, then libpq's `PG*` environment,
/// then the defaults below (`fallback_application_name`, `connect_timeout`, TCP keepalives).
public struct PostgresConfiguration: Sendable, CustomStringConvertible {
    /// A libpq conninfo string or `postgresql://` URI. Empty: libpq reads `PGHOST`, `PGPORT`,
    /// `PGUSER`, `PGPASSWORD`, `PGDATABASE`, … itself.
    public var connectionString: String
    /// At most this many sessions are open at once. Default 4.
    public var poolSize: Int
    /// How long a caller waits for a free session before ``PostgresError/Code-swift.struct/poolTimeout``.
    /// Default 5 s.
    public var acquireTimeout: Duration
    /// libpq's `connect_timeout` (whole seconds, rounded up; libpq's minimum is 2 s), per host
    /// tried. `nil` leaves it to the connection string or `PGCONNECT_TIMEOUT`. Default 5 s.
    public var connectTimeout: Duration?
    /// Sent as `fallback_application_name`: it names the process in `pg_stat_activity` unless the
    /// connection string or `PGAPPNAME` names it otherwise.
    public var applicationName: String
    /// libpq keywords that win over the connection string (for example
    /// `["options": "-c search_path=tenant_a"]`). Empty in production; tests use it to isolate
    /// themselves in a schema.
    public var parameterOverrides: [String: String]

    public static let poolSizeRange = 1...200

    /// A configuration built in code (tests, tools). `poolSize` is clamped to ``poolSizeRange``.
    public init(
        connectionString: String = "",
        poolSize: Int = 4,
        acquireTimeout: Duration = .seconds(5),
        connectTimeout: Duration? = .seconds(5),
        applicationName: String,
        parameterOverrides: [String: String] = [:]
    ) {
        self.connectionString = connectionString
        self.poolSize = min(max(poolSize, Self.poolSizeRange.lowerBound), Self.poolSizeRange.upperBound)
        self.acquireTimeout = acquireTimeout
        self.connectTimeout = connectTimeout
        self.applicationName = applicationName
        self.parameterOverrides = parameterOverrides
    }

    /// Reads `DATABASE_URL`, `PG_POOL_SIZE` (1…200, default 4), `PG_ACQUIRE_TIMEOUT_MS` (default
    /// 5000) and `PG_CONNECT_TIMEOUT_MS` (default 5000; when unset, `PGCONNECT_TIMEOUT` is left to
    /// libpq if present).
    ///
    /// - Parameter applicationName: the default name of this process in `pg_stat_activity`
    ///   (`"mcp-worker"`).
    /// - Throws: ``ConfigurationError`` naming the variable. A malformed `DATABASE_URL` is reported
    ///   without echoing it, as it may hold a password.
    public init(environment: EnvironmentReader = EnvironmentReader(), applicationName: String) throws(ConfigurationError) {
        let connectionString = environment.string("DATABASE_URL") ?? ""
        if Self.parse(connectionString) == nil {
            throw ConfigurationError(
                variable: "DATABASE_URL",
                reason: "is not a valid libpq connection string or postgresql:// URI "
                    + "(check quoting and percent-encoding; the value is not shown as it may contain a password)"
            )
        }
        let connectTimeout: Duration?
        if environment.string("PG_CONNECT_TIMEOUT_MS") == nil && environment.string("PGCONNECT_TIMEOUT") != nil {
            connectTimeout = nil
        } else {
            connectTimeout = try environment.milliseconds("PG_CONNECT_TIMEOUT_MS", default: .seconds(5), range: 1...600_000)
        }
        self.init(
            connectionString: connectionString,
            poolSize: try environment.int("PG_POOL_SIZE", default: 4, range: Self.poolSizeRange),
            acquireTimeout: try environment.milliseconds("PG_ACQUIRE_TIMEOUT_MS", default: .seconds(5), range: 1...3_600_000),
            connectTimeout: connectTimeout,
            applicationName: applicationName
        )
    }

    /// Where the pool connects, with any password replaced by `********`; safe to log.
    public var description: String {
        var parts = ["target: \(redactedConnectionString)", "pool_size: \(poolSize)", "acquire_timeout: \(acquireTimeout)"]
        if let connectTimeout { parts.append("connect_timeout: \(connectTimeout)") }
        parts.append("application_name: \(applicationName)")
        return "PostgresConfiguration(" + parts.joined(separator: ", ") + ")"
    }

    /// The connection string as `key=value` pairs (libpq's own parse), password redacted.
    public var redactedConnectionString: String {
        guard !connectionString.isEmpty else { return "(libpq defaults and PG* environment)" }
        guard let options = Self.parse(connectionString) else { return "(unparsable connection string)" }
        var pairs = options.map { key, value in "\(key)=\(Self.redact(key: key, value: value))" }
        for (key, value) in parameterOverrides.sorted(by: { $0.key < $1.key }) {
            pairs.append("\(key)=\(Self.redact(key: key, value: value))")
        }
        return pairs.joined(separator: " ")
    }

    private static func redact(key: String, value: String) -> String {
        // A `dbname` that is itself a connection string may embed a password too.
        if key == "password" || (key == "dbname" && (value.contains("=") || value.contains("://"))) {
            return "********"
        }
        return value
    }

    /// The keyword/value pairs for `PQconnectdbParams`, in the order that gives the documented
    /// precedence: libpq lets a later keyword override an earlier one, and the expanded
    /// connection string (`dbname`) overrides what precedes it.
    var connectParameters: [(String, String)] {
        var parameters: [(String, String)] = [
            ("fallback_application_name", applicationName),
            ("keepalives", "1"),
            ("keepalives_idle", "30"),
            ("keepalives_interval", "10"),
            ("keepalives_count", "3"),
        ]
        if let connectTimeout {
            let (seconds, attoseconds) = connectTimeout.components
            let wholeSeconds = max(seconds + (attoseconds > 0 ? 1 : 0), 2)
            parameters.append(("connect_timeout", String(wholeSeconds)))
        }
        if !connectionString.isEmpty {
            parameters.append(("dbname", connectionString))
        }
        // The client reads and writes Swift strings, which are UTF-8.
        parameters.append(("client_encoding", "UTF8"))
        for (key, value) in parameterOverrides.sorted(by: { $0.key < $1.key }) {
            parameters.append((key, value))
        }
        return parameters
    }

    /// libpq's parse of a conninfo string or URI: the keywords it sets, in libpq's order.
    /// `nil` when libpq refuses it.
    static func parse(_ connectionString: String) -> [(String, String)]? {
        var errorMessage: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(connectionString, &errorMessage) else {
            if let errorMessage { PQfreemem(errorMessage) }
            return nil
        }
        defer { PQconninfoFree(options) }
        var result: [(String, String)] = []
        var option = options
        while let keyword = option.pointee.keyword {
            if let value = option.pointee.val {
                result.append((String(cString: keyword), String(cString: value)))
            }
            option += 1
        }
        return result
    }
}
