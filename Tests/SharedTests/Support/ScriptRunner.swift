import Foundation
import Synchronization
import Testing

/// What a helper script did: its exit status and everything it printed.
struct ScriptResult: Sendable, CustomStringConvertible {
    var command: String
    var status: Int32
    var stdout: String
    var stderr: String

    var succeeded: Bool { status == 0 }

    var description: String {
        "`\(command)` exited \(status)\n--- stdout ---\n\(stdout)\n--- stderr ---\n\(stderr)"
    }
}

/// Runs the project's node scripts (`postgres-node.sh`, `rabbitmq-node.sh`) from tests.
///
/// Output goes to temporary files rather than pipes: a script that starts a server in the
/// background leaves that server holding its output descriptors, and reading a pipe to its end
/// would then wait for the server to exit.
enum ScriptRunner {
    struct TimedOut: Error, CustomStringConvertible {
        var command: String
        var timeout: Duration
        var description: String { "`\(command)` did not finish within \(timeout) and was terminated" }
    }

    /// The path of one of the project's scripts, in the directory named by `MCPGW_SCRIPTS`. The
    /// test fails (it does not skip) with a clear message when the variable is unset.
    static func requireScript(_ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let directory = try #require(
            ProcessInfo.processInfo.environment["MCPGW_SCRIPTS"].flatMap { $0.isEmpty ? nil : $0 },
            "MCPGW_SCRIPTS must name the directory holding \(name) (the repository's scripts/ folder)",
            sourceLocation: sourceLocation
        )
        return URL(fileURLWithPath: directory).appendingPathComponent(name).path
    }

    /// Runs `path` with `arguments`, waits for it (at most `timeout`, then terminates it) and
    /// returns its status and output. A script without the executable bit runs under bash.
    static func run(
        _ path: String,
        _ arguments: [String],
        environment: [String: String] = [:],
        timeout: Duration = .seconds(180)
    ) async throws -> ScriptResult {
        let command = ([path] + arguments).joined(separator: " ")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("script-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let stdoutURL = directory.appendingPathComponent("stdout")
        let stderrURL = directory.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: stdoutURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        let stdout = try FileHandle(forWritingTo: stdoutURL)
        let stderr = try FileHandle(forWritingTo: stderrURL)
        defer {
            try? stdout.close()
            try? stderr.close()
        }

        let process = Process()
        if FileManager.default.isExecutableFile(atPath: path) {
            process.executableURL = URL(fileURLWithPath: path)
            process.arguments = arguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/bin/bash")
            process.arguments = [path] + arguments
        }
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = stdout
        process.standardError = stderr

        let timedOut = Mutex(false)
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { process in
                continuation.resume(returning: process.terminationStatus)
            }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
                return
            }
            let (seconds, attoseconds) = timeout.components
            let deadline = DispatchTime.now() + .milliseconds(Int(seconds * 1000 + attoseconds / 1_000_000_000_000_000))
            DispatchQueue.global().asyncAfter(deadline: deadline) {
                guard process.isRunning else { return }
                timedOut.withLock { $0 = true }
                process.terminate()
            }
        }
        if timedOut.withLock({ $0 }) { throw TimedOut(command: command, timeout: timeout) }
        let output = String(decoding: (try? Data(contentsOf: stdoutURL)) ?? Data(), as: UTF8.self)
        let errors = String(decoding: (try? Data(contentsOf: stderrURL)) ?? Data(), as: UTF8.self)
        return ScriptResult(command: command, status: status, stdout: output, stderr: errors)
    }
}
