import Crypto
import Foundation

/// One versioned schema change: a file `NNNN_name.sql` applied once, in version order.
///
/// The checksum (SHA-256 of the file's bytes) is recorded when the migration is applied, so a
/// file edited after it shipped is detected instead of silently diverging between databases.
public struct Migration: Sendable, Hashable {
    public var version: Int
    public var name: String
    public var sql: String
    /// Lowercase hex SHA-256 of the file.
    public var checksum: String

    public init(version: Int, name: String, sql: String) {
        self.init(version: version, name: name, sql: sql, fileContents: Data(sql.utf8))
    }

    init(version: Int, name: String, sql: String, fileContents: Data) {
        self.version = version
        self.name = name
        self.sql = sql
        let digits = Array("0123456789abcdef")
        self.checksum = String(SHA256.hash(data: fileContents).flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0x0F)]] })
    }

    /// The migrations to apply: those in `MIGRATIONS_DIR` when it is set (a deployment that ships
    /// the SQL files next to the binary, or a test), otherwise those built into this module.
    public static func load(environment: EnvironmentReader = EnvironmentReader()) throws -> [Migration] {
        if let directory = environment.string("MIGRATIONS_DIR") {
            do {
                return try load(directory: URL(fileURLWithPath: directory))
            } catch let error as MigrationError {
                throw ConfigurationError(variable: "MIGRATIONS_DIR", reason: "is unusable: \(error)")
            }
        }
        return try bundled()
    }

    /// The migrations shipped in this module's resources (`Postgres/Migrations`).
    public static func bundled() throws -> [Migration] {
        guard let directory = Bundle.module.url(forResource: "Migrations", withExtension: nil) else {
            throw MigrationError.unreadable(path: "Migrations", reason: "not found in the Shared resource bundle")
        }
        return try load(directory: directory)
    }

    /// Every `NNNN_name.sql` file in `directory`, sorted by version. Other files are ignored; a
    /// `.sql` file whose name does not follow the pattern, or two files with one version, are
    /// errors: a typo must not make a migration silently skipped.
    public static func load(directory: URL) throws -> [Migration] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw MigrationError.unreadable(path: directory.path, reason: "\(error.localizedDescription)")
        }
        var migrations: [Migration] = []
        for fileName in names.sorted() where fileName.hasSuffix(".sql") {
            let stem = fileName.dropLast(4)
            guard let separator = stem.firstIndex(of: "_"),
                let version = Int(stem[..<separator]), version > 0,
                stem[..<separator].allSatisfy(\.isASCII),
                case let name = String(stem[stem.index(after: separator)...]), !name.isEmpty
            else {
                throw MigrationError.invalidFileName(fileName)
            }
            let url = directory.appendingPathComponent(fileName)
            let data: Data
            do {
                data = try Data(contentsOf: url)
            } catch {
                throw MigrationError.unreadable(path: url.path, reason: "\(error.localizedDescription)")
            }
            guard let sql = String(data: data, encoding: .utf8) else {
                throw MigrationError.unreadable(path: url.path, reason: "not UTF-8")
            }
            migrations.append(Migration(version: version, name: name, sql: sql, fileContents: data))
        }
        migrations.sort { $0.version < $1.version }
        for (previous, next) in zip(migrations, migrations.dropFirst()) where previous.version == next.version {
            throw MigrationError.duplicateVersion(previous.version)
        }
        return migrations
    }
}
