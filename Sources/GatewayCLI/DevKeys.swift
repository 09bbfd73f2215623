import ArgumentParser
import Foundation

/// `mcpgw dev-keys --dir DIR`: the key pair a local ingress trusts.
struct DevKeys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev-keys",
        abstract: "Create a local development signing key and its JWKS, unless they exist.",
        discussion: """
            Writes DIR/\(DevelopmentKeys.privateKeyFileName) (an RSA-2048 private key, mode 0600) and \
            DIR/\(DevelopmentKeys.jwksFileName) (its public key, with a kid). Point a local ingress at the JWKS with \
            AUTH_JWKS_URL=file://DIR/\(DevelopmentKeys.jwksFileName). Never configure these keys in production.
            """
    )

    @Option(name: .long, help: "Directory for the key files (created if missing).")
    var dir: String

    func run() async throws {
        let directory = URL(fileURLWithPath: dir, isDirectory: true).standardizedFileURL
        let (keys, created) = try DevelopmentKeys.loadOrCreate(in: directory)
        print(created ? "Created a development key pair in \(directory.path)" : "Using the existing development key pair in \(directory.path)")
        print("  private key: \(keys.privateKeyURL.path)")
        print("  JWKS:        \(keys.jwksURL.path) (kid \(keys.keyID))")
        print("Configure a local ingress with:")
        print("  AUTH_JWKS_URL=\(keys.jwksURL.absoluteString)")
        print("  AUTH_ISSUER=\(DevelopmentKeys.defaultIssuer)")
        print("  AUTH_AUDIENCE=\(DevelopmentKeys.defaultAudience)")
    }
}
