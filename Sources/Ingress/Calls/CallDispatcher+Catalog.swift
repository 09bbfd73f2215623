import Foundation
import Shared

extension CallDispatcher {
    /// The principal of `catalog/tools` requests: no one. A worker answers that kind with tool
    /// metadata only and never authorizes or runs anything with it.
    static let catalogPrincipal = Principal(subject: "catalog", tenantID: "-", authenticationMethod: "none")

    /// `catalog/tools`: every enabled server and its tools (metadata only), for the public
    /// OpenAPI document. `{"servers": [{"id": …, "displayName": …, "tools": [...]}]}`
    public func listCatalog(callID: String, trace: TraceContext?) async throws(GatewayError) -> JSONValue {
        try await send(
            kind: .catalogTools, server: RequestEnvelope.catalogServer, tool: nil, arguments: [:], principal: Self.catalogPrincipal, callID: callID,
            timeout: configuration.listTimeout, trace: trace
        )
    }
}
