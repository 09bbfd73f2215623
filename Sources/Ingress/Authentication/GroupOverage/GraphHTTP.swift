import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Shared

/// The few HTTP exchanges the overage lookup makes (a token request, Graph pages), each
/// bounded in time and size, answering parsed JSON or a ``GraphError`` that says what failed.
struct GraphHTTP: Sendable {
    let httpClient: HTTPClient
    let timeout: Duration
    let logger: Logger

    /// A Graph page of 999 ids is about 60 KB; a token response a few KB.
    static let maximumBodyBytes = 4 << 20

    func send(_ request: HTTPClientRequest, what: String) async throws(GraphError) -> JSONValue {
        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            response = try await httpClient.execute(request, timeout: .nanoseconds(Int64(timeout / .nanoseconds(1))), logger: logger)
            body = try await response.body.collect(upTo: Self.maximumBodyBytes)
        } catch {
            throw GraphError("\(what) failed: \(Self.describe(error))")
        }
        let json = try? JSONDecoder().decode(JSONValue.self, from: Data(body.readableBytesView))
        guard response.status == .ok else {
            // Entra and Graph both explain themselves in `error` / `error.code`; never the body whole.
            let code = json?["error"]?["code"]?.stringValue ?? json?["error"]?.stringValue
            throw GraphError("\(what) failed: HTTP \(response.status.code)\(code.map { " (\($0.escapedForDetail))" } ?? "")", status: Int(response.status.code))
        }
        guard let json, json.isObject else { throw GraphError("\(what) failed: the answer is not a JSON object") }
        return json
    }

    private static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError, error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            return "timed out"
        }
        return "\(error)".escapedForDetail
    }
}
