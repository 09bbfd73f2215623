import ArgumentParser
import Foundation
import Logging
import Shared

/// Runs a CLI command's work with a PostgreSQL client configured like the worker's
/// (`DATABASE_URL` or `PG*`), and closes it afterwards.
enum DatabaseSession {
    static func with<T>(_ body: (PostgresClient) async throws -> T) async throws -> T {
        let configuration = try PostgresConfiguration(environment: EnvironmentReader(), applicationName: "mcpgw")
        var logger = Logger(label: "mcpgw")
        logger.logLevel = .warning
        let client = PostgresClient(configuration: configuration, logger: logger)
        do {
            let result = try await body(client)
            await client.shutdown()
            return result
        } catch {
            await client.shutdown()
            throw error
        }
    }
}

/// A refusal the operator can act on: printed as `error: <message>`, exit status 1.
struct OperatorError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// "did you mean ...?" for a mistyped id, by edit distance.
func suggestion(for name: String, among candidates: [String]) -> String {
    func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var previous = Array(0...b.count)
        for (i, x) in a.enumerated() {
            var current = [i + 1]
            for (j, y) in b.enumerated() {
                current.append(min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1)))
            }
            previous = current
        }
        return previous[b.count]
    }
    guard let best = candidates.min(by: { distance(name, $0) < distance(name, $1) }), distance(name, best) <= 3 else { return "" }
    return "; did you mean '\(best)'?"
}
