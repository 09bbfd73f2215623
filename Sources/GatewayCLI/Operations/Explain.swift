import ArgumentParser
import Foundation
import Logging
import Shared
import Worker

/// `mcpgw explain`: may this user call this tool, and why. Runs the workers' own decision
/// function against PostgreSQL, uncached; needs no credentials key (it names credentials, never opens them).
struct Explain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Explain the decision for a user on a server (and tool): allow or deny, tenant, credential, and the rule that decided.",
        discussion: "Describe the user as their token would: mcpgw explain --server github --tool delete_repo --group Tenant-Google --email ann@example.com"
    )

    @Option(help: "The server.") var server: String
    @Option(help: "The tool (omit for the server itself, as tools/list is decided).") var tool: String?
    @Option(help: "A group of the token, object id or name (repeatable).") var group: [String] = []
    @Option(help: "An app role of the token (repeatable).") var role: [String] = []
    @Option(help: "The user principal name (preferred_username / upn).") var email: String?
    @Option(name: .customLong("entra-tenant"), help: "The token's tid.") var entraTenant: String = "default"
    @Option(help: "The token's oid.") var objectID: String?
    @Option(
        help: "How the user signs in: entra-v2, entra-v1, jwt or local-dev. Default: entra-v2 with --object-id, else a non-Entra provider (grants by --email count only there)."
    ) var method: String?
    @Flag(help: "The token reported group overage (its group list is incomplete).") var overage = false

    func run() async throws {
        let principal = Principal(
            subject: objectID ?? email ?? "explain", objectID: objectID, tenantID: entraTenant, userName: email, groups: group, roles: role,
            authenticationMethod: Authorizer.explainedMethod(method, objectID: objectID), groupsOverage: overage ? true : nil
        )
        let (decision, limits) = try await DatabaseSession.with { client in
            try await requireServer(server, client, allowAll: false)
            let authorizer = Authorizer(database: client, credentials: CredentialStore(database: client, keyring: nil, opensValues: false))
            let decision = try await authorizer.decide(principal, server: server, tool: tool, cached: false)
            let limits = try await RateLimiter(database: client, refresh: .zero, logger: Logger(label: "mcpgw.explain"))
                .applicable(principal: principal, tenant: decision.tenant, server: server)
            return (decision, limits)
        }
        for line in decision.explanation { print(line) }
        for (limit, subject) in limits { print("limit: \(limit.summary(for: subject))") }
        if let error = decision.error, !decision.allowed { print("the caller is told: \(error.code.rawValue): \(error.message)") }
        if !decision.allowed { throw ExitCode(2) }
    }
}
