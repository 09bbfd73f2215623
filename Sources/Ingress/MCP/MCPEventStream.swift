import Foundation
import HTTPTypes
import Hummingbird
import Shared

/// The `text/event-stream` answer to a long call: keep-alive comments every interval (so proxies
/// and load balancers do not cut an idle connection), then the JSON-RPC response as one
/// `message` event, then the end of the stream.
///
/// When a write fails, the client has gone: `onDisconnect` runs (it cancels the call), since
/// nobody will read the answer any more.
enum MCPEventStream {
    static let headers: HTTPFields = [
        .contentType: "text/event-stream", .cacheControl: "no-cache, no-transform", HTTPField.Name("X-Accel-Buffering")!: "no",
    ]

    static func response(answer: OneShot<JSONValue>, keepAlive: Duration, onDisconnect: @escaping @Sendable () async -> Void) -> Response {
        Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                do {
                    // A first comment at once, so the client sees the stream open.
                    try await writer.write(ByteBuffer(string: ": stream open\n\n"))
                    while true {
                        if let message = await answer.value(within: keepAlive) {
                            try await writer.write(ByteBuffer(bytes: event(message)))
                            break
                        }
                        try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                    }
                } catch {
                    await onDisconnect()
                    throw error
                }
                try await writer.finish(nil)
            }
        )
    }

    /// One SSE `message` event; JSON has no raw newlines, so one `data:` line carries it.
    static func event(_ message: JSONValue) -> [UInt8] {
        let json = (try? JSONResponse.encoder.encode(message)) ?? Data("{}".utf8)
        return Array("event: message\ndata: ".utf8) + Array(json) + Array("\n\n".utf8)
    }
}
