/// Thrown while decoding a contract message whose `v` this build does not read. The codecs turn
/// it into ``EnvelopeError/unsupportedVersion(_:)``; it is public so that other readers (the
/// audit replay tool) can tell it apart from a malformed message too.
public struct UnsupportedContractVersion: Error, Sendable, Equatable {
    public var version: Int

    public init(version: Int) {
        self.version = version
    }
}
