import Foundation
import Shared
import TestSupport
import Testing
import Worker

/// Each tenant reaches its backends with its own credential, sealed at rest; no credential means
/// a clear refusal, and the platform's key is used only where a share says so.
@Suite struct TenantCredentialTests {
    /// A gateway with the fixture server as `github` (credential required) over `transport`, the
    /// customer tenants, and a credentials keyring.
    static func withCredentialGateway(
        _ transport: FixtureTransport, _ body: @escaping @Sendable (GatewayHarness, ServerRecord, CredentialKeyring) async throws -> Void
    ) async throws {
        let fixture = try FixtureServer(transport)
        let server = TenancySetup.record(fixture, id: "github", credentialRequired: true)
        let keyring = TenancySetup.keyring()
        var options = GatewayHarness.Options(servers: [server])
        options.credentialKeyring = keyring
        try await TenancySetup.with(fixture) {
            try await GatewayHarness.run(options) { gateway in
                try await TenancySetup.customerTenants(gateway)
                try await body(gateway, server, keyring)
            }
        }
    }

    @Test(arguments: [FixtureTransport.streamableHTTP, .stdio])
    func eachTenantsCallReachesTheBackendWithItsOwnCredential(transport: FixtureTransport) async throws {
        try await Self.withCredentialGateway(transport) { gateway, server, keyring in
            try await gateway.grants.grantGroup("Tenant-Google", server: "github")
            try await gateway.grants.grantGroup("Tenant-AcmeCorp", server: "github")
            let credentials = CredentialStore(database: gateway.database, keyring: keyring)
            let googleSecret = "google-\(UUID().uuidString)"
            let acmeSecret = "acme-\(UUID().uuidString)"
            try await credentials.setFixtureCredential(tenant: "google", server: server, secret: googleSecret)
            try await credentials.setFixtureCredential(tenant: "acmecorp", server: server, secret: acmeSecret)

            let google = gateway.token(subject: "gina", groups: ["Tenant-Google"])
            let acme = gateway.token(subject: "arno", groups: ["Tenant-AcmeCorp"])
            // Alternating, so that a backend session shared across tenants would show.
            for (token, expected) in [(google, googleSecret), (acme, acmeSecret), (google, googleSecret), (acme, acmeSecret)] {
                let answer = try await gateway.post("/servers/github/tools/show_credential", token: token, json: "{}")
                #expect(answer.status == 200, "\(answer.body)")
                #expect(TenancySetup.credentialSeen(answer) == transport.seen(expected))
            }
            // Neither the reply nor an error ever carries the other tenant's secret.
            let listing = try await gateway.get("/servers/github/tools", token: acme)
            #expect(listing.status == 200)
            #expect(!"\(listing.body)".contains(googleSecret))
        }
    }

    /// A rotated credential (the tenant's key changed at the vendor) reaches the backend from the
    /// running worker without a restart, over HTTP (headers) and stdio (a new process environment).
    @Test(arguments: [FixtureTransport.streamableHTTP, .stdio])
    func aChangedCredentialReachesTheBackendFromARunningWorker(transport: FixtureTransport) async throws {
        try await Self.withCredentialGateway(transport) { gateway, server, keyring in
            try await gateway.grants.grantGroup("Tenant-Google", server: "github")
            let credentials = CredentialStore(database: gateway.database, keyring: keyring)
            let first = "first-\(UUID().uuidString)"
            let second = "second-\(UUID().uuidString)"
            try await credentials.setFixtureCredential(tenant: "google", server: server, secret: first)
            let google = gateway.token(subject: "gina", groups: ["Tenant-Google"])
            let before = try await gateway.post("/servers/github/tools/show_credential", token: google, json: "{}")
            #expect(TenancySetup.credentialSeen(before) == transport.seen(first), "\(before.body)")

            try await credentials.setFixtureCredential(tenant: "google", server: server, secret: second)
            let after = try await eventually(timeout: .seconds(10)) { () -> GatewayHarness.Answer? in
                let answer = try await gateway.post("/servers/github/tools/show_credential", token: google, json: "{}")
                return TenancySetup.credentialSeen(answer) == transport.seen(second) ? answer : nil
            }
            #expect(after.status == 200)
            // And it stays the new one: no call goes out with the old credential any more.
            for _ in 0..<3 {
                let again = try await gateway.post("/servers/github/tools/show_credential", token: google, json: "{}")
                #expect(TenancySetup.credentialSeen(again) == transport.seen(second))
            }
        }
    }

    @Test func aServerThatNeedsACredentialRefusesATenantWithoutOneAndUsesThePlatformsOnlyWhenShared() async throws {
        let fixture = try FixtureServer(.stdio)
        let server = TenancySetup.record(fixture, id: "atlassian", credentialRequired: true)
        let keyring = TenancySetup.keyring()
        var options = GatewayHarness.Options(servers: [server])
        options.credentialKeyring = keyring
        try await GatewayHarness.run(options) { gateway in
            try await TenancySetup.customerTenants(gateway)
            try await gateway.grants.grantGroup("Tenant-AcmeCorp", server: "atlassian")
            let credentials = CredentialStore(database: gateway.database, keyring: keyring)
            let platformSecret = "platform-\(UUID().uuidString)"
            try await credentials.setFixtureCredential(tenant: CredentialStore.platformTenant, server: server, secret: platformSecret)
            let acme = gateway.token(subject: "arno", groups: ["Tenant-AcmeCorp"])

            let refused = try await gateway.post("/servers/atlassian/tools/show_credential", token: acme, json: "{}")
            #expect(refused.status == 403, "\(refused.body)")
            let message = refused.body["error"]?["message"]?.stringValue ?? ""
            #expect(message.contains("needs a credential") && message.contains("acmecorp"), "\(message)")
            #expect(!"\(refused.body)".contains(platformSecret))
            #expect(try await gateway.get("/servers/atlassian/tools", token: acme).status == 403)

            // The explicit, visible share: now the platform's key is used, and says so.
            try await credentials.share(tenant: "acmecorp", server: "atlassian")
            let shared = try await eventually(timeout: .seconds(10)) { () -> GatewayHarness.Answer? in
                let answer = try await gateway.post("/servers/atlassian/tools/show_credential", token: acme, json: "{}")
                return answer.status == 200 ? answer : nil
            }
            #expect(TenancySetup.credentialSeen(shared) == TenancySetup.fingerprint(platformSecret))
            let decision = try await gateway.workers[0].components.authorizer.decide(
                Principal(subject: "arno", tenantID: "default", groups: ["Tenant-AcmeCorp"], authenticationMethod: .localDev), server: "atlassian",
                tool: "show_credential")
            #expect(decision.credential?.source == .platformSharedWith("acmecorp"))
            #expect(!decision.explanation.joined().contains(platformSecret))
        }
    }

    @Test func theDatabaseDumpHoldsNoPlaintextSecret() async throws {
        let fixture = try FixtureServer(.stdio)
        let server = TenancySetup.record(fixture, id: "notion", credentialRequired: true)
        let keyring = TenancySetup.keyring()
        var options = GatewayHarness.Options(servers: [server])
        options.credentialKeyring = keyring
        try await GatewayHarness.run(options) { gateway in
            try await TenancySetup.customerTenants(gateway)
            try await gateway.grants.grantGroup("Tenant-Google", server: "notion")
            let secret = "dump-secret-\(UUID().uuidString)"
            let credentials = CredentialStore(database: gateway.database, keyring: keyring)
            try await credentials.setFixtureCredential(tenant: "google", server: server, secret: secret)
            try await credentials.set(tenant: "google", server: "notion", target: .header, name: "X-Api-Key", value: Array(secret.utf8))
            // The secret is really in use...
            let answer = try await gateway.post("/servers/notion/tools/show_credential", token: gateway.token(groups: ["Tenant-Google"]), json: "{}")
            #expect(TenancySetup.credentialSeen(answer) == TenancySetup.fingerprint(secret))
            // ...and the dump of the schema has the sealed rows, never the plaintext.
            let dump = try Self.pgDump(gateway.databaseConfiguration)
            #expect(dump.contains("backend_credentials"))
            #expect(dump.contains("FIXTURE_CREDENTIAL"))
            #expect(!dump.contains(secret))
            #expect(!dump.contains(Data(secret.utf8).base64EncodedString()))
            #expect(!dump.contains(Data(secret.utf8).map { String(format: "%02x", $0) }.joined()))
        }
    }

    /// `pg_dump` of the test's schema (data and definitions), as text.
    static func pgDump(_ configuration: PostgresConfiguration) throws -> String {
        let options = configuration.parameterOverrides["options"] ?? ""
        let schema = try #require(options.components(separatedBy: "search_path=").last?.trimmingCharacters(in: .whitespaces))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/pg_dump")
        process.arguments = ["--dbname", configuration.connectionString, "--schema", schema, "--no-owner"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "pg_dump failed")
        return String(decoding: data, as: UTF8.self)
    }
}
