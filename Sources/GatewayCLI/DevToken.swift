import ArgumentParser
import Foundation

/// `mcpgw dev-token --dir DIR --subject alice ...`: a signed token for a local ingress.
struct DevToken: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev-token",
        abstract: "Print an RS256 access token signed with the development key of 'mcpgw dev-keys'.",
        discussion: "Only an ingress configured with AUTH_JWKS_URL=file://DIR/\(DevelopmentKeys.jwksFileName) accepts it."
    )

    @Option(name: .long, help: "Directory holding the development key pair.")
    var dir: String

    @Option(name: .long, help: "The user (sub claim).")
    var subject: String

    @Option(name: .long, help: "The tenant (tid claim). Without it the ingress uses AUTH_DEFAULT_TENANT.")
    var tenant: String?

    @Option(name: .long, help: "The user's object id (oid claim). Defaults to a UUID derived from subject.")
    var objectID: String?

    @Option(name: .long, help: "Groups (groups claim), comma separated or repeated.")
    var groups: [String] = []

    @Option(name: .long, help: "App roles (roles claim), comma separated or repeated.")
    var roles: [String] = []

    @Option(name: .long, help: "Delegated scopes (scp claim), comma separated or repeated.")
    var scopes: [String] = []

    @Option(name: .long, help: "A display name (name and preferred_username claims).")
    var name: String?

    @Option(name: .long, help: "The iss claim; the ingress's AUTH_ISSUER must list it.")
    var issuer: String = DevelopmentKeys.defaultIssuer

    @Option(name: .long, help: "The aud claim; the ingress's AUTH_AUDIENCE must list it.")
    var audience: String = DevelopmentKeys.defaultAudience

    @Option(name: .long, help: "Lifetime in seconds (1 to 86400).")
    var ttl: Int = 3600

    func validate() throws {
        guard (1...86_400).contains(ttl) else { throw ValidationError("--ttl must be between 1 and 86400 seconds") }
        guard !subject.isEmpty else { throw ValidationError("--subject must not be empty") }
    }

    func run() async throws {
        let directory = URL(fileURLWithPath: dir, isDirectory: true).standardizedFileURL
        let keys = try DevelopmentKeys.load(from: directory)
        let claims = DevelopmentTokenClaims(
            issuer: issuer,
            subject: subject,
            audience: audience,
            lifetime: .seconds(ttl),
            tenant: tenant,
            objectID: objectID ?? DevelopmentTokenClaims.objectID(forSubject: subject),
            name: name,
            groups: Self.splitting(groups),
            roles: Self.splitting(roles),
            scopes: Self.splitting(scopes)
        )
        print(try await keys.sign(claims))
    }

    /// `["a,b", "c"]` → `["a", "b", "c"]`.
    static func splitting(_ values: [String]) -> [String] {
        values.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}
