import Crypto
import Foundation
import Shared
import TestSupport
import Testing
import Worker

/// The credentials key: sealing, and the clear start-up errors of a wrong or missing key.
@Suite struct CredentialKeyTests {
    static let keyA = Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
    static let keyB = Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()

    @Test func aSealedValueOpensOnlyWithItsKeyAndInItsOwnRow() throws {
        let keyring = try CredentialKeyring(environment: EnvironmentReader(["CREDENTIALS_KEY": Self.keyA]))
        let (keyID, sealed) = try keyring.seal(Array("s3cret".utf8), context: "row-1")
        #expect(keyID == "k1")
        #expect(!String(decoding: sealed, as: UTF8.self).contains("s3cret"))
        #expect(try keyring.open(sealed, keyID: keyID, context: "row-1") == Array("s3cret".utf8))
        #expect(throws: CredentialSealError(.openFailed, keyID: "k1")) { try keyring.open(sealed, keyID: keyID, context: "row-2") }
        let other = try CredentialKeyring(environment: EnvironmentReader(["CREDENTIALS_KEY": Self.keyB]))
        #expect(throws: CredentialSealError(.openFailed, keyID: "k1")) { try other.open(sealed, keyID: keyID, context: "row-1") }
        #expect(throws: CredentialSealError(.unknownKey, keyID: "k0")) { try keyring.open(sealed, keyID: "k0", context: "row-1") }
    }

    static let malformed: [([String: String], String)] = [
        ([:], "CREDENTIALS_KEY"), (["CREDENTIALS_KEY": "c2hvcnQ="], "CREDENTIALS_KEY"), (["CREDENTIALS_KEY": "not base64 !"], "CREDENTIALS_KEY"),
        (["CREDENTIALS_KEY": keyA, "CREDENTIALS_KEY_ID": "bad id"], "CREDENTIALS_KEY_ID"),
        (["CREDENTIALS_KEY": keyA, "CREDENTIALS_KEYS_PREVIOUS": "nocolon"], "CREDENTIALS_KEYS_PREVIOUS"),
    ]

    @Test(arguments: CredentialKeyTests.malformed)
    func aMissingOrMalformedKeyNamesTheVariable(environment: [String: String], variable: String) {
        let error = #expect(throws: ConfigurationError.self) { _ = try CredentialKeyring(environment: EnvironmentReader(environment)) }
        #expect(error?.variable == variable)
        #expect(error.map { !"\($0)".contains(Self.keyA) } == true)
    }

    /// The real start-up path of `mcp-worker`, against a schema of the test's own.
    static func workerEnvironment(_ database: PostgresTestDatabase, key: String?, keyID: String = "k1") -> [String: String] {
        var environment = [
            "DATABASE_URL": "\(database.databaseURL)?options=-c%20search_path%3D\(database.schema)",
            "AMQP_URL": "amqp://guest:guest@127.0.0.1:1/%2f",
            "ENVELOPE_SIGNING_KEY": String(repeating: "ab", count: 32),
            "WORKER_HEALTH_PORT": "0",
            "CREDENTIALS_KEY_ID": keyID,
        ]
        environment["CREDENTIALS_KEY"] = key
        return environment
    }

    static func startUpError(_ environment: [String: String]) async -> (any Error)? {
        do {
            try await WorkerServer.run(environment: EnvironmentReader(environment))
            return nil
        } catch {
            return error
        }
    }

    @Test func aWorkerWithoutAKeyDoesNotStart() async throws {
        try await PostgresTestDatabase.withSchema { database in
            let error = await Self.startUpError(Self.workerEnvironment(database, key: nil))
            #expect((error as? ConfigurationError)?.variable == "CREDENTIALS_KEY", "\(String(describing: error))")
        }
    }

    @Test func aWorkerWithTheWrongKeyDoesNotStart() async throws {
        try await PostgresTestDatabase.withSchema { database in
            try await database.withClient { client in
                _ = try await Migrator(client: client, migrations: try Migration.bundled(), logger: PostgresTestDatabase.logger).migrate()
                let right = try CredentialKeyring(environment: EnvironmentReader(["CREDENTIALS_KEY": Self.keyA]))
                try await CredentialStore(database: client, keyring: right).verifyKeys()
            }
            let error = await Self.startUpError(Self.workerEnvironment(database, key: Self.keyB))
            let configuration = try #require(error as? ConfigurationError, "\(String(describing: error))")
            #expect(configuration.variable == "CREDENTIALS_KEY")
            #expect("\(configuration)".contains("'k1'") && "\(configuration)".contains("not the key"))
            #expect(!"\(configuration)".contains(Self.keyB))
        }
    }

    @Test func credentialsSealedUnderAnUnconfiguredKeyIdStopTheWorker() async throws {
        try await PostgresTestDatabase.withSchema { database in
            try await database.withClient { client in
                _ = try await Migrator(client: client, migrations: try Migration.bundled(), logger: PostgresTestDatabase.logger).migrate()
                try await ServerCatalog(database: client).upsert(ServerRecord(id: "github", displayName: "GitHub", transport: .streamableHTTP, url: "http://127.0.0.1:1/mcp"))
                let old = try CredentialKeyring(environment: EnvironmentReader(["CREDENTIALS_KEY": Self.keyA, "CREDENTIALS_KEY_ID": "k0"]))
                try await CredentialStore(database: client, keyring: old).set(
                    tenant: "default", server: "github", target: .header, name: "Authorization", value: Array("Bearer x".utf8))
            }
            let error = await Self.startUpError(Self.workerEnvironment(database, key: Self.keyB, keyID: "k1"))
            let configuration = try #require(error as? ConfigurationError, "\(String(describing: error))")
            #expect(configuration.variable == "CREDENTIALS_KEYS_PREVIOUS")
            #expect("\(configuration)".contains("'k0'"))
        }
    }

    @Test func rotatingTheKeyReSealsEveryValueUnderTheNewKey() async throws {
        try await PostgresTestDatabase.withSchema { database in
            try await database.withClient { client in
                _ = try await Migrator(client: client, migrations: try Migration.bundled(), logger: PostgresTestDatabase.logger).migrate()
                try await ServerCatalog(database: client).upsert(ServerRecord(id: "github", displayName: "GitHub", transport: .streamableHTTP, url: "http://127.0.0.1:1/mcp"))
                let old = try CredentialKeyring(environment: EnvironmentReader(["CREDENTIALS_KEY": Self.keyA, "CREDENTIALS_KEY_ID": "k0"]))
                try await CredentialStore(database: client, keyring: old).set(
                    tenant: "default", server: "github", target: .header, name: "Authorization", value: Array("Bearer rotate-me".utf8))
                let rotated = try CredentialKeyring(
                    environment: EnvironmentReader(["CREDENTIALS_KEY": Self.keyB, "CREDENTIALS_KEY_ID": "k1", "CREDENTIALS_KEYS_PREVIOUS": "k0:\(Self.keyA)"]))
                let store = CredentialStore(database: client, keyring: rotated)
                #expect(try await store.resealUnderCurrentKey() == 1)
                #expect(try await store.list().map(\.keyID) == ["k1"])
                // Only the new key is needed now.
                let newOnly = try CredentialKeyring(environment: EnvironmentReader(["CREDENTIALS_KEY": Self.keyB, "CREDENTIALS_KEY_ID": "k1"]))
                let opened = try await CredentialStore(database: client, keyring: newOnly).resolve(tenant: "default", server: "github")
                #expect(opened?.headers["Authorization"] == "Bearer rotate-me")
                #expect(opened?.source == .tenant("default"))
            }
        }
    }
}
