import CProcessSpawn
import Foundation
import Shared
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A child process with its stdin, stdout and stderr on pipes, for a stdio MCP server.
///
/// Everything that blocks happens on threads of this process's own, never on Swift's
/// cooperative pool: one thread reads stdout and one reads stderr (blocking `read`), one waits
/// for the exit (blocking `waitid`), and a ``DedicatedThread`` spawns the process and does every
/// write to stdin, in order.
///
/// The child runs in a session and process group of its own (`setsid`), with only the descriptors
/// 0, 1 and 2, an empty signal mask and default signal dispositions. When it exits, the rest of
/// its group is killed before it is reaped (so its pid, which is also the group id, cannot have
/// been reused when we signal the group), and it is always reaped: no zombies.
final class StdioProcess: Sendable {
    /// How the process ended.
    struct ExitStatus: Sendable, CustomStringConvertible {
        /// The exit code, or nil when a signal ended it.
        var code: Int32?
        var signal: Int32?
        var description: String {
            if let code { return "exit code \(code)" }
            if let signal { return "signal \(signal)" }
            return "unknown status"
        }
    }

    struct LaunchError: Error, CustomStringConvertible {
        var description: String
    }

    private struct State {
        /// The leader has exited and is being (or has been) reaped: the group may no longer be signalled.
        var reaping = false
        var status: ExitStatus?
        var waiters: [Int: CheckedContinuation<ExitStatus, any Error>] = [:]
        var nextWaiter = 0
    }

    let pid: pid_t
    private let stdin: Int32
    private let writer: DedicatedThread
    private let state = Mutex(State())

    private init(pid: pid_t, stdin: Int32, writer: DedicatedThread) {
        self.pid = pid
        self.stdin = stdin
        self.writer = writer
    }

    /// Writing to a pipe whose reader has gone must fail with `EPIPE`, not kill the worker.
    private static let ignoreSIGPIPE: Void = {
        _ = signal(SIGPIPE, SIG_IGN)
    }()

    /// Starts `command` and the threads that serve it. A command without a `/` is looked up
    /// on the `PATH` of `environment` (the child's, not the worker's).
    ///
    /// - Parameters:
    ///   - onLine: each line of stdout, without its line end, in order, from the stdout thread.
    ///   - onOverlongLine: stdout sent more than `maximumLineLength` bytes without a line end;
    ///     the rest of stdout is ignored (the caller should end the process).
    ///   - onStderrLine: each line of stderr (cut to 4 KiB), from the stderr thread.
    ///   - onExit: once, after the process has been reaped, from the waiting thread.
    static func launch(
        command: String,
        arguments: [String],
        environment: [String: String],
        name: String,
        maximumLineLength: Int,
        onLine: @escaping @Sendable ([UInt8]) -> Void,
        onOverlongLine: @escaping @Sendable () -> Void,
        onStderrLine: @escaping @Sendable (String) -> Void,
        onExit: @escaping @Sendable (ExitStatus) -> Void
    ) async throws -> StdioProcess {
        _ = ignoreSIGPIPE
        let writer = DedicatedThread(name: "mcp-stdio-\(name)")
        let spawned: (pid: pid_t, stdin: Int32, stdout: Int32, stderr: Int32)
        do {
            spawned = try await writer.run {
                let executable = try resolve(command, path: environment["PATH"] ?? "")
                return try spawn(executable: executable, arguments: arguments, environment: environment)
            }
        } catch {
            writer.stop()
            throw error
        }
        let process = StdioProcess(pid: spawned.pid, stdin: spawned.stdin, writer: writer)
        startThread(name: "mcp-out-\(name)") {
            readLines(from: spawned.stdout, maximumLineLength: maximumLineLength, onLine: onLine, onOverlong: onOverlongLine)
        }
        startThread(name: "mcp-err-\(name)") {
            readLines(
                from: spawned.stderr,
                maximumLineLength: 4096,
                truncate: true,
                onLine: { onStderrLine(String(decoding: $0, as: UTF8.self)) },
                onOverlong: {}
            )
        }
        startThread(name: "mcp-wait-\(name)") {
            let status = process.waitForExit()
            // Nothing reads our stdin writes any more; closing it ends the writer thread.
            process.closeInput()
            // The status is visible before `onExit` runs, so that a request registered too late
            // for `onExit` to fail it sees the exit itself.
            process.finish(status)
            onExit(status)
        }
        return process
    }

    // MARK: Writing

    /// Queues `data` for stdin; `completion` gets the write error, if any, on the writer thread.
    func send(_ data: Data, completion: @escaping @Sendable ((any Error)?) -> Void) {
        let accepted = writer.submit { [stdin] in
            completion(Self.writeAll(data, to: stdin))
        }
        if !accepted { completion(LaunchError(description: "stdin is closed")) }
    }

    /// Closes stdin after the writes queued so far (a well-behaved stdio server exits on EOF).
    func closeInput() {
        writer.submit { [stdin] in _ = close(stdin) }
        writer.stop()
    }

    // MARK: Ending

    /// Sends `signal` to the process's whole group, unless the process is already being reaped.
    func signalGroup(_ signal: Int32) {
        state.withLock { state in
            guard !state.reaping else { return }
            _ = kill(-pid, signal)
        }
    }

    var exitStatus: ExitStatus? { state.withLock { $0.status } }

    /// Waits for the exit; cancelling the calling task stops the wait (throwing `CancellationError`).
    func exited() async throws -> ExitStatus {
        let waiter = state.withLock { state in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ExitStatus, any Error>) in
                let ready: Result<ExitStatus, any Error>? = state.withLock { state in
                    if let status = state.status { return .success(status) }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    state.waiters[waiter] = continuation
                    return nil
                }
                if let ready { continuation.resume(with: ready) }
            }
        } onCancel: {
            let continuation = state.withLock { $0.waiters.removeValue(forKey: waiter) }
            continuation?.resume(throwing: CancellationError())
        }
    }

    /// Ends the process the way the MCP stdio transport asks: close its stdin, give it `grace`
    /// to exit, then SIGTERM its group, another `grace`, then SIGKILL. Returns once it is reaped.
    func terminate(grace: Duration) async {
        closeInput()
        if await waitForExit(within: grace) { return }
        signalGroup(SIGTERM)
        if await waitForExit(within: grace) { return }
        signalGroup(SIGKILL)
        _ = await waitForExit(within: .seconds(30))
    }

    private func waitForExit(within duration: Duration) async -> Bool {
        (try? await withDeadline(.now + duration) { try await self.exited() }) != nil
    }

    /// Blocks until the leader exits, kills what is left of its group, and reaps it.
    private func waitForExit() -> ExitStatus {
        _ = mcpgw_wait_exited(pid)
        state.withLock { state in
            _ = kill(-pid, SIGKILL)
            state.reaping = true
        }
        var code: Int32 = -1
        var signal: Int32 = 0
        guard mcpgw_reap(pid, &code, &signal) == 0 else { return ExitStatus(code: nil, signal: nil) }
        return signal != 0 ? ExitStatus(code: nil, signal: signal) : ExitStatus(code: code, signal: nil)
    }

    private func finish(_ status: ExitStatus) {
        let waiters = state.withLock { state in
            state.status = status
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume(returning: status) }
    }

    // MARK: Threads and system calls

    private static func startThread(name: String, _ body: @escaping @Sendable () -> Void) {
        let thread = Thread(block: body)
        thread.name = name
        thread.start()
    }

    /// The command as a path: as given when it has a `/`, else the first executable match on `path`.
    private static func resolve(_ command: String, path: String) throws -> String {
        if command.contains("/") { return command }
        for directory in path.split(separator: ":") where !directory.isEmpty {
            let candidate = "\(directory)/\(command)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        throw LaunchError(description: "\(command.quotedForLog()) is not on the server's PATH")
    }

    private static func spawn(
        executable: String,
        arguments: [String],
        environment: [String: String]
    ) throws -> (pid: pid_t, stdin: Int32, stdout: Int32, stderr: Int32) {
        var input: [Int32] = [-1, -1]
        var output: [Int32] = [-1, -1]
        var errors: [Int32] = [-1, -1]
        var opened: [Int32] = []
        defer { for fd in opened { close(fd) } }
        for index in 0..<3 {
            var fds: [Int32] = [-1, -1]
            let result = mcpgw_pipe_cloexec(&fds)
            guard result == 0 else { throw LaunchError(description: "pipe: \(String(cString: strerror(result)))") }
            opened += fds
            switch index {
            case 0: input = fds
            case 1: output = fds
            default: errors = fds
            }
        }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.sorted(by: { $0.key < $1.key }).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let result = mcpgw_spawn(&pid, executable, argv, envp, input[0], output[1], errors[1])
        guard result == 0 else {
            throw LaunchError(description: "\(executable): \(String(cString: strerror(result)))")
        }
        // Keep our ends; the child's ends close with `opened`.
        opened = [input[0], output[1], errors[1]]
        return (pid, input[1], output[0], errors[0])
    }

    private static func writeAll(_ data: Data, to fd: Int32) -> (any Error)? {
        data.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) -> (any Error)? in
            guard var pointer = buffer.baseAddress else { return nil }
            var left = buffer.count
            while left > 0 {
                let written = write(fd, pointer, left)
                if written < 0 {
                    if errno == EINTR { continue }
                    return LaunchError(description: "write to stdin: \(String(cString: strerror(errno)))")
                }
                pointer += written
                left -= written
            }
            return nil
        }
    }

    /// Reads `fd` to its end, calling `onLine` for each `\n`-terminated line (a trailing `\r`
    /// dropped), then closes it.
    private static func readLines(
        from fd: Int32,
        maximumLineLength: Int,
        truncate: Bool = false,
        onLine: ([UInt8]) -> Void,
        onOverlong: () -> Void
    ) {
        defer { close(fd) }
        var line: [UInt8] = []
        var discarding = false
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return
            }
            if count == 0 {
                if !line.isEmpty && !discarding { onLine(line) }
                return
            }
            for byte in chunk[0..<count] {
                if byte == UInt8(ascii: "\n") {
                    if !discarding {
                        if line.last == UInt8(ascii: "\r") { line.removeLast() }
                        onLine(line)
                    }
                    line.removeAll(keepingCapacity: true)
                    // A cut stderr line ends here; after an overlong message nothing on stdout can be trusted.
                    if truncate { discarding = false }
                    continue
                }
                if discarding { continue }
                if line.count >= maximumLineLength {
                    if truncate { onLine(line + Array("…".utf8)) } else { onOverlong() }
                    line.removeAll()
                    discarding = true
                    continue
                }
                line.append(byte)
            }
        }
    }
}
