import Foundation
import Testing
import TestSupport

@Suite struct ScriptRunnerTests {
    private func withScript(_ body: String, _ test: (String) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("runner-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let script = directory.appendingPathComponent("probe.sh")
        try body.write(to: script, atomically: true, encoding: .utf8)
        try await test(script.path)
    }

    @Test func capturesOutputAndExitStatus() async throws {
        try await withScript("echo out-$1\necho err-$2 >&2\nexit 3\n") { script in
            let result = try await ScriptRunner.run(script, ["a", "b"])
            #expect(result.status == 3)
            #expect(!result.succeeded)
            #expect(result.stdout == "out-a\n")
            #expect(result.stderr == "err-b\n")
        }
    }

    @Test func aServerLeftRunningInTheBackgroundDoesNotHoldTheRunner() async throws {
        // Like a node script that starts a daemon which inherits its output descriptors.
        try await withScript("sleep 30 &\necho started\n") { script in
            let started = ContinuousClock.now
            let result = try await ScriptRunner.run(script, [])
            #expect(result.succeeded)
            #expect(result.stdout == "started\n")
            #expect(ContinuousClock.now - started < .seconds(20))
        }
    }

    @Test func aScriptThatOverrunsItsTimeoutIsKilled() async throws {
        try await withScript("sleep 30\n") { script in
            await #expect(throws: ScriptRunner.Failure.self) {
                try await ScriptRunner.run(script, [], timeout: .milliseconds(300))
            }
        }
    }
}
