import Foundation
import Testing
import TestSupport

@testable import Shared

/// `amqps://` against a broker node of the test's own with a TLS listener and a certificate
/// chain made by the test (openssl): verified connections work, unverifiable ones are refused.
@Suite struct AMQPTLSTests {
    @Test func verifiedTLSConnectionWorksAndUnverifiablePeersAreRefused() async throws {
        let certificates = try await TestCertificates.make()
        let tlsPort = try TestEnvironment.freePort()
        let node = BrokerNode(name: "tls-\(UUID().uuidString.prefix(8).lowercased())", port: try TestEnvironment.freePort(alsoFreeAt: 10_000))
        let environment = ["MCPGW_RABBITMQ_TLS_PORT": "\(tlsPort)", "MCPGW_RABBITMQ_TLS_DIR": certificates.path]
        let started = try await ScriptRunner.run(try ScriptRunner.requireScript("rabbitmq-node.sh"), ["start", node.name, "\(node.port)"], environment: environment)
        try #require(started.succeeded, "\(started)")
        do {
            // Verified: our CA, the name the certificate carries.
            var verified = try AMQPTest.configuration(url: "amqps://guest:guest@localhost:\(tlsPort)/%2f")
            verified.tls?.caFile = certificates.appendingPathComponent("ca.pem").path
            try await AMQPTest.withConnection(verified) { amqp in
                try await amqp.publish(Array("over tls".utf8), exchange: "", routingKey: AMQPConnection.directReplyTo, mandatory: false)
            }

            // Unverifiable: the system store does not know our CA.
            var unknownCA = try AMQPTest.configuration(url: "amqps://guest:guest@localhost:\(tlsPort)/%2f")
            unknownCA.reconnectMaximum = .milliseconds(200)
            let refused = AMQPConnection(configuration: unknownCA, logger: TestEnvironment.logger)
            async let running: Void = refused.run()
            await #expect(throws: AMQPError.self) { try await refused.waitUntilConnected(timeout: .seconds(5)) }
            #expect(refused.status.lastError?.contains("tls") == true || refused.status.lastError?.contains("TLS") == true || refused.status.lastError?.contains("SSL") == true)
            await refused.close()
            await running
        } catch {
            await node.destroy()
            throw error
        }
        await node.destroy()
        try? FileManager.default.removeItem(at: certificates)
    }
}

/// A CA and a server certificate for `localhost`, made with the openssl command line.
enum TestCertificates {
    static func make() async throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("amqp-tls-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let script = """
            set -e
            cd '\(directory.path)'
            openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj '/CN=mcpgw test CA' -keyout ca.key -out ca.pem
            openssl req -newkey rsa:2048 -nodes -subj '/CN=localhost' -keyout server.key -out server.csr
            printf 'subjectAltName=DNS:localhost\\nbasicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n' > ext.cnf
            openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile ext.cnf -out server.pem
            chmod 644 server.key ca.pem server.pem
            """
        let scriptFile = directory.appendingPathComponent("make.sh")
        try script.write(to: scriptFile, atomically: true, encoding: .utf8)
        let result = try await ScriptRunner.run(scriptFile.path, [])
        try #require(result.succeeded, "\(result)")
        return directory
    }
}
