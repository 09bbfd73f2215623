import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A TCP port that accepts connections and never answers: the kernel completes each handshake
/// (the socket listens) but nothing ever reads or writes. A backend that hangs.
public final class BlackHole: Sendable {
    public let port: Int
    private let socket: Mutex<Int32>

    public init() throws {
        let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        port = try MCPTestEnvironment.freePort()
        let bound = MCPTestEnvironment.withLoopbackAddress(port: port) { bind(fd, $0, $1) == 0 }
        guard bound, listen(fd, 1024) == 0 else {
            Glibc.close(fd)
            throw POSIXError(.EADDRINUSE)
        }
        socket = Mutex(fd)
    }

    public var url: String { "http://127.0.0.1:\(port)/mcp" }

    /// Stops listening: later connections are refused.
    public func close() {
        socket.withLock { fd in
            if fd >= 0 { Glibc.close(fd) }
            fd = -1
        }
    }

    deinit { close() }
}
