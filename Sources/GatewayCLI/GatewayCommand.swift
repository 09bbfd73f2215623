import ArgumentParser

/// `mcpgw`: operator and developer commands for the MCP gateway.
@main
struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcpgw",
        abstract: "Operate the MCP gateway.",
        subcommands: [Migrate.self, Servers.self, Grants.self, Seed.self, DevKeys.self, DevToken.self]
    )
}
