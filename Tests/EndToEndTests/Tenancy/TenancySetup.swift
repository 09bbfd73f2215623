import Crypto
import Foundation
import Shared
import TestSupport
import Testing
import Worker

/// Shared setup of the tenancy tests: the seed's two customer tenants, a credentials key, and
/// catalog entries for fixture servers.
enum TenancySetup {
    static func keyring(id: String = "test-k1") -> CredentialKeyring {
        CredentialKeyring(currentKeyID: id, currentKey: SymmetricKey(size: .bits256))
    }

    /// Tenants `google` and `acmecorp`, whose people are the groups `Tenant-Google` and `Tenant-AcmeCorp`.
    static func customerTenants(_ gateway: GatewayHarness) async throws {
        try await gateway.grants.upsertTenant(id: "google", displayName: "Google")
        try await gateway.grants.upsertTenant(id: "acmecorp", displayName: "AcmeCorp")
        try await gateway.grants.assignGroup("Tenant-Google", toTenant: "google")
        try await gateway.grants.assignGroup("Tenant-AcmeCorp", toTenant: "acmecorp")
    }

    /// The catalog entry for a fixture server as `id`.
    static func record(_ fixture: FixtureServer, id: String, credentialRequired: Bool = false) -> ServerRecord {
        var record: ServerRecord
        switch fixture.definition().transport {
        case .stdio(let command, let arguments, _):
            record = ServerRecord(id: id, displayName: id, transport: .stdio, command: command, arguments: arguments)
        case .sse(let url):
            record = ServerRecord(id: id, displayName: id, transport: .sse, url: url.absoluteString)
        case .streamableHTTP(let url):
            record = ServerRecord(id: id, displayName: id, transport: .streamableHTTP, url: url.absoluteString)
        }
        record.credentialRequired = credentialRequired
        record.timeoutMilliseconds = 30_000
        return record
    }

    /// Runs `body` with the fixture started, and stops it afterwards (also on failure).
    static func with(_ fixture: FixtureServer, _ body: () async throws -> Void) async throws {
        try await fixture.start()
        do {
            try await body()
        } catch {
            await fixture.stop()
            throw error
        }
        await fixture.stop()
    }

    /// The SHA-256 hex fingerprint the fixture's `show_credential` reports for a value.
    static func fingerprint(_ value: String) -> String {
        SHA256.hash(data: Data(value.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// The fingerprint of what the fixture's `show_credential` saw: the Authorization header
    /// over HTTP, FIXTURE_CREDENTIAL over stdio.
    static func credentialSeen(_ answer: GatewayHarness.Answer) -> String? {
        let seen = answer.body["structuredContent"]
        return seen?["authorization"]?.stringValue ?? seen?["env"]?.stringValue
    }
}

extension CredentialStore {
    /// Sets the credential the fixture's `show_credential` reports: a bearer token over HTTP,
    /// `FIXTURE_CREDENTIAL` over stdio.
    func setFixtureCredential(tenant: String, server: ServerRecord, secret: String) async throws {
        if server.transport == .stdio {
            try await set(tenant: tenant, server: server.id, target: .env, name: "FIXTURE_CREDENTIAL", value: Array(secret.utf8))
        } else {
            try await set(tenant: tenant, server: server.id, target: .header, name: "Authorization", value: Array("Bearer \(secret)".utf8))
        }
    }
}

extension FixtureTransport {
    /// What the fixture reports for a secret under this transport.
    func seen(_ secret: String) -> String {
        TenancySetup.fingerprint(self == .stdio ? secret : "Bearer \(secret)")
    }
}
