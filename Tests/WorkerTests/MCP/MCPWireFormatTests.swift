import Foundation
import Shared
import Testing

@testable import Worker

/// The pieces below the transports: event-stream parsing and JSON-RPC message classification.
@Suite("MCP wire format")
struct MCPWireFormatTests {
    @Test func eventStreamSplitsEventsAcrossChunksAndLineEndings() throws {
        var parser = ServerSentEventParser(maximumLineLength: 1024)
        var events = try parser.feed(Array("event: endpoint\r\ndata: /messages/?session_id=1\r\n\r\n: a comment\n".utf8))
        events += try parser.feed(Array("data: {\"a\":".utf8))
        events += try parser.feed(Array("1}\ndata:second line\n\nid: 7\rdata: x\r\r".utf8))
        #expect(
            events == [
                ServerSentEvent(event: "endpoint", data: "/messages/?session_id=1"),
                ServerSentEvent(event: "message", data: "{\"a\":1}\nsecond line"),
                ServerSentEvent(event: "message", data: "x", id: "7"),
            ]
        )
    }

    @Test func retryFieldAndEmptyPrimingEventAreKept() throws {
        var parser = ServerSentEventParser(maximumLineLength: 1024)
        let events = try parser.feed(Array("id: 41\nretry: 250\ndata:\n\n".utf8))
        #expect(events == [ServerSentEvent(event: "message", data: "", id: "41")])
        #expect(parser.retry == 250)
    }

    @Test func eventWithoutDataIsNotDispatched() throws {
        var parser = ServerSentEventParser(maximumLineLength: 1024)
        #expect(try parser.feed(Array("event: ping\n\n".utf8)).isEmpty)
    }

    @Test func overlongEventLineIsRefused() {
        var parser = ServerSentEventParser(maximumLineLength: 16)
        #expect(throws: ServerSentEventParser.LineTooLong.self) {
            try parser.feed(Array("data: 0123456789abcdefghij\n".utf8))
        }
    }

    @Test(arguments: [
        (#"{"jsonrpc":"2.0","id":3,"result":{"tools":[]}}"#, JSONRPCMessage.result(id: 3, result: ["tools": []])),
        (#"{"jsonrpc":"2.0","id":"4","error":{"code":-32601,"message":"nope"}}"#, .error(id: "4", code: -32601, message: "nope", data: nil)),
        (#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}"#, .notification(method: "notifications/progress", params: ["progress": 1])),
        (#"{"jsonrpc":"2.0","id":9,"method":"ping"}"#, .request(id: 9, method: "ping", params: nil)),
    ])
    func messagesAreClassified(_ text: String, _ expected: JSONRPCMessage) throws {
        #expect(try JSONRPCMessage.parse(Array(text.utf8)) == [expected])
    }

    @Test(arguments: [#"{"id":1,"result":{}}"#, "[]", "not json", #"{"jsonrpc":"2.0","id":1}"#, String(repeating: "[", count: 500)])
    func malformedMessagesAreRefused(_ text: String) {
        #expect(throws: JSONRPCParseError.self) { try JSONRPCMessage.parse(Array(text.utf8)) }
    }

    @Test func responseIDsMatchOurIntegerIDs() {
        #expect(JSONRPCMessage.result(id: 12, result: [:]).responseID == 12)
        #expect(JSONRPCMessage.result(id: "12", result: [:]).responseID == 12)
        #expect(JSONRPCMessage.result(id: "abc", result: [:]).responseID == nil)
    }

    @Test func definitionDescriptionHidesHeaderValuesAndQuery() {
        let definition = MCPServerDefinition(
            id: "github",
            transport: .streamableHTTP(URL(string: "https://user:pw@example.com/mcp?api_key=secret")!),
            headers: ["Authorization": "Bearer secret-token"]
        )
        #expect(!definition.description.contains("secret"))
        #expect(!definition.description.contains("pw"))
        #expect(definition.description.contains("Authorization"))
    }

    @Test func configurationReadsEnvironment() throws {
        let configuration = try MCPClientConfiguration(
            environment: EnvironmentReader(["MCP_TOOL_CACHE_TTL_MS": "5000", "MCP_HTTP_CONNECTIONS_PER_HOST": "8"])
        )
        #expect(configuration.toolCacheTTL == .seconds(5))
        #expect(configuration.httpConnectionsPerHost == 8)
        #expect(throws: ConfigurationError.self) {
            try MCPClientConfiguration(environment: EnvironmentReader(["MCP_MAX_MESSAGE_BYTES": "lots"]))
        }
    }
}
