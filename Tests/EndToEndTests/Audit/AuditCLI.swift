import Audit
import Crypto
import Foundation
import Shared
import TestSupport
import Testing

/// Runs `mcpgw` as an operator would, against a gateway harness's own stream, queues and schema.
struct AuditCLI: Sendable {
    struct Run: Sendable {
        var status: Int32
        var output: String
        var error: String

        /// The output's lines that are JSON objects, parsed.
        var objects: [JSONValue] {
            output.split(separator: "\n").compactMap { try? JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)) }
        }
    }

    var environment: [String: String]

    init(_ gateway: GatewayHarness) throws {
        let configuration = gateway.databaseConfiguration
        var databaseURL = configuration.connectionString
        if let options = configuration.parameterOverrides["options"] {
            databaseURL += (databaseURL.contains("?") ? "&" : "?") + "options=" + (options.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? options)
        }
        environment = [
            "AMQP_URL": try TestEnvironment.require("AMQP_URL"),
            "AMQP_AUDIT_STREAM": gateway.topology.auditStream,
            "AMQP_DEAD_LETTER_QUEUE": gateway.topology.deadLetterQueue,
            "AMQP_REQUESTS_EXCHANGE": gateway.topology.requestsExchange,
            "DATABASE_URL": databaseURL,
            "ENVELOPE_SIGNING_KEY": gateway.signingKey.withUnsafeBytes { Data($0) }.base64EncodedString(),
            "ENVELOPE_SIGNING_KEY_ID": "e2e",
        ]
    }

    init(environment: [String: String]) {
        self.environment = environment
    }

    func callAsFunction(_ arguments: String..., extra: [String: String] = [:]) throws -> Run {
        try run(arguments, extra: extra)
    }

    func run(_ arguments: [String], extra: [String: String] = [:]) throws -> Run {
        let process = Process()
        process.executableURL = try AdminCLITests.mcpgw()
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        for name in environment.keys where name.hasPrefix("AMQP_") || name.hasPrefix("ENVELOPE_") || name.hasPrefix("PG") { environment[name] = nil }
        environment.merge(self.environment) { _, new in new }
        environment.merge(extra) { _, new in new }
        process.environment = environment
        let output = Pipe(), error = Pipe()
        process.standardOutput = output
        process.standardError = error
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // stderr carries a few lines at most, so reading stdout first cannot block the process.
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = error.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, output: String(decoding: outputData, as: UTF8.self), error: String(decoding: errorData, as: UTF8.self))
    }
}
