import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Shared

/// Reads a user's transitive group memberships from Microsoft Graph
/// (`GET /users/{oid}/transitiveMemberOf?$select=id&$top=999`), following `@odata.nextLink`
/// page by page, and keeps the ids of the groups (not directory roles or administrative units).
struct GraphMembershipClient: Sendable {
    let configuration: GraphConfiguration
    let http: GraphHTTP

    /// A user in 200 000 groups is beyond any tenant; a Graph that keeps paging is broken.
    static let maximumPages = 200

    /// - Throws: ``GraphError`` for any failed page; a partial list is never returned, since a
    ///   group on a later page could be the one that grants access.
    func groupIDs(objectID: String, token: String) async throws(GraphError) -> [String] {
        var next: URL? = configuration.membershipURL(objectID: objectID)
        var groups: [String] = []
        var pages = 0
        while let url = next {
            pages += 1
            guard pages <= Self.maximumPages else { throw GraphError("Microsoft Graph kept paging past \(Self.maximumPages) pages") }
            var request = HTTPClientRequest(url: url.absoluteString)
            request.method = .GET
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
            request.headers.add(name: "Accept", value: "application/json")
            let page = try await http.send(request, what: "the Microsoft Graph group lookup")
            guard let values = page["value"]?.arrayValue else { throw GraphError("the Microsoft Graph group lookup answered no 'value' list") }
            for member in values where member["@odata.type"]?.stringValue == "#microsoft.graph.group" {
                if let id = member["id"]?.stringValue, !id.isEmpty { groups.append(id.lowercased()) }
            }
            next = try nextLink(page)
        }
        return groups
    }

    /// The next page, which must stay on the configured Graph origin: the app-only token is
    /// sent with it, and goes nowhere else.
    private func nextLink(_ page: JSONValue) throws(GraphError) -> URL? {
        guard let text = page["@odata.nextLink"]?.stringValue else { return nil }
        let base = configuration.graphURL
        guard let url = URL(string: text), url.scheme?.lowercased() == base.scheme?.lowercased(), url.host?.lowercased() == base.host?.lowercased(),
            url.port == base.port, url.path.hasPrefix(base.path)
        else {
            throw GraphError("Microsoft Graph answered a next page outside \(base.absoluteString)")
        }
        return url
    }
}
