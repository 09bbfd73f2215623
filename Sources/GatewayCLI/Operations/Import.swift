import ArgumentParser
import Foundation
import Shared
import Worker

/// `mcpgw import FILE`: the original system's group mapping list, as its readiness summary
/// prints it (`Tenant-Google → github, notion, atlassian, filesystem`, `MCP-Admin → ALL 18
/// servers`) or as CSV (`group,server`). Each grant lands in the group's tenant
/// (`tenants assign-group`), else in `default`, as the legacy table's rows do.
struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Import a group mapping list ('Group → server, server' or 'group,server' lines); '-' reads stdin.")

    @Argument(help: "The file, or '-' for stdin.") var file: String

    func run() async throws {
        let text: String
        if file == "-" {
            text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        } else {
            guard let data = FileManager.default.contents(atPath: file) else { throw OperatorError("cannot read the file '\(file)'") }
            text = String(decoding: data, as: UTF8.self)
        }
        let rows = try MappingList.parse(text)
        guard !rows.isEmpty else { throw OperatorError("'\(file)' holds no mapping lines ('Group → server, server' or 'group,server')") }
        let added = try await DatabaseSession.with { client -> Int in
            let catalog = ServerCatalog(database: client)
            let known = Set(try await catalog.all().map(\.id))
            for row in rows where row.server != "*" && !known.contains(row.server) {
                throw OperatorError("line \(row.line): no server '\(row.server)'\(suggestion(for: row.server, among: known.sorted())); add it first ('mcpgw servers add' or 'mcpgw seed')")
            }
            let store = GrantStore(database: client)
            var added = 0
            for row in rows where try await store.grantGroup(row.group, server: row.server) { added += 1 }
            return added
        }
        print("Imported \(rows.count) mappings (\(added) new).")
    }
}

/// The parser of mapping lists, separate so its rules read in one place.
enum MappingList {
    struct Row: Equatable {
        var line: Int
        var group: String
        var server: String
    }

    static func parse(_ text: String) throws -> [Row] {
        var rows: [Row] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = raw.trimmingCharacters(in: .whitespaces)
            // Tree drawing of the summary (├── └── │) and list bullets.
            while let first = line.unicodeScalars.first, "├└│─-*• ".unicodeScalars.contains(first) { line.removeFirst() }
            if line.isEmpty || line.hasPrefix("#") || line.hasSuffix(":") { continue }
            let parts: (String, String)
            if let arrow = line.range(of: "→") ?? line.range(of: "->") {
                parts = (String(line[..<arrow.lowerBound]), String(line[arrow.upperBound...]))
            } else if let comma = line.firstIndex(of: ",") {
                parts = (String(line[..<comma]), String(line[line.index(after: comma)...]))
            } else {
                throw OperatorError("line \(index + 1): '\(line)' is not 'Group → server, server' or 'group,server'")
            }
            let group = parts.0.trimmingCharacters(in: .whitespaces)
            guard !group.isEmpty else { throw OperatorError("line \(index + 1): no group before the arrow") }
            let target = parts.1.trimmingCharacters(in: .whitespaces)
            if target.uppercased().hasPrefix("ALL") || target == "*" {
                rows.append(Row(line: index + 1, group: group, server: "*"))
                continue
            }
            for server in target.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces).lowercased() }) where !server.isEmpty {
                guard RequestEnvelope.isValidServerID(server) else { throw OperatorError("line \(index + 1): '\(server)' is not a server id") }
                rows.append(Row(line: index + 1, group: group, server: server))
            }
        }
        return rows
    }
}
