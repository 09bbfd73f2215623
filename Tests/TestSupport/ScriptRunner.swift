import Foundation
import Synchronization
import Testing

/// What a helper script did: its exit status and everything it printed.
public struct ScriptResult: Sendable, CustomStringConvertible {
    public var command: String
    public var status: Int32
    public var stdout: String
    public var stderr: String

    public var succeeded: Bool { status == 0 }

    public var description: String {
        "`\(command)` exited \(status)\n--- stdout ---\n\(stdout)\n--- stderr ---\n\(stderr)"
    }
}

/// Runs the project's node scripts (`postgres-node.sh`, `rabbitmq-node.sh`) from tests.
///
/// Not Foundation's `Process`: on Linux it learns that a child exited when a socket shared with
/// the child closes, and a script that starts a server in the background hands that socket on
/// to the server, so the script's exit is never noticed. Here the child is reaped with `waitpid`,
/// which depends on no descriptor; its output goes to files rather than pipes for the same
/// reason (a pipe read to its end would wait for the server too).
public enum ScriptRunner {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// The path of one of the project's scripts, in the directory named by `MCPGW_SCRIPTS`. The
    /// test fails (it does not skip) with a clear message when the variable is unset.
    public static func requireScript(_ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let directory = try #require(
            ProcessInfo.processInfo.environment["MCPGW_SCRIPTS"].flatMap { $0.isEmpty ? nil : $0 },
            "MCPGW_SCRIPTS must name the directory holding \(name) (the repository's scripts/ folder)",
            sourceLocation: sourceLocation
        )
        return URL(fileURLWithPath: directory).appendingPathComponent(name).path
    }

    /// Runs `path` with `arguments` (under bash unless it is executable), waits for it, at most
    /// `timeout` (then kills it and throws), and returns its status and output.
    public static func run(
        _ path: String,
        _ arguments: [String],
        environment: [String: String] = [:],
        timeout: Duration = .seconds(180)
    ) async throws -> ScriptResult {
        let command = ([path] + arguments).joined(separator: " ")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("script-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let stdoutPath = directory.appendingPathComponent("stdout").path
        let stderrPath = directory.appendingPathComponent("stderr").path

        let argv = FileManager.default.isExecutableFile(atPath: path) ? [path] + arguments : ["/bin/bash", path] + arguments
        let env = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }.map { "\($0)=\($1)" }
        let pid = try spawn(argv: argv, environment: env, stdout: stdoutPath, stderr: stderrPath)

        let state = Mutex((reaped: false, timedOut: false))
        let status: Int32 = await withCheckedContinuation { continuation in
            // waitpid blocks: give it a thread of its own, never a cooperative one.
            Thread.detachNewThread {
                var status: Int32 = 0
                while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
                state.withLock { $0.reaped = true }
                continuation.resume(returning: status)
            }
            let (seconds, attoseconds) = timeout.components
            let deadline = DispatchTime.now() + .milliseconds(Int(seconds * 1000 + attoseconds / 1_000_000_000_000_000))
            DispatchQueue.global().asyncAfter(deadline: deadline) {
                state.withLock { state in
                    guard !state.reaped else { return }
                    state.timedOut = true
                    kill(pid, SIGKILL)
                }
            }
        }
        if state.withLock({ $0.timedOut }) {
            throw Failure(description: "`\(command)` did not finish within \(timeout) and was killed")
        }
        let exitStatus: Int32 = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        let output = String(decoding: FileManager.default.contents(atPath: stdoutPath) ?? Data(), as: UTF8.self)
        let errors = String(decoding: FileManager.default.contents(atPath: stderrPath) ?? Data(), as: UTF8.self)
        return ScriptResult(command: command, status: exitStatus, stdout: output, stderr: errors)
    }

    private static func spawn(argv: [String], environment: [String], stdout: String, stderr: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o644)

        let cArguments = argv.map { strdup($0) } + [nil]
        let cEnvironment = environment.map { strdup($0) } + [nil]
        defer {
            cArguments.forEach { free($0) }
            cEnvironment.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, argv[0], &actions, nil, cArguments, cEnvironment)
        guard result == 0 else {
            throw Failure(description: "cannot start \(argv[0]): \(String(cString: strerror(result)))")
        }
        return pid
    }
}
