/// A development key that cannot be read or written; the message says what to do.
struct DevelopmentKeyError: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) { self.description = description }
}
