import Shared

extension GatewayTopology {
    /// A topology whose every name is unique to one test, so the real `mcp.*` objects and other
    /// tests running in parallel are never touched.
    public static func scratch() -> GatewayTopology {
        let id = TestEnvironment.uniqueName("t")
        var topology = GatewayTopology()
        topology.requestsExchange = "\(id).requests"
        topology.queuePrefix = "\(id).server."
        topology.catalogQueue = "\(id).catalog"
        topology.deadLetterExchange = "\(id).dlx"
        topology.deadLetterQueue = "\(id).dead"
        topology.auditStream = "\(id).audit"
        topology.cancelExchange = "\(id).cancel"
        return topology
    }
}
