import Crypto
import Foundation

extension RequestEnvelope {
    /// What the call asks for, as a SHA-256 hex digest of the server, the tool and the canonical
    /// JSON (sorted keys) of the arguments. Two calls with one `Idempotency-Key` must have the
    /// same digest: the key names one call, not a slot for any call.
    public var requestDigest: String {
        let arguments = (try? ContractJSON.encoder.encode(self.arguments)) ?? Data()
        var hasher = SHA256()
        hasher.update(data: Array(server.utf8) + [0] + Array((tool ?? "").utf8) + [0])
        hasher.update(data: arguments)
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
