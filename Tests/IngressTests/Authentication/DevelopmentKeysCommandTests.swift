import AsyncHTTPClient
import Foundation
import Ingress
import Shared
import Testing

/// `mcpgw dev-keys` and `mcpgw dev-token`, run as the built executable: the token it prints
/// verifies against the JWKS it wrote, through `AUTH_JWKS_URL=file://...`.
@Suite("mcpgw dev-keys and dev-token")
struct DevelopmentKeysCommandTests {
    /// `mcpgw` sits next to the test bundle in the build directory.
    private static func mcpgw() throws -> URL {
        let buildDirectory = try #require(Bundle.main.executableURL).deletingLastPathComponent()
        let executable = buildDirectory.appending(path: "mcpgw")
        try #require(
            FileManager.default.isExecutableFile(atPath: executable.path),
            "\(executable.path) is missing: build every product first (swift build --build-tests)"
        )
        return executable
    }

    private static func run(_ arguments: [String]) throws -> (status: Int32, output: String, error: String) {
        let process = Process()
        process.executableURL = try mcpgw()
        process.arguments = arguments
        let output = Pipe()
        let error = Pipe()
        process.standardOutput = output
        process.standardError = error
        try process.run()
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = error.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: outputData, as: UTF8.self), String(decoding: errorData, as: UTF8.self))
    }

    private static func temporaryDirectory() -> URL {
        FileManager.default.temporaryDirectory.appending(path: "mcpgw-dev-keys-\(UUID().uuidString)")
    }

    @Test func devTokenVerifiesAgainstTheJWKSThatDevKeysWrote() async throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }

        let keys = try Self.run(["dev-keys", "--dir", directory.path])
        #expect(keys.status == 0, "\(keys.error)")
        let privateKey = directory.appending(path: "jwt-private.pem")
        let permissions = try FileManager.default.attributesOfItem(atPath: privateKey.path)[.posixPermissions] as? Int
        #expect(permissions == 0o600)

        let minted = try Self.run([
            "dev-token", "--dir", directory.path, "--subject", "alice", "--tenant", "tenant-google",
            "--groups", "MCP-GitHub,Tenant-Google", "--roles", "Reader", "--issuer", "mcpgw-dev", "--audience", "mcp-gateway", "--ttl", "3600",
        ])
        #expect(minted.status == 0, "\(minted.error)")
        let token = minted.output.trimmingCharacters(in: .whitespacesAndNewlines)

        let configuration = try AuthenticationConfiguration(
            environment: EnvironmentReader([
                "AUTH_JWKS_URL": directory.appending(path: "jwks.json").absoluteString,
                "AUTH_ISSUER": "mcpgw-dev",
                "AUTH_AUDIENCE": "mcp-gateway",
            ])
        )
        let cache = JWKSCache(configuration: configuration, httpClient: .shared, logger: JWKSTestServer.quietLogger)
        let principal = try await TokenVerifier(configuration: configuration, keys: cache).verify(token: token)
        #expect(principal.subject == "alice")
        #expect(principal.tenantID == "tenant-google")
        #expect(principal.groups == ["MCP-GitHub", "Tenant-Google"])
        #expect(principal.roles == ["Reader"])
        #expect(principal.authenticationMethod == .localDev)
        #expect(principal.objectID != nil)
    }

    @Test func devKeysKeepsAnExistingKey() throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect(try Self.run(["dev-keys", "--dir", directory.path]).status == 0)
        let first = try Data(contentsOf: directory.appending(path: "jwt-private.pem"))
        let jwks = try Data(contentsOf: directory.appending(path: "jwks.json"))
        let again = try Self.run(["dev-keys", "--dir", directory.path])
        #expect(again.status == 0)
        #expect(again.output.contains("existing"))
        #expect(try Data(contentsOf: directory.appending(path: "jwt-private.pem")) == first)
        #expect(try Data(contentsOf: directory.appending(path: "jwks.json")) == jwks)
    }

    @Test func devTokenWithoutKeysSaysWhatToRun() throws {
        let directory = Self.temporaryDirectory()
        let result = try Self.run(["dev-token", "--dir", directory.path, "--subject", "alice"])
        #expect(result.status != 0)
        #expect(result.error.contains("mcpgw dev-keys --dir"))
    }
}
