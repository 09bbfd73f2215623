import Foundation
import Testing
import TestSupport

@testable import Shared

/// Statements against the real server: parameters, decoding, errors, transactions.
@Suite struct PostgresClientTests {
    static let oddStrings: [String] = [
        "'); DROP TABLE notes; --",
        "Robert'); DROP TABLE students;--",
        "$1 $2 :name ? %s {0}",
        "quotes \" ' ` and backslashes \\ \\\\ \\x41 \\0",
        "Grüße 日本語 עברית 🧪👩‍💻 \u{200B}zero-width \u{FEFF}bom",
        "   leading and trailing spaces   ",
        "",
        "line\nbreak\ttab\r\ncarriage",
        "NULL",
        "{a,\"b\"}",
        "E'\\n' U&'\\0041' $$dollar$$",
        String(repeating: "long ", count: 20_000),
    ]

    @Test(arguments: oddStrings)
    func hostileAndOddStringsAreStoredAndReadBackVerbatim(value: String) async throws {
        try await PostgresTestDatabase.withSchema { database in
            try await database.withClient { client in
                try await client.execute("CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL, tags text[] NOT NULL)")
                let inserted = try await client.query(
                    "INSERT INTO notes (body, tags) VALUES (\(value), \([value, "x"])) RETURNING id"
                )
                let id = try inserted[0].decode(Int.self, "id")

                let byID = try await client.query("SELECT body, tags FROM notes WHERE id = \(id)")
                #expect(try byID[0].decode(String.self, "body") == value)
                #expect(try byID[0].decode([String].self, "tags") == [value, "x"])

                let byValue = try await client.query("SELECT id FROM notes WHERE body = \(value)")
                #expect(byValue.count == 1)
                let stillThere = try await client.query("SELECT count(*) AS n FROM notes")
                #expect(try stillThere[0].decode(Int.self, "n") == 1)
            }
        }
    }

    @Test func aNulCharacterIsRefusedRatherThanTruncated() async throws {
        try await PostgresTestDatabase.withSchema { database in
            try await database.withClient { client in
                await #expect {
                    try await client.query("SELECT \("before\u{0}after") AS v")
                } throws: { error in
                    (error as? PostgresError)?.code == .encoding
                }
            }
        }
    }

    struct Arguments: Codable, Equatable, Sendable {
        var path: String
        var depth: Int
        var flags: [String]
    }

    @Test func typedValuesRoundTrip() async throws {
        try await PostgresTestDatabase.withSchema { database in
            try await database.withClient { client in
                try await client.execute(
                    """
                    CREATE TABLE samples (
                        i8 bigint, i4 integer, flag boolean, ratio double precision, ident uuid,
                        at timestamptz, names text[], blob bytea, doc jsonb, note text
                    )
                    """
                )
                let uuid = UUID()
                let at = Date(timeIntervalSince1970: 1_709_210_096.789012)
                let names = ["plain", "with space", "comma,inside", "quote\"inside", "back\\slash", "NULL", "", "{}"]
                let blob = Data((0...255).map(UInt8.init))
                let doc = Arguments(path: "/srv/ü", depth: 3, flags: ["-r", "--all"])
                let note: String? = nil
                try await client.execute(
                    """
                    INSERT INTO samples VALUES (
                        \(Int64.max), \(Int32.min), \(true), \(0.1 + 0.2), \(uuid),
                        \(at), \(names), \(blob), \(PostgresJSON(doc)), \(note)
                    )
                    """
                )
                let row = try #require(try await client.query("SELECT * FROM samples").first)
                #expect(try row.decode(Int64.self, "i8") == .max)
                #expect(try row.decode(Int.self, "i8") == .max)
                #expect(try row.decode(Int32.self, "i4") == .min)
                #expect(try row.decode(Bool.self, "flag"))
                #expect(try row.decode(Double.self, "ratio") == 0.1 + 0.2)
                #expect(try row.decode(UUID.self, "ident") == uuid)
                #expect(abs(try row.decode(Date.self, "at").timeIntervalSince(at)) < 0.000_001)
                #expect(try row.decode([String].self, "names") == names)
                #expect(try row.decode(Data.self, "blob") == blob)
                #expect(try row.decode(PostgresJSON<Arguments>.self, "doc").value == doc)
                #expect(try row.decodeJSON(Arguments.self, "doc") == doc)
                let rawJSON = try row.decode(Data.self, "doc")
                #expect(try JSONDecoder().decode(Arguments.self, from: rawJSON) == doc)
                #expect(try row.decode(String?.self, "note") == nil)
                #expect(try row["note"].isNull)
                #expect(row.columns.map(\.name) == ["i8", "i4", "flag", "ratio", "ident", "at", "names", "blob", "doc", "note"])
                #expect(row.columns.first { $0.name == "doc" }?.type == .jsonb)
            }
        }
    }

    @Test func nullsAndArraysFromTheServerDecode() async throws {
        try await PostgresTestDatabase.withSchema { database in
            try await database.withClient { client in
                let row = try #require(
                    try await client.query(
                        #"""
                        SELECT NULL::text AS missing, ARRAY['a b', 'c"d', NULL, 'e\f']::text[] AS tags,
                               '{}'::text[] AS empty, ARRAY[1, 2, 3]::int8[] AS numbers, '[5:6]={7,8}'::int[] AS shifted
                        """#
                    ).first
                )
                #expect(try row.decode(String?.self, "missing") == nil)
                #expect(try row.decode([String?].self, "tags") == ["a b", "c\"d", nil, "e\\f"])
                #expect(try row.decode([String].self, "empty") == [])
                #expect(try row.decode([Int].self, "numbers") == [1, 2, 3])
                #expect(try row.decode([Int32].self, "shifted") == [7, 8])
                // A NULL element needs an optional element type.
                #expect(throws: PostgresError.self) { try row.decode([String].self, "tags") }
            }
        }
    }

    @Test func timestamptzDecodesToTheSameInstantInAnySessionTimeZone() async throws {
        try await PostgresTestDatabase.withSchema { database in
            try await database.withClient(poolSize: 1) { client in
                let expected = Date(timeIntervalSince1970: 1_709_210_096.789012)
                for zone in ["UTC", "Asia/Kolkata", "America/St_Johns", "Europe/Amsterdam"] {
                    try await client.withConnection { connection in
                        try await connection.execute("SELECT set_config('TimeZone', \(zone), false)")
                        let rows = try await connection.query(
                            "SELECT '2024-02-29 12:34:56.789012+00'::timestamptz AS at, \(expected)::timestamptz AS bound, '1900-01-01 00:00:00+00'::timestamptz AS old"
                        )
                        #expect(abs(try rows[0].decode(Date.self, "at").timeIntervalSince(expected)) < 0.000_001, "\(zone)")
                        #expect(abs(try rows[0].decode(Date.self, "bound").timeIntervalSince(expected)) < 0.000_001, "\(zone)")
                        #expect(try rows[0].decode(Date.self, "old").timeIntervalSince1970 == -2_208_988_800, "\(zone)")
                    }
                }
            }
        }
    }

    @Test func aDecodeMismatchNamesTheColumnAndTheType() async throws {
        try await PostgresTestDatabase.withSchema { database in
            try await database.withClient { client in
                let row = try #require(try await client.query("SELECT 'abc'::text AS word, NULL::int AS nothing").first)
                do {
                    _ = try row.decode(Int.self, "word")
                    Issue.record("text decoded as Int")
                } catch let error as PostgresError {
                    #expect(error.code == .decoding)
                    #expect(error.column == "word")
                    #expect(error.message.contains("word") && error.message.contains("Int"))
                }
                do {
                    _ = try row.decode(Int.self, "nothing")
                    Issue.record("NULL decoded as a non-optional Int")
                } catch let error as PostgresError {
                    #expect(error.code == .decoding)
                    #expect(error.message.contains("NULL"))
                }
                #expect(throws: PostgresError.self) { try row.decode(String.self, "no_such_column") }
            }
        }
    }

    @Test func affectedRowsAreCounted() async throws {
        try await PostgresTestDatabase.withSchema { database in
            try await database.withClient { client in
                try await client.execute("CREATE TABLE counters (n int)")
                #expect(try await client.execute("INSERT INTO counters SELECT generate_series(1, 5)") == 5)
                #expect(try await client.execute("UPDATE counters SET n = n + 1 WHERE n > \(2)") == 3)
                #expect(try await client.execute("DELETE FROM counters") == 5)
            }
        }
    }

    struct Refused: Error {}

    @Test func aThrownErrorRollsTheTransactionBackAndIsRethrownUnchanged() async throws {
        try await PostgresTestDatabase.withSchema { database in
            try await database.withClient(poolSize: 1) { client in
                try await client.execute("CREATE TABLE grants (user_id text PRIMARY KEY)")
                await #expect(throws: Refused.self) {
                    try await client.withTransaction { connection in
                        try await connection.execute("INSERT INTO grants VALUES (\("alice"))")
                        throw Refused()
                    }
                }
                let rows = try await client.query("SELECT count(*) AS n FROM grants")
                #expect(try rows[0].decode(Int.self, "n") == 0)
                // The session went back to the pool outside any transaction: two statements on it
                // (the pool has one session) get two transaction ids.
                let first = try await client.query("SELECT txid_current() AS xid")
                let second = try await client.query("SELECT txid_current() AS xid")
                #expect(try first[0].decode(Int64.self, "xid") != second[0].decode(Int64.self, "xid"))
            }
        }
    }

    @Test func aCommittedTransactionPersists() async throws {
        try await PostgresTestDatabase.withSchema { database in
            try await database.withClient { client in
                try await client.execute("CREATE TABLE grants (user_id text PRIMARY KEY)")
                let inserted = try await client.withTransaction { connection in
                    try await connection.execute("INSERT INTO grants VALUES (\("alice")), (\("bob"))")
                }
                #expect(inserted == 2)
                let rows = try await client.query("SELECT user_id FROM grants ORDER BY user_id")
                #expect(try rows.map { try $0.decode(String.self, "user_id") } == ["alice", "bob"])
            }
        }
    }

    @Test func aCaughtStatementErrorMakesCommitReportTheRollback() async throws {
        try await PostgresTestDatabase.withSchema { database in
            try await database.withClient { client in
                try await client.execute("CREATE TABLE grants (user_id text PRIMARY KEY)")
                await #expect {
                    try await client.withTransaction { connection in
                        try await connection.execute("INSERT INTO grants VALUES (\("alice"))")
                        _ = try? await connection.execute("INSERT INTO grants VALUES (\("alice"))")
                    }
                } throws: { error in
                    (error as? PostgresError)?.code == .transactionRolledBack
                }
                let rows = try await client.query("SELECT count(*) AS n FROM grants")
                #expect(try rows[0].decode(Int.self, "n") == 0)
            }
        }
    }

    @Test func uniqueViolationCarriesSQLState23505AndTheConstraint() async throws {
        try await PostgresTestDatabase.withSchema { database in
            try await database.withClient(poolSize: 1) { client in
                try await client.execute("CREATE TABLE servers (id text CONSTRAINT servers_pkey PRIMARY KEY)")
                try await client.execute("INSERT INTO servers VALUES (\("github"))")
                do {
                    try await client.execute("INSERT INTO servers VALUES (\("github"))")
                    Issue.record("a duplicate key was accepted")
                } catch let error as PostgresError {
                    #expect(error.code == .server)
                    #expect(error.sqlState == "23505")
                    #expect(error.isUniqueViolation)
                    #expect(error.constraint == "servers_pkey")
                    #expect(error.table == "servers")
                    #expect(error.detail?.contains("github") == true)
                    #expect(error.description.contains("23505"))
                }
                // The session survives a statement error.
                let rows = try await client.query("SELECT count(*) AS n FROM servers")
                #expect(try rows[0].decode(Int.self, "n") == 1)
            }
        }
    }

    @Test func syntaxErrorCarriesSQLState42601() async throws {
        try await PostgresTestDatabase.withSchema { database in
            try await database.withClient(poolSize: 1) { client in
                do {
                    _ = try await client.query("SELEC 1")
                    Issue.record("a syntax error was accepted")
                } catch let error as PostgresError {
                    #expect(error.code == .server)
                    #expect(error.sqlState == "42601")
                    #expect(error.message.contains("syntax error"))
                    #expect(error.query == "SELEC 1")
                }
                _ = try await client.query("SELECT 1")
            }
        }
    }

    @Test func severalStatementsInOneQueryAreRefused() async throws {
        try await PostgresTestDatabase.withSchema { database in
            try await database.withClient { client in
                try await client.execute("CREATE TABLE keep (n int)")
                // With parameters bound, the extended protocol runs exactly one statement, so even
                // trusted-but-wrong unescaped text cannot stack a second one.
                await #expect(throws: PostgresError.self) {
                    try await client.query("SELECT \(1); \(unescaped: "DROP TABLE keep")")
                }
                _ = try await client.query("SELECT count(*) FROM keep")
            }
        }
    }

    @Test func aSecondHostIsTriedWhenTheFirstIsDown() async throws {
        try await PostgresTestDatabase.withSchema { database in
            // The test server's own settings, with a dead host put first.
            var options = Dictionary(try #require(PostgresConfiguration.parse(database.databaseURL)), uniquingKeysWith: { _, last in last })
            let host = options["host"] ?? options["hostaddr"] ?? "127.0.0.1"
            let port = options["port"] ?? "5432"
            options["host"] = "127.0.0.1,\(host)"
            options["port"] = "\(try FreePort.find()),\(port)"
            options["hostaddr"] = nil
            options["target_session_attrs"] = "read-write"
            let conninfo = options.map { key, value in
                "\(key)='\(value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'"))'"
            }.joined(separator: " ")
            let client = PostgresClient(
                configuration: PostgresConfiguration(connectionString: conninfo, poolSize: 1, applicationName: database.applicationName),
                logger: PostgresTestDatabase.logger
            )
            let row = try await client.query("SELECT pg_is_in_recovery() AS standby")[0]
            #expect(try row.decode(Bool.self, "standby") == false)
            await client.shutdown()
        }
    }
}
