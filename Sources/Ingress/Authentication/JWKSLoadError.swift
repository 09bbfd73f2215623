/// Why a key set could not be loaded. Only logged: a client sees `keysUnavailable` or
/// `unknownKey`.
struct JWKSLoadError: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) { self.description = description }
}
