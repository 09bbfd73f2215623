import Foundation
import Testing

import TestSupport

/// The Compose and Kubernetes files cannot be run here (no container engine), so these tests
/// check what can go wrong without one: every variable they set for our processes is one the
/// code reads (a misspelt name would be silently ignored at run time), and every file the
/// kustomization lists exists.
@Suite("Deployment manifests")
struct DeploymentManifestTests {
    /// Variables the manifests set for programs other than ours, each with its reader.
    static let foreignVariables: [String: String] = [
        "POSTGRES_USER": "the postgres image", "POSTGRES_PASSWORD": "the postgres image and compose interpolation",
        "POSTGRES_DB": "the postgres image", "RABBITMQ_DEFAULT_USER": "the rabbitmq image",
        "RABBITMQ_DEFAULT_PASS": "the rabbitmq image", "RABBITMQ_PASSWORD": "compose interpolation",
        "RABBITMQ_USERNAME": "Kubernetes, composing AMQP_URL", "RABBITMQ_HOST": "Kubernetes, composing AMQP_URL",
        "WEBUI_SECRET_KEY": "Open WebUI", "ENABLE_OAUTH_SIGNUP": "Open WebUI", "MICROSOFT_CLIENT_ID": "Open WebUI",
        "MICROSOFT_CLIENT_SECRET": "Open WebUI", "MICROSOFT_CLIENT_TENANT_ID": "Open WebUI", "MICROSOFT_OAUTH_SCOPE": "Open WebUI",
        "OAUTH_REFRESH_TOKEN_INCLUDE_SCOPE": "Open WebUI", "ENABLE_PERSISTENT_CONFIG": "Open WebUI", "TOOL_SERVER_CONNECTIONS": "Open WebUI",
        "MCP_INITIALIZE_TIMEOUT": "Open WebUI", "AIOHTTP_CLIENT_TIMEOUT_TOOL_SERVER": "Open WebUI",
        "AIOHTTP_CLIENT_TIMEOUT_TOOL_SERVER_DATA": "Open WebUI", "OPEN_WEBUI_CLIENT_ID": "compose interpolation",
        "OPEN_WEBUI_CLIENT_SECRET": "compose interpolation", "DEV_GATEWAY_TOKEN": "compose interpolation",
    ]

    static let manifests = ["compose/compose.yaml", "compose/example.env", "kubernetes/base/configmaps.yaml",
        "kubernetes/base/ingress.yaml", "kubernetes/base/worker.yaml", "kubernetes/base/migrate-job.yaml"]

    @Test(arguments: manifests)
    func everyVariableAManifestSetsIsReadByTheCode(_ manifest: String) throws {
        let repo = URL(fileURLWithPath: try TestEnvironment.require("MCPGW_REPO"))
        let text = try String(contentsOf: repo.appendingPathComponent(manifest), encoding: .utf8)
        let variables = Self.variables(in: text)
        #expect(!variables.isEmpty, "no variables found in \(manifest): the pattern below no longer matches its layout")
        let sources = try Self.swiftSources(under: repo.appendingPathComponent("Sources"))
        for variable in variables.sorted() where Self.foreignVariables[variable] == nil {
            #expect(sources.contains("\"\(variable)\""), "\(manifest) sets \(variable), which no code under Sources/ reads")
        }
    }

    @Test(arguments: ["kubernetes/base", "kubernetes/overlays/dev", "kubernetes/overlays/production"])
    func everyResourceTheKustomizationListsExists(_ folder: String) throws {
        let repo = URL(fileURLWithPath: try TestEnvironment.require("MCPGW_REPO"))
        let kubernetes = repo.appendingPathComponent(folder)
        let text = try String(contentsOf: kubernetes.appendingPathComponent("kustomization.yaml"), encoding: .utf8)
        let resources = text.split(separator: "\n").compactMap { line -> String? in
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard trimmed.hasPrefix("- "), trimmed.hasSuffix(".yaml") else { return nil }
            return String(trimmed.dropFirst(2))
        }
        #expect(resources.count >= 3)
        for resource in resources {
            #expect(FileManager.default.fileExists(atPath: kubernetes.appendingPathComponent(resource).path), "kustomization lists \(resource)")
        }
    }

    /// Names set as `NAME: value`, `NAME=value` (env files) or `{ name: NAME, ... }` (container env lists).
    static func variables(in text: String) -> Set<String> {
        var names = Set<String>()
        for line in text.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.hasPrefix("#") else { continue }
            for pattern in [#"^([A-Z][A-Z0-9_]{2,})\s*[:=]"#, #"\bname:\s*([A-Z][A-Z0-9_]{2,})\b"#] {
                if let match = trimmed.firstMatch(of: try! Regex(pattern)), let name = match.output[1].substring {
                    names.insert(String(name))
                }
            }
        }
        return names
    }

    static func swiftSources(under directory: URL) throws -> String {
        let files = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: nil)?
            .compactMap { $0 as? URL }.filter { $0.pathExtension == "swift" } ?? []
        return try files.map { try String(contentsOf: $0, encoding: .utf8) }.joined(separator: "\n")
    }
}
