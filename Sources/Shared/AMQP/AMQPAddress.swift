/// One broker address (`host:port`). A cluster has several (`AMQP_ADDRESSES`).
public struct AMQPAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `host:port`, with an IPv6 host in brackets.
    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    static let accepted = "comma-separated host:port entries (rabbit-1:5672,rabbit-2:5672; IPv6 as [::1]:5672; the port defaults to the URL's scheme's)"

    /// Parses `AMQP_ADDRESSES`: `host[:port]` entries separated by commas; blanks are dropped.
    static func list(_ raw: String, defaultPort: Int, variable: String) throws(ConfigurationError) -> [AMQPAddress] {
        var addresses: [AMQPAddress] = []
        for entry in raw.split(separator: ",", omittingEmptySubsequences: false) {
            let trimmed = String(entry.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
            if trimmed.isEmpty { continue }
            guard let address = parse(trimmed, defaultPort: defaultPort) else {
                throw ConfigurationError(variable: variable, reason: "has a bad entry '\(trimmed)' (expected \(accepted))")
            }
            addresses.append(address)
        }
        guard !addresses.isEmpty else {
            throw ConfigurationError(variable: variable, reason: "has no address (expected \(accepted))")
        }
        return addresses
    }

    private static func parse(_ entry: String, defaultPort: Int) -> AMQPAddress? {
        let host: Substring
        var portText: Substring?
        if entry.hasPrefix("[") {
            guard let close = entry.firstIndex(of: "]") else { return nil }
            host = entry[entry.index(after: entry.startIndex)..<close]
            let rest = entry[entry.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { return nil }
                portText = rest.dropFirst()
            }
            guard !host.isEmpty, host.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else { return nil }
        } else {
            let parts = entry.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            host = parts[0]
            portText = parts.count == 2 ? parts[1] : nil
            let allowed = host.allSatisfy { ($0.isASCII && ($0.isLetter || $0.isNumber)) || $0 == "-" || $0 == "." || $0 == "_" }
            guard !host.isEmpty, allowed, !host.hasPrefix("."), !host.hasPrefix("-") else { return nil }
        }
        var port = defaultPort
        if let portText {
            guard !portText.isEmpty, portText.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(portText), (1...65535).contains(value) else { return nil }
            port = value
        }
        return AMQPAddress(host: String(host), port: port)
    }
}

/// The order in which the connection thread tries a cluster's addresses.
///
/// Each (re)connect uses ``current``. A failed attempt, or a lost connection, moves to the next
/// address at once; only when a whole round of addresses has failed in a row does the caller
/// back off (``failed()`` returns the number of such rounds, for the backoff's exponent). A
/// connection that comes up ends the streak. With one address this is the plain backoff loop.
struct AMQPAddressRotation: Sendable, Equatable {
    let addresses: [AMQPAddress]
    /// Index of the address the next attempt uses, or the connection is using.
    private(set) var index = 0
    private(set) var failuresInRound = 0
    private(set) var failedRounds = 0

    init(_ addresses: [AMQPAddress]) {
        precondition(!addresses.isEmpty, "an AMQP configuration has at least one address")
        self.addresses = addresses
    }

    var current: AMQPAddress { addresses[index] }

    mutating func connected() {
        failuresInRound = 0
        failedRounds = 0
    }

    /// The current address failed (or its connection was lost): moves to the next one. Returns
    /// the count of full rounds failed in a row when this failure ends a round, else `nil`
    /// (try the next address now).
    mutating func failed() -> Int? {
        index = (index + 1) % addresses.count
        failuresInRound += 1
        guard failuresInRound >= addresses.count else { return nil }
        failuresInRound = 0
        failedRounds += 1
        return failedRounds
    }
}
