import ArgumentParser

/// `mcpgw`: operator and developer commands for the MCP gateway.
@main
struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcpgw",
        abstract: "Operate the MCP gateway.",
        subcommands: [
            Migrate.self, Servers.self, Tenants.self, Grants.self, Rules.self, Credentials.self, Explain.self, Admins.self, Limits.self, Import.self, Seed.self, DevKeys.self,
            DevToken.self, AuditCommand.self, DeadLetters.self, Ledger.self,
        ]
    )
}
