import Foundation
import Hummingbird
import Logging
import Shared

/// The administrators' surface: `POST /admin/explain` answers "may this user call this tool,
/// and why". Like every call it goes through the broker to a worker, which checks that the
/// caller is a gateway administrator (`gateway_admins` in PostgreSQL) and answers 403 otherwise.
///
/// Body: `{"server": "github", "tool": "delete_repo", "user": {"groups": ["Tenant-Google"],
/// "roles": [], "email": "ann@example.com", "tenantId": "...", "objectId": "...", "groupsOverage": false}}`.
struct AdminRoutes {
    let dispatcher: CallDispatcher
    let configuration: IngressConfiguration

    func add(to group: RouterGroup<GatewayRequestContext>) {
        group.post("admin/explain") { request, context in
            let principal = try context.requirePrincipal()
            let arguments = try await request.argumentsObject(limit: configuration.maxBodyBytes, callID: context.callID)
            let answer: JSONValue
            do throws(GatewayError) {
                answer = try await dispatcher.explain(arguments: arguments, principal: principal, callID: context.callID, trace: request.traceContext)
            } catch {
                context.logger.info("Explain refused", metadata: ["error_code": "\(error.code.rawValue)", LogKeys.error: "\(error.message)"])
                throw GatewayHTTPError(error, callID: context.callID)
            }
            return try JSONResponse.make(answer)
        }
    }
}
