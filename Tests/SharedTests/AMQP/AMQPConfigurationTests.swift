import Testing

@testable import Shared

@Suite struct AMQPConfigurationTests {
    @Test func urlPartsAreParsed() throws {
        let configuration = try AMQPConfiguration(url: "amqp://user:p%40ss@broker.internal:5673/tenant%2Fa?heartbeat=15", connectionName: "t")
        #expect(configuration.host == "broker.internal")
        #expect(configuration.port == 5673)
        #expect(configuration.user == "user")
        #expect(configuration.password == "p@ss")
        #expect(configuration.virtualHost == "tenant/a")
        #expect(configuration.heartbeatSeconds == 15)
        #expect(configuration.tls == nil)
        #expect(!configuration.redactedURL.contains("p@ss"))
    }

    @Test(arguments: [("amqp://h", "/"), ("amqp://h/", "/"), ("amqp://h/%2f", "/"), ("amqp://h/prod", "prod")])
    func virtualHostDefaultsAndDecodes(url: String, expected: String) throws {
        #expect(try AMQPConfiguration(url: url, connectionName: "t").virtualHost == expected)
    }

    @Test func amqpsTurnsOnVerifiedTLSOnPort5671() throws {
        let configuration = try AMQPConfiguration(url: "amqps://broker.example.com", connectionName: "t")
        #expect(configuration.port == 5671)
        #expect(configuration.tls?.verifyPeer == true)
        #expect(configuration.tls?.verifyHostname == true)
    }

    @Test(arguments: ["http://h", "not a url", "amqp://", "amqp://h/a/b", "amqp://h?heartbeat=-1"])
    func badURLsNameTheVariable(url: String) {
        let error = #expect(throws: ConfigurationError.self) {
            try AMQPConfiguration(environment: EnvironmentReader(["AMQP_URL": url]), connectionName: "t")
        }
        #expect(error?.variable == "AMQP_URL")
    }

    @Test func tlsFilesComeFromTheEnvironment() throws {
        let configuration = try AMQPConfiguration(
            environment: EnvironmentReader([
                "AMQP_URL": "amqps://u:p@broker.example.com/", "AMQP_TLS_CA_FILE": "/ca.pem", "AMQP_TLS_CERT_FILE": "/c.pem",
                "AMQP_TLS_KEY_FILE": "/k.pem",
            ]),
            connectionName: "t"
        )
        #expect(configuration.tls == .init(caFile: "/ca.pem", certificateFile: "/c.pem", keyFile: "/k.pem"))
    }

    @Test func certificateWithoutKeyIsRefused() {
        let error = #expect(throws: ConfigurationError.self) {
            try AMQPConfiguration(
                environment: EnvironmentReader(["AMQP_URL": "amqps://broker.example.com", "AMQP_TLS_CERT_FILE": "/c.pem"]), connectionName: "t"
            )
        }
        #expect(error?.variable == "AMQP_TLS_CERT_FILE")
    }
}
