import Foundation

/// The original deployment's setup (its readiness summary): the MCP servers it served and the
/// Entra group mappings it used. Loaded by `mcpgw seed`. The servers are placeholders, disabled
/// until an operator points them at real endpoints (`mcpgw servers update`).
public enum SeedData {
    /// The 18 servers. The original named github, filesystem, atlassian, asana, notion, slack,
    /// linear, hubspot, gitlab, sentry, datadog and grafana; the rest complete its "18 servers".
    public static let servers: [(id: String, name: String)] = [
        ("github", "GitHub"), ("filesystem", "Filesystem"), ("atlassian", "Atlassian"), ("asana", "Asana"), ("notion", "Notion"),
        ("slack", "Slack"), ("linear", "Linear"), ("hubspot", "HubSpot"), ("gitlab", "GitLab"), ("sentry", "Sentry"),
        ("datadog", "Datadog"), ("grafana", "Grafana"), ("clickup", "ClickUp"), ("trello", "Trello"), ("zendesk", "Zendesk"),
        ("pagerduty", "PagerDuty"), ("airtable", "Airtable"), ("postgres", "PostgreSQL"),
    ]

    /// Group → servers. `MCP-Admin` is just a grant of every server (`*`).
    public static let groupMappings: [(group: String, servers: [String])] = [
        ("MCP-Admin", ["*"]),
        ("MCP-GitHub", ["github"]),
        ("MCP-Filesystem", ["filesystem"]),
        ("MCP-Atlassian", ["atlassian"]),
        ("Tenant-Google", ["github", "notion", "atlassian", "filesystem"]),
        ("Tenant-AcmeCorp", ["atlassian", "slack", "filesystem"]),
        ("Tenant-Microsoft", ["github", "atlassian", "filesystem"]),
    ]

    /// The customer tenants the mappings name: the people of group `Tenant-X` belong to tenant `x`,
    /// and reach their servers with that tenant's own credentials.
    public static let tenants: [(id: String, name: String, group: String)] = [
        ("google", "Google", "Tenant-Google"), ("acmecorp", "AcmeCorp", "Tenant-AcmeCorp"), ("microsoft", "Microsoft", "Tenant-Microsoft"),
    ]

    /// Servers that run without a vendor credential (the filesystem server is local).
    public static let credentialFree: Set<String> = ["filesystem"]

    /// A placeholder catalog entry: a streamable HTTP endpoint that does not exist yet. Vendor
    /// servers need a tenant credential, so nobody reaches them without one.
    public static func placeholder(id: String, name: String) -> ServerRecord {
        ServerRecord(
            id: id, displayName: name, transport: .streamableHTTP, url: "https://\(id).mcp.invalid/mcp", timeoutMilliseconds: 60_000,
            enabled: false, credentialRequired: !credentialFree.contains(id)
        )
    }
}
