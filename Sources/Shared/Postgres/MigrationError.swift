/// Why migrations could not be loaded or applied. Each case stops the process at start: running
/// against a schema that does not match the code would be worse than not running.
public enum MigrationError: Error, CustomStringConvertible, Equatable {
    /// An applied migration's file changed since it was applied.
    case checksumMismatch(version: Int, name: String, recorded: String, current: String)
    /// A `.sql` file not named `NNNN_name.sql`.
    case invalidFileName(String)
    /// Two files carry the same version.
    case duplicateVersion(Int)
    case unreadable(path: String, reason: String)
    /// The migration's SQL failed; it was rolled back and nothing after it was applied.
    case failed(version: Int, name: String, error: String)

    public var description: String {
        switch self {
        case let .checksumMismatch(version, name, recorded, current):
            "migration \(version) (\(name)) was changed after it was applied: recorded checksum \(recorded), "
                + "file checksum \(current); add a new migration instead of editing an applied one"
        case let .invalidFileName(name):
            "migration file '\(name)' is not named NNNN_name.sql"
        case let .duplicateVersion(version):
            "two migration files have version \(version)"
        case let .unreadable(path, reason):
            "cannot read migrations at \(path): \(reason)"
        case let .failed(version, name, error):
            "migration \(version) (\(name)) failed and was rolled back: \(error)"
        }
    }
}
