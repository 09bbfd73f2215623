import Testing

@testable import Shared

/// `AMQP_ADDRESSES` and the order in which a connection tries a cluster's nodes (no broker needed).
@Suite struct AMQPAddressTests {
    private func configuration(_ variables: [String: String]) throws -> AMQPConfiguration {
        try AMQPConfiguration(environment: EnvironmentReader(variables), connectionName: "t")
    }

    @Test func withoutAddressesTheURLsHostIsTheOnlyOne() throws {
        let configuration = try configuration(["AMQP_URL": "amqp://u:p@broker.internal:5673/prod"])
        #expect(configuration.addresses == [AMQPAddress(host: "broker.internal", port: 5673)])
    }

    @Test func addressesReplaceTheURLsHostAndKeepItsCredentialsAndVhost() throws {
        let configuration = try configuration([
            "AMQP_URL": "amqp://u:p%40ss@ignored:1/prod", "AMQP_ADDRESSES": " rabbit-1:5672, rabbit-2 ,10.0.0.3:5674,[::1]:5675,",
        ])
        #expect(
            configuration.addresses == [
                AMQPAddress(host: "rabbit-1", port: 5672), AMQPAddress(host: "rabbit-2", port: 5672), AMQPAddress(host: "10.0.0.3", port: 5674),
                AMQPAddress(host: "::1", port: 5675),
            ]
        )
        #expect(configuration.user == "u" && configuration.password == "p@ss" && configuration.virtualHost == "prod")
        #expect(configuration.host == "rabbit-1")
        #expect(configuration.redactedURL == "amqp://u:***@rabbit-1:5672,rabbit-2:5672,10.0.0.3:5674,[::1]:5675/prod")
    }

    @Test func amqpsAddressesDefaultTo5671() throws {
        let configuration = try configuration(["AMQP_URL": "amqps://broker.example.com", "AMQP_ADDRESSES": "a.example.com,b.example.com:6000"])
        #expect(configuration.addresses == [AMQPAddress(host: "a.example.com", port: 5671), AMQPAddress(host: "b.example.com", port: 6000)])
        #expect(configuration.tls != nil)
    }

    @Test(arguments: [
        ",", "host:", "host:0", "host:65536", "host:56x", "host:1:2", "amqp://host:5672", "user@host:5672", "-host:5672", "[::1", "[::1]5672",
        "[]:5672", "a b:5672", "rabbit-1:5672,,bad/host",
    ])
    func badAddressesNameTheVariableAndWhatIsAccepted(addresses: String) {
        let error = #expect(throws: ConfigurationError.self) {
            try configuration(["AMQP_URL": "amqp://h", "AMQP_ADDRESSES": addresses])
        }
        #expect(error?.variable == "AMQP_ADDRESSES")
        #expect(error?.reason.contains("host:port") == true)
    }

    @Test func rotationMovesOnAtOnceAndBacksOffOnlyAfterAFullRound() {
        let addresses = (1...3).map { AMQPAddress(host: "127.0.0.1", port: 5000 + $0) }
        var rotation = AMQPAddressRotation(addresses)
        #expect(rotation.current.port == 5001)
        // Node 1 fails: try 2 and then 3 at once; the third failure in a row ends a round.
        #expect(rotation.failed() == nil)
        #expect(rotation.current.port == 5002)
        #expect(rotation.failed() == nil)
        #expect(rotation.current.port == 5003)
        #expect(rotation.failed() == 1)
        #expect(rotation.current.port == 5001)
        // A second failed round backs off longer.
        #expect(rotation.failed() == nil)
        #expect(rotation.failed() == nil)
        #expect(rotation.failed() == 2)
        // Connected to node 1, the streak ends; losing it moves to node 2 at once.
        rotation.connected()
        #expect(rotation.failed() == nil)
        #expect(rotation.current.port == 5002)
        rotation.connected()
        // Lost on node 2: node 3 next, then node 1 (the one after the last used), then back off.
        #expect(rotation.failed() == nil)
        #expect(rotation.current.port == 5003)
        #expect(rotation.failed() == nil)
        #expect(rotation.current.port == 5001)
        #expect(rotation.failed() == 1)
        #expect(rotation.current.port == 5002)
    }

    @Test func oneAddressBacksOffAfterEveryFailure() {
        var rotation = AMQPAddressRotation([AMQPAddress(host: "h", port: 1)])
        #expect(rotation.failed() == 1)
        #expect(rotation.failed() == 2)
        rotation.connected()
        #expect(rotation.failed() == 1)
        #expect(rotation.current == AMQPAddress(host: "h", port: 1))
    }
}
