import Crypto
import Foundation
import Shared
import TestSupport
import Testing
import Worker

/// Key rotation is safe in any order an operator may try: `mcpgw credentials rotate-key` checks
/// that every live worker holds the new key (each reports its key ids and fingerprints at start)
/// and refuses otherwise, so nothing is re-sealed under a key a running worker cannot open.
@Suite struct KeyRotationTests {
    static let oldKey = SymmetricKey(size: .bits256)
    static let newKey = SymmetricKey(size: .bits256)
    /// What the operator runs `rotate-key` with: the new key current, the old one previous.
    static let rotation = CredentialKeyring(currentKeyID: "k2", currentKey: newKey, previousKeys: ["k1": oldKey])

    static func lacking(_ gateway: GatewayHarness) async throws -> [String] {
        try await CredentialStore.liveWorkersLacking(
            keyID: "k2", fingerprint: try #require(rotation.fingerprint(of: "k2")), database: gateway.database
        ).map(\.worker)
    }

    static func run(workersHold keyring: CredentialKeyring, _ body: @Sendable (GatewayHarness) async throws -> Void) async throws {
        var options = GatewayHarness.Options(servers: [try Fixtures.stdioServer("echo")], groupGrants: [("Team", "echo")])
        options.workers = 2
        options.credentialKeyring = keyring
        try await GatewayHarness.run(options, body)
    }

    @Test func rotationIsRefusedWhileALiveWorkerLacksTheNewKey() async throws {
        try await Self.run(workersHold: CredentialKeyring(currentKeyID: "k1", currentKey: Self.oldKey)) { gateway in
            let lacking = try await Self.lacking(gateway)
            #expect(lacking == ["e2e-worker-0", "e2e-worker-1"])
        }
    }

    @Test func rotationIsAllowedOnceEveryWorkerHoldsTheNewKeyAsAPreviousOne() async throws {
        let staged = CredentialKeyring(currentKeyID: "k1", currentKey: Self.oldKey, previousKeys: ["k2": Self.newKey])
        try await Self.run(workersHold: staged) { gateway in
            let lacking = try await Self.lacking(gateway)
            #expect(lacking.isEmpty)
        }
    }

    @Test func aDifferentKeyUnderTheSameIdDoesNotCount() async throws {
        let impostor = CredentialKeyring(currentKeyID: "k1", currentKey: Self.oldKey, previousKeys: ["k2": SymmetricKey(size: .bits256)])
        try await Self.run(workersHold: impostor) { gateway in
            let lacking = try await Self.lacking(gateway)
            #expect(lacking.count == 2)
        }
    }

    @Test func aFingerprintNamesTheKeyWithoutRevealingIt() throws {
        let fingerprint = try #require(Self.rotation.fingerprint(of: "k2"))
        #expect(fingerprint.count == 16)
        #expect(fingerprint == CredentialKeyring(currentKeyID: "k2", currentKey: Self.newKey).fingerprint(of: "k2"))
        #expect(fingerprint != Self.rotation.fingerprint(of: "k1"))
        #expect(Self.rotation.fingerprint(of: "k9") == nil)
    }
}
