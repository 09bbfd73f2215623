import Audit
import Foundation
import Shared
import TestSupport
import Testing

/// `mcpgw audit` against a real gateway: a known set of calls is made, then found again by each
/// filter, exported in both formats and read back, resumed, shown with its ledger row, counted;
/// bad input gets a clear message and its own exit code, and changes nothing.
@Suite struct AuditCommandTests {
    static let tricky = "a, \"quoted\"\nline"

    /// The outcome records on the gateway's stream, read in-process.
    static func outcomes(_ gateway: GatewayHarness) async throws -> [AuditEntry] {
        try await AMQPTest.withConnection { amqp in
            var query = AuditQuery()
            query.filter.type = .outcome
            var found: [AuditEntry] = []
            try await query.run(AuditStreamReader(connection: amqp, stream: gateway.topology.auditStream)) { found.append($0) }
            return found
        }
    }

    @Test func theAuditStreamIsReadFilteredExportedShownAndCounted() async throws {
        let options = GatewayHarness.Options(servers: [try Fixtures.stdioServer("echo")], groupGrants: [("Team", "echo")])
        try await GatewayHarness.run(options) { gateway in
            let alice = gateway.token(subject: "alice", groups: ["Team"])
            let first = try await gateway.post("/servers/echo/tools/echo", token: alice, json: #"{"text":"one"}"#)
            let trickyJSON = String(decoding: try JSONEncoder().encode(["text": Self.tricky]), as: UTF8.self)
            let second = try await gateway.post("/servers/echo/tools/echo", token: alice, json: trickyJSON)
            let refused = try await gateway.post("/servers/echo/tools/echo", token: gateway.token(subject: "bob"), json: #"{"text":"no"}"#)
            let listed = try await gateway.get("/servers/echo/tools", token: alice)
            #expect([first.status, second.status, refused.status, listed.status] == [Int]([200, 200, 403, 200]))
            let a1 = try #require(first.headers["x-call-id"]), a2 = try #require(second.headers["x-call-id"])
            let b1 = try #require(refused.headers["x-call-id"]), list = try #require(listed.headers["x-call-id"])
            let ids: Set = [a1, a2, b1, list]
            _ = try await eventually(timeout: .seconds(30)) { () -> Bool? in
                Set(try await Self.outcomes(gateway).map(\.callID)).isSuperset(of: ids) ? true : nil
            }

            let cli = try AuditCLI(gateway)
            // Everything, as JSON lines: a request and an outcome per call, in offset order.
            let all = try cli("audit", "read", "-o", "json")
            #expect(all.status == 0, "\(all.error)")
            let records = all.objects
            #expect(records.count == 8, "\(all.output)")
            let offsets = records.compactMap { $0["offset"]?.int64Value }
            #expect(offsets == offsets.sorted() && Set(offsets).count == 8)
            #expect(Set(records.compactMap { $0["callId"]?.stringValue }) == ids)
            let tenant = try #require(records.first?["tid"]?.stringValue)
            let request = try #require(records.first { $0["callId"]?.stringValue == a2 && $0["type"]?.stringValue == "request" })
            #expect(request["arguments"]?["text"]?.stringValue == Self.tricky)

            // Each filter, alone and combined.
            func found(_ arguments: String...) throws -> [String] {
                let run = try cli.run(["audit", "read", "-o", "json"] + arguments)
                #expect(run.status == 0, "\(arguments): \(run.error)")
                return run.objects.compactMap { $0["callId"]?.stringValue }
            }
            #expect(Set(try found("--user", "alice")) == [a1, a2, list])
            #expect(try found("--user", "alice").count == 6)
            #expect(try found("--user", "bob", "--outcome", "forbidden") == [b1])
            #expect(Set(try found("--outcome", "ok")) == [a1, a2, list])
            #expect(try found("--outcome", "error") == [b1])
            #expect(try found("--kind", "tools/list") == [list, list])
            #expect(try found("--call-id", a1) == [a1, a1])
            #expect(Set(try found("--server", "echo", "--tool", "echo", "--type", "request")) == [a1, a2, b1])
            #expect(try found("--tenant", tenant, "--since", "1h").count == 8)
            #expect(try found("--limit", "1").count == 1)
            #expect(try found("--from", "\(offsets[2])", "--to", "\(offsets[4])").count == 3)
            #expect(try found("--from", "last") == [records[7]["callId"]?.stringValue].compactMap { $0 })

            // A table for people.
            let table = try cli("audit", "read", "--call-id", a1)
            #expect(table.status == 0 && table.output.contains("CALL ID") && table.output.contains(a1) && table.output.contains("ok"))

            // The newest records.
            let tail = try cli("audit", "tail", "-n", "2", "-o", "json")
            #expect(tail.objects.compactMap { $0["offset"]?.int64Value } == Array(offsets.suffix(2)))

            // Export: JSON lines as read, CSV with its quoting, and a resumed export equal to a whole one.
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("audit-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let jsonl = directory.appendingPathComponent("all.jsonl").path
            #expect(try cli("audit", "export", "--format", "jsonl", "--output", jsonl).status == 0)
            #expect(try String(contentsOfFile: jsonl, encoding: .utf8) == all.output)
            let csv = directory.appendingPathComponent("all.csv").path
            #expect(try cli("audit", "export", "--format", "csv", "--output", csv).status == 0)
            let rows = CSV.parse(try String(contentsOfFile: csv, encoding: .utf8))
            #expect(rows.first == AuditFormat.columns)
            #expect(rows.count == 9)
            let argumentsColumn = try #require(AuditFormat.columns.firstIndex(of: "arguments"))
            let trickyRow = try #require(rows.first { $0[2] == a2 && $0[1] == "request" })
            let decoded = try JSONDecoder().decode([String: String].self, from: Data(trickyRow[argumentsColumn].utf8))
            #expect(decoded["text"] == Self.tricky)

            let partial = directory.appendingPathComponent("partial.jsonl").path
            #expect(try cli("audit", "export", "--output", partial, "--to", "\(offsets[3])").status == 0)
            let again = try cli("audit", "export", "--output", partial)
            #expect(again.status == 10 && again.error.contains("--resume"), "an existing file is never overwritten silently: \(again.error)")
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: partial))
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(#"{"arguments":{"te"#.utf8))  // an export killed mid-line
            try handle.close()
            let resumed = try cli("audit", "export", "--output", partial, "--resume")
            #expect(resumed.status == 0, "\(resumed.error)")
            #expect(try String(contentsOfFile: partial, encoding: .utf8) == all.output)
            #expect(try cli("audit", "export", "--output", partial, "--resume").status == 0, "resuming a complete export adds nothing")
            #expect(try String(contentsOfFile: partial, encoding: .utf8) == all.output)

            // One call: request, outcome and ledger row.
            let shown = try cli("audit", "show", a1)
            #expect(shown.status == 0, "\(shown.error)")
            #expect(shown.output.contains("request") && shown.output.contains("outcome ok") && shown.output.contains("ledger     started"), "\(shown.output)")
            let shownJSON = try cli("audit", "show", b1, "-o", "json").objects
            #expect(shownJSON.compactMap { $0["type"]?.stringValue } == ["request", "outcome", "ledger"])
            #expect(shownJSON.last?["outcome"]?.stringValue == "forbidden")
            #expect(try cli("audit", "show", list).output.contains("no row"), "tools/list is not in the ledger")

            // Counts.
            let stats = try cli("audit", "stats", "-o", "json").objects
            func count(_ dimension: String, _ key: String) -> Int64? {
                stats.first { $0["dimension"]?.stringValue == dimension && $0["key"]?.stringValue == key }?["count"]?.int64Value
            }
            #expect(count("calls", "all") == 4)
            #expect(count("outcome", "ok") == 3)
            #expect(count("outcome", "forbidden") == 1)
            #expect(count("user", "alice") == 3)
            #expect(count("tool", "echo/echo") == 3)

            // Bad input: a clear message and an exit code of its own each.
            let port = try FreePort.find()
            let cases: [(arguments: [String], extra: [String: String], status: Int32, message: String)] = [
                (["audit", "show", UUID().uuidString.lowercased()], [:], 4, "no record of call"),
                (["audit", "show", "not-a-call"], [:], 6, "is not a call id"),
                (["audit", "read", "--from", "999999"], [:], 5, "past the end"),
                (["audit", "read", "--from", "2026-13-45T99:00"], [:], 6, "is not a position"),
                (["audit", "read", "--since", "soon"], [:], 6, "is not a time"),
                (["audit", "read", "--outcome", "fine"], [:], 6, "--outcome 'fine'"),
                (["audit", "read", "--user", "nobody"], [:], 3, "no record matched"),
                (["audit", "read", "--stream", "no-such-stream-\(UUID().uuidString.prefix(8))"], [:], 7, "does not exist"),
                (["audit", "read"], ["AMQP_URL": "amqp://guest:guest@127.0.0.1:\(port)/%2f", "AMQP_CONNECT_TIMEOUT_MS": "500", "AMQP_HANDSHAKE_TIMEOUT_MS": "500"], 8, "cannot reach the broker"),
                (["audit", "export", "--format", "xml", "--output", directory.appendingPathComponent("x").path], [:], 6, "not jsonl or csv"),
            ]
            for bad in cases {
                let run = try cli.run(bad.arguments, extra: bad.extra)
                #expect(run.status == bad.status, "\(bad.arguments): \(run.status) \(run.error)")
                #expect(run.error.contains(bad.message), "\(bad.arguments): \(run.error)")
            }
            // Nothing was lost or changed.
            #expect(try cli("audit", "read", "-o", "json").output == all.output)
        }
    }
}

/// RFC 4180 CSV, enough to read an export back.
enum CSV {
    static func parse(_ text: String) -> [[String]] {
        var rows: [[String]] = [], row: [String] = [], field = ""
        var quoted = false
        var characters = Array(text)[...]
        while let character = characters.popFirst() {
            if quoted {
                if character == "\"" {
                    if characters.first == "\"" {
                        field.append("\"")
                        characters.removeFirst()
                    } else {
                        quoted = false
                    }
                } else {
                    field.append(character)
                }
            } else if character == "\"" {
                quoted = true
            } else if character == "," {
                row.append(field)
                field = ""
            } else if character == "\n" {
                row.append(field)
                rows.append(row)
                row = []
                field = ""
            } else {
                field.append(character)
            }
        }
        if !field.isEmpty || !row.isEmpty { rows.append(row + [field]) }
        return rows
    }
}
