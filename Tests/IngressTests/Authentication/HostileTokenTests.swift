import TestSupport
import Foundation
import HTTPTypes
import Ingress
import Shared
import Testing

/// Fuzzed and truncated tokens: always a 401 with a typed error, never a crash, never a 5xx,
/// and never another identity than the untouched token's.
@Suite("Hostile token strings")
struct HostileTokenTests {
    /// SplitMix64: a fixed seed makes every run try the same strings.
    private struct SeededGenerator: RandomNumberGenerator {
        var state: UInt64

        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var value = state
            value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
            value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
            return value ^ (value >> 31)
        }
    }

    private static func mutations(of token: String, count: Int) -> [String] {
        var random = SeededGenerator(state: 0x6D63_7067_7721)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \"{}")
        let characters = Array(token)
        var results: [String] = []
        for round in 0..<count {
            var mutated = characters
            switch round % 5 {
            case 0:
                // Flip a few characters.
                for _ in 0..<Int.random(in: 1...4, using: &random) {
                    mutated[Int.random(in: 0..<mutated.count, using: &random)] = alphabet.randomElement(using: &random)!
                }
            case 1:
                // Truncate anywhere.
                mutated = Array(mutated.prefix(Int.random(in: 0..<mutated.count, using: &random)))
            case 2:
                // Random printable garbage.
                mutated = (0..<Int.random(in: 1...400, using: &random)).map { _ in alphabet.randomElement(using: &random)! }
            case 3:
                // Swap two segments.
                let parts = token.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
                mutated = Array([parts[1], parts[0], parts[2]].joined(separator: "."))
            default:
                // A huge segment in the middle.
                let parts = token.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
                mutated = Array(parts[0] + "." + String(repeating: "A", count: Int.random(in: 1_000...40_000, using: &random)) + "." + parts[2])
            }
            results.append(String(mutated))
        }
        return results
    }

    @Test func fuzzedTokensAreRefusedWith401OrStillTheSameIdentity() async throws {
        try await AuthenticationHarness.run { harness in
            let token = TestToken(claims: EntraFixture.v2Claims()).signed()
            let original = try await harness.verifier.verify(token: token)
            for candidate in Self.mutations(of: token, count: 500) {
                do throws(AuthenticationError) {
                    // A change in the last character's unused bits can leave the bytes as they were.
                    let principal = try await harness.verifier.verify(token: candidate)
                    #expect(principal == original)
                } catch {
                    #expect(error.status == .unauthorized, "\(error)")
                }
            }
        }
    }

    /// Arbitrary bytes (invalid UTF-8, control characters, NULs), alone or as segments of a
    /// three-part token, from a few bytes to far over the size limit; through the header parser
    /// and the verifier, as a request's `Authorization` value would go.
    @Test func randomBytesAreAlwaysRefusedWith401() async throws {
        try await AuthenticationHarness.run { harness in
            var random = SeededGenerator(state: 0x7261_6E64_6F6D)
            let sizes = [1, 2, 3, 7, 16, 64, 500, 4_000, 16_384, 40_000, 70_000]
            for round in 0..<300 {
                let size = sizes[round % sizes.count]
                let bytes = (0..<size).map { _ in UInt8.random(in: 0...255, using: &random) }
                var candidates = [String(decoding: bytes, as: UTF8.self)]
                // The same bytes as the segments of a JWS, base64url and raw.
                let third = max(1, size / 3)
                let parts = stride(from: 0, to: bytes.count, by: third).map { Array(bytes[$0..<min($0 + third, bytes.count)]) }
                candidates.append(parts.map { TestToken.base64URL(Data($0)) }.joined(separator: "."))
                candidates.append(parts.map { String(decoding: $0, as: UTF8.self) }.joined(separator: "."))
                for candidate in candidates {
                    do throws(AuthenticationError) {
                        let principal = try await harness.authenticate(authorization: "Bearer " + candidate)
                        Issue.record("random bytes became a principal: \(principal)")
                    } catch {
                        #expect(error.status == .unauthorized, "\(error)")
                        #expect(error.wwwAuthenticate?.hasPrefix("Bearer realm=") == true)
                    }
                }
            }
            // None of it made the gateway fetch keys: garbage is refused before any key work.
            for path in AuthenticationHarness.keyPaths {
                #expect(await harness.server.requests(at: path) == 0)
            }
        }
    }

    @Test func hugeSegmentsAreRefusedAsTooLargeBeforeParsing() async throws {
        try await AuthenticationHarness.run { harness in
            let token = TestToken(claims: EntraFixture.v2Claims()).signed()
            let parts = token.split(separator: ".").map(String.init)
            let huge = String(repeating: "A", count: 300_000)
            for candidate in [huge + "." + parts[1] + "." + parts[2], parts[0] + "." + huge + "." + parts[2], parts[0] + "." + parts[1] + "." + huge] {
                let error = await #expect(throws: AuthenticationError.self) { try await harness.verifier.verify(token: candidate) }
                #expect(error?.code == .tokenTooLarge)
                #expect(error?.status == .unauthorized)
            }
        }
    }

    @Test func truncatedSignatureIsABadSignature() async throws {
        try await AuthenticationHarness.run { harness in
            let token = TestToken(claims: EntraFixture.v2Claims()).signed()
            let error = await #expect(throws: AuthenticationError.self) { try await harness.verifier.verify(token: String(token.dropLast(8))) }
            #expect(error?.code == .badSignature)
        }
    }
}
