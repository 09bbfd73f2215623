import Foundation
import HTTPTypes
import Hummingbird
import Shared

/// The `text/event-stream` answer to a call: notifications about it as they come (progress),
/// keep-alive comments every interval (so proxies and load balancers do not cut an idle
/// connection), then the JSON-RPC response as one `message` event, then the end of the stream.
///
/// When a write fails, the client has gone: `onDisconnect` runs (it cancels the call), since
/// nobody will read the answer any more.
enum MCPEventStream {
    /// What the call's side sends into the stream.
    enum Event: Sendable {
        /// A JSON-RPC notification about the call (`notifications/progress`).
        case notification(JSONValue)
        /// The JSON-RPC response; the stream ends after it.
        case answer(JSONValue)
        case keepAlive
    }

    static let headers: HTTPFields = [
        .contentType: "text/event-stream", .cacheControl: "no-cache, no-transform", HTTPField.Name("X-Accel-Buffering")!: "no",
    ]

    /// `events` and `sink` are the two ends of one stream: the call yields into `sink`, and so
    /// does this response's keep-alive timer.
    static func response(
        events: AsyncStream<Event>, sink: AsyncStream<Event>.Continuation, keepAlive: Duration,
        onDisconnect: @escaping @Sendable () async -> Void
    ) -> Response {
        Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                do {
                    // A first comment at once, so the client sees the stream open.
                    try await writer.write(ByteBuffer(string: ": stream open\n\n"))
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            while true {
                                try await Task.sleep(for: keepAlive)
                                sink.yield(.keepAlive)
                            }
                        }
                        defer { group.cancelAll() }
                        for await event in events {
                            switch event {
                            case .keepAlive:
                                try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                            case .notification(let message):
                                try await writer.write(ByteBuffer(bytes: Self.event(message)))
                            case .answer(let message):
                                try await writer.write(ByteBuffer(bytes: Self.event(message)))
                                return
                            }
                        }
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
