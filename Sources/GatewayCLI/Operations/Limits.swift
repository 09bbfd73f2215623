import ArgumentParser
import Shared
import Worker

/// `mcpgw limits ...`: rate limits and concurrency quotas per user and per tenant (rate_limits).
struct Limits: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage rate limits and concurrency quotas (rate_limits), per user or tenant, optionally per server.",
        discussion: """
            A call must fit every limit that applies to it: its user's (own row, else the default user \
            limit) and its tenant's (own row, else the default tenant limit); a row for the call's \
            server wins over the row for every server. Workers read changes within 5 seconds.
            """,
        subcommands: [List.self, Set.self, Remove.self]
    )

    struct Target: ParsableArguments {
        @Option(help: "A user: '<tid>/<oid>' as in the token (tid and oid claims).") var user: String?
        @Option(help: "A gateway tenant id (see 'mcpgw tenants list').") var tenant: String?
        @Flag(help: "The default for every user without a limit of their own.") var everyUser = false
        @Flag(help: "The default for every tenant without a limit of its own.") var everyTenant = false
        @Option(help: "Only calls to this server (default: every server).") var server: String = RateLimit.everyone

        func validate() throws {
            guard [user != nil, tenant != nil, everyUser, everyTenant].filter({ $0 }).count == 1 else {
                throw ValidationError("give exactly one of --user, --tenant, --every-user, --every-tenant")
            }
            if let user, user.split(separator: "/").count != 2 { throw ValidationError("--user is '<tid>/<oid>'") }
        }

        var scopeAndSubject: (RateLimit.Scope, String) {
            if let user { return (.user, user) }
            if let tenant { return (.tenant, tenant) }
            return (everyUser ? .user : .tenant, RateLimit.everyone)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the limits.")
        func run() async throws {
            let rows = try await DatabaseSession.with {
                try await $0.query(
                    "SELECT scope, subject, server_id, requests_per_minute, burst, max_concurrent FROM rate_limits ORDER BY scope, subject, server_id")
            }
            if rows.isEmpty { print("No limits: every call is let through.") }
            for row in rows {
                let rate = try row.decode(Int?.self, "requests_per_minute")
                let burst = try row.decode(Int?.self, "burst")
                let concurrent = try row.decode(Int?.self, "max_concurrent")
                var parts: [String] = []
                if let rate { parts.append("\(rate)/min (burst \(burst ?? rate))") }
                if let concurrent { parts.append("\(concurrent) at once") }
                print(
                    "\(try row.decode(String.self, "scope"))\t\(try row.decode(String.self, "subject"))\tserver \(try row.decode(String.self, "server_id"))\t\(parts.joined(separator: ", "))"
                )
            }
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set (or replace) a limit.")
        @OptionGroup var target: Target
        @Option(help: "Calls per minute.") var rate: Int?
        @Option(help: "Calls that may come at once (the bucket's size; default: a minute's worth).") var burst: Int?
        @Option(help: "Calls that may run at the same time.") var concurrency: Int?

        func validate() throws {
            guard rate != nil || concurrency != nil else { throw ValidationError("give --rate, --concurrency or both") }
            if burst != nil, rate == nil { throw ValidationError("--burst needs --rate") }
            for (name, value) in [("--rate", rate), ("--burst", burst), ("--concurrency", concurrency)] {
                if let value, value < 1 { throw ValidationError("\(name) must be at least 1") }
            }
        }

        func run() async throws {
            let (scope, subject) = target.scopeAndSubject
            try await DatabaseSession.with { database in
                if scope == .tenant, subject != RateLimit.everyone {
                    let known = try await database.query("SELECT 1 FROM tenants WHERE id = \(subject)")
                    if known.isEmpty { throw OperatorError("no tenant '\(subject)'; see 'mcpgw tenants list'") }
                }
                try await database.execute(
                    """
                    INSERT INTO rate_limits (scope, subject, server_id, requests_per_minute, burst, max_concurrent)
                    VALUES (\(scope.rawValue), \(subject), \(target.server), \(rate), \(burst), \(concurrency))
                    ON CONFLICT (scope, subject, server_id) DO UPDATE SET requests_per_minute = excluded.requests_per_minute,
                        burst = excluded.burst, max_concurrent = excluded.max_concurrent, updated_at = now()
                    """)
            }
            print("Limit set for \(scope.rawValue) '\(subject)' on \(target.server == RateLimit.everyone ? "every server" : "'\(target.server)'").")
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a limit.")
        @OptionGroup var target: Target
        func run() async throws {
            let (scope, subject) = target.scopeAndSubject
            let removed = try await DatabaseSession.with {
                try await $0.execute("DELETE FROM rate_limits WHERE scope = \(scope.rawValue) AND subject = \(subject) AND server_id = \(target.server)")
            }
            guard removed > 0 else { throw OperatorError("no such limit; see 'mcpgw limits list'") }
            print("Limit removed.")
        }
    }
}
