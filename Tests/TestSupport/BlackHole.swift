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
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
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
