import Crypto
import Foundation
import Testing

@testable import Shared

extension ContractTests {
    @Suite struct EnvelopeSigningConfigurationTests {
        static let key32Base64 = Data(repeating: 0x11, count: 32).base64EncodedString()
        static let key32Hex = String(repeating: "11", count: 32)
        static let key48Base64URL = Data((0..<48).map { UInt8($0 * 5) }).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")

        @Test(arguments: [
            (key32Base64, 32),
            (key32Base64 + "\n", 32),  // mounted secret with a trailing newline
            (key32Hex, 32),
            (key32Hex.uppercased(), 32),
            (key48Base64URL, 48),
            (String(key32Base64.dropLast()), 32),  // padding optional
        ])
        func keyIsReadAsBase64OrHex(raw: String, bytes: Int) throws {
            let configuration = try EnvelopeSigningConfiguration(environment: EnvironmentReader(["ENVELOPE_SIGNING_KEY": raw]))
            #expect(configuration.currentKey.bitCount == bytes * 8)
            #expect(configuration.currentKeyID == "default")
            #expect(configuration.previousKeys.isEmpty)
        }

        @Test func hexAndBase64OfTheSameBytesGiveTheSameKey() throws {
            let hex = try EnvelopeSigningConfiguration(environment: EnvironmentReader(["ENVELOPE_SIGNING_KEY": Self.key32Hex]))
            let base64 = try EnvelopeSigningConfiguration(environment: EnvironmentReader(["ENVELOPE_SIGNING_KEY": Self.key32Base64]))
            #expect(hex.currentKey == base64.currentKey)
        }

        @Test(arguments: [
            ([:], ConfigurationError(variable: "ENVELOPE_SIGNING_KEY", reason: "is required but not set")),
            (
                ["ENVELOPE_SIGNING_KEY": Data(repeating: 1, count: 16).base64EncodedString()],
                ConfigurationError(variable: "ENVELOPE_SIGNING_KEY", reason: "the key must decode to at least 32 bytes, got 16")
            ),
            (
                ["ENVELOPE_SIGNING_KEY": String(repeating: "ab", count: 31)],
                ConfigurationError(variable: "ENVELOPE_SIGNING_KEY", reason: "the key must decode to at least 32 bytes, got 31")
            ),
            (
                ["ENVELOPE_SIGNING_KEY": "this is not base64 at all!!"],
                ConfigurationError(variable: "ENVELOPE_SIGNING_KEY", reason: "the key must be base64 or hex")
            ),
            (
                ["ENVELOPE_SIGNING_KEY": key32Base64, "ENVELOPE_SIGNING_KEY_ID": "has space"],
                ConfigurationError(
                    variable: "ENVELOPE_SIGNING_KEY_ID",
                    reason: "must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' or '-'"
                )
            ),
            (
                ["ENVELOPE_SIGNING_KEY": key32Base64, "ENVELOPE_SIGNING_KEYS_PREVIOUS": key32Base64],
                ConfigurationError(variable: "ENVELOPE_SIGNING_KEYS_PREVIOUS", reason: "entry 1 must be id:key")
            ),
            (
                ["ENVELOPE_SIGNING_KEY": key32Base64, "ENVELOPE_SIGNING_KEYS_PREVIOUS": "k1:\(key32Hex),k0:c2hvcnQ="],
                ConfigurationError(
                    variable: "ENVELOPE_SIGNING_KEYS_PREVIOUS",
                    reason: "the key of 'k0' must decode to at least 32 bytes, got 5"
                )
            ),
            (
                ["ENVELOPE_SIGNING_KEY": key32Base64, "ENVELOPE_SIGNING_KEYS_PREVIOUS": "k1:%%%"],
                ConfigurationError(variable: "ENVELOPE_SIGNING_KEYS_PREVIOUS", reason: "the key of 'k1' must be base64 or hex")
            ),
            (
                ["ENVELOPE_SIGNING_KEY": key32Base64, "ENVELOPE_SIGNING_KEYS_PREVIOUS": "bad id:\(key32Hex)"],
                ConfigurationError(
                    variable: "ENVELOPE_SIGNING_KEYS_PREVIOUS",
                    reason: "entry 1 has an invalid key id; ids are 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' or '-'"
                )
            ),
            (
                ["ENVELOPE_SIGNING_KEY": key32Base64, "ENVELOPE_SIGNING_KEY_ID": "k2", "ENVELOPE_SIGNING_KEYS_PREVIOUS": "k2:\(key32Hex)"],
                ConfigurationError(variable: "ENVELOPE_SIGNING_KEYS_PREVIOUS", reason: "key id 'k2' is given more than once")
            ),
        ])
        func misconfigurationNamesTheVariable(environment: [String: String], expected: ConfigurationError) {
            #expect(throws: expected) { try EnvelopeSigningConfiguration(environment: EnvironmentReader(environment)) }
        }

        @Test func errorsNeverRepeatKeyMaterial() {
            let secret = "c2VjcmV0LXNob3J0LWtleQ"  // 16 bytes, too short
            let error = #expect(throws: ConfigurationError.self) {
                try EnvelopeSigningConfiguration(environment: EnvironmentReader(["ENVELOPE_SIGNING_KEY": secret]))
            }
            #expect(error?.description.contains(secret) == false)
        }

        @Test func rotationConfigurationSignsWithCurrentAndVerifiesPrevious() throws {
            let old = Data(repeating: 0x22, count: 32)
            let environment = EnvironmentReader([
                "ENVELOPE_SIGNING_KEY": Self.key32Base64,
                "ENVELOPE_SIGNING_KEY_ID": "2026-02",
                "ENVELOPE_SIGNING_KEYS_PREVIOUS": " 2026-01:\(old.base64EncodedString()) , 2025-12:\(String(repeating: "33", count: 32))",
            ])
            let configuration = try EnvelopeSigningConfiguration(environment: environment)
            #expect(configuration.currentKeyID == "2026-02")
            #expect(Set(configuration.previousKeys.keys) == ["2026-01", "2025-12"])
            #expect(!configuration.description.contains(Self.key32Base64))

            let signer = try EnvelopeSigner(environment: environment)
            let body = Array("{}".utf8)
            #expect(signer.sign(body: body).keyID == "2026-02")
            let oldSignature = Data(HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: old))).base64EncodedString()
            try signer.verify(body: body, keyID: "2026-01", signature: oldSignature)
            #expect(throws: EnvelopeError.badSignature) { try signer.verify(body: body, keyID: "2025-12", signature: oldSignature) }
        }
    }
}
