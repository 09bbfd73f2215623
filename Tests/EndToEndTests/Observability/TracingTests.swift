import Foundation
import Shared
import Synchronization
import TestSupport
import Testing
import Worker

/// One call through the real executables with tracing configured as an operator configures it
/// (`OTEL_EXPORTER_OTLP_ENDPOINT`), exported over OTLP/HTTP to a collector of the test's own:
/// the client's trace goes on through the ingress's server and producer spans, the AMQP
/// message, the worker's consumer span and its children, into the backend (`traceparent`
/// header over HTTP, `_meta.traceparent` for every transport, stdio included), and every log
/// line of the call carries its trace and span ids.
@Suite struct TracingTests {
    @Test func oneTraceRunsFromTheClientThroughTheQueueIntoTheBackends() async throws {
        let collector = try await OTLPCollector.start()
        let http = try FixtureServer(.streamableHTTPJSON)
        let stdio = try FixtureServer(.stdio)
        do {
            try await http.start()
            guard case .stdio(let command, let arguments, _) = stdio.definition().transport else { return }
            var options = GatewayProcesses.Options()
            options.workers = 1
            options.servers = [
                ServerRecord(id: "traced-http", displayName: "Traced (HTTP)", transport: .streamableHTTP, url: "http://127.0.0.1:\(http.port)/mcp"),
                ServerRecord(id: "traced-stdio", displayName: "Traced (stdio)", transport: .stdio, command: command, arguments: arguments),
            ]
            options.groupGrants = [("Team", "traced-http"), ("Team", "traced-stdio")]
            // Spans leave in batches every 100 ms instead of every 5 s.
            options.environment = ["OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100"]
            try await GatewayProcesses.run(options) { gateway in try await Self.check(gateway, collector) }
        } catch {
            await collector.stop()
            await http.stop()
            await stdio.stop()
            throw error
        }
        await collector.stop()
        await http.stop()
        await stdio.stop()
    }

    private static func check(_ gateway: GatewayProcesses, _ collector: OTLPCollector) async throws {
        let token = gateway.token(groups: ["Team"])
        let traceID = randomHex(bytes: 16)
        let clientSpan = randomHex(bytes: 8)
        let answer = try await gateway.post(
            "/servers/traced-http/tools/whoami", token: token, json: "{}", headers: ["traceparent": "00-\(traceID)-\(clientSpan)-01"]
        )
        #expect(answer.status == 200)
        let callID = try #require(answer.headers["x-call-id"])

        let spans = try await collector.spans(of: traceID) { spans in
            spans.contains { $0.service == "mcp-ingress" && $0.kind == "SPAN_KIND_SERVER" } && spans.contains { $0.name == "tools/call whoami" }
                && spans.contains { $0.name == "process tools/call" }
        }
        let server = try #require(spans.first { $0.service == "mcp-ingress" && $0.kind == "SPAN_KIND_SERVER" })
        #expect(server.parentID == clientSpan)
        #expect(server.name == "/servers/{server}/tools/{tool}")
        let producer = try #require(spans.first { $0.name == "send tools/call" })
        #expect(producer.service == "mcp-ingress")
        #expect(producer.kind == "SPAN_KIND_PRODUCER")
        #expect(producer.parentID == server.spanID)
        #expect(producer.attributes["mcpgw.call_id"] == callID)
        let consumer = try #require(spans.first { $0.name == "process tools/call" })
        #expect(consumer.service == "mcp-worker")
        #expect(consumer.kind == "SPAN_KIND_CONSUMER")
        #expect(consumer.parentID == producer.spanID)
        for name in ["ledger claim", "authorize", "tools/list", "tools/call whoami"] {
            let child = spans.first { $0.name == name }
            #expect(child?.parentID == consumer.spanID, "parent of \(name)")
        }
        #expect(spans.first { $0.name == "authorize" }?.attributes["mcpgw.authorization.allowed"] == "true")
        let backendCall = try #require(spans.first { $0.name == "tools/call whoami" })
        #expect(backendCall.kind == "SPAN_KIND_CLIENT")

        // The backend got the trace: in `_meta` with the backend call's span as parent, and as
        // the HTTP header with AsyncHTTPClient's span of the POST (a child of it) as parent.
        let seen = answer.body["structuredContent"]
        #expect(seen?["meta"]?["traceparent"]?.stringValue == "00-\(traceID)-\(backendCall.spanID)-01")
        let post = spans.first { $0.kind == "SPAN_KIND_CLIENT" && $0.name == "POST" && $0.parentID == backendCall.spanID }
        #expect(post != nil, "AsyncHTTPClient's span of the backend's POST")
        #expect(seen?["headers"]?["traceparent"]?.stringValue == "00-\(traceID)-\(post?.spanID ?? "-")-01")

        // Every line the worker logged for the call inside its consumer span carries the trace.
        let workerLines = LogLines(gateway.log("worker-0")).lines.filter { $0["call_id"]?.stringValue == callID }
        let answered = try #require(workerLines.first { $0["msg"]?.stringValue == "Call answered" })
        #expect(answered["trace_id"]?.stringValue == traceID)
        #expect(answered["span_id"]?.stringValue == consumer.spanID)
        #expect(workerLines.allSatisfy { $0["trace_id"]?.stringValue == traceID })
        let access = try #require(
            LogLines(gateway.log("ingress")).matching(message: "HTTP request").first { $0["call_id"]?.stringValue == callID }
        )
        #expect(access["trace_id"]?.stringValue == traceID)
        #expect(access["span_id"]?.stringValue == server.spanID)

        // Over stdio, `_meta` is the only way: the trace reaches the server there.
        let stdioTrace = randomHex(bytes: 16)
        let overStdio = try await gateway.post(
            "/servers/traced-stdio/tools/whoami", token: token, json: "{}", headers: ["traceparent": "00-\(stdioTrace)-\(randomHex(bytes: 8))-01"]
        )
        #expect(overStdio.status == 200)
        let meta = overStdio.body["structuredContent"]?["meta"]?["traceparent"]?.stringValue
        #expect(meta.flatMap { TraceContext(traceparent: $0)?.traceID } == stdioTrace)
    }

    static func randomHex(bytes: Int) -> String {
        (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 1...255)) }.joined()
    }
}

/// `Tests/Fixtures/otlp/otlp_collector.py` on a free port: receives OTLP/HTTP traces and
/// records every span.
final class OTLPCollector: Sendable {
    struct RecordedSpan: Sendable {
        var service: String
        var name: String
        var kind: String
        var traceID: String
        var spanID: String
        var parentID: String
        var attributes: [String: String]
    }

    let endpoint: String
    private let spansPath: String
    private let process: Mutex<Process?>

    private init(endpoint: String, spansPath: String, process: Process) {
        self.endpoint = endpoint
        self.spansPath = spansPath
        self.process = Mutex(process)
    }

    static let script = URL(fileURLWithPath: MCPTestEnvironment.fixtureServer)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("otlp/otlp_collector.py").path

    static func start() async throws -> OTLPCollector {
        let port = try MCPTestEnvironment.freePort()
        let spansPath = FileManager.default.temporaryDirectory.appendingPathComponent("otlp-spans-\(UUID().uuidString.prefix(8)).jsonl").path
        let process = try await MCPTestEnvironment.startHTTPServer(
            try MCPTestEnvironment.python(), [script, "--port", "\(port)", "--spans", spansPath], port: port
        )
        return OTLPCollector(endpoint: "http://127.0.0.1:\(port)", spansPath: spansPath, process: process)
    }

    /// The spans of `traceID` received so far.
    func spans(of traceID: String) -> [RecordedSpan] {
        guard let text = try? String(contentsOfFile: spansPath, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line -> RecordedSpan? in
            guard let span = try? ContractJSON.decoder.decode(JSONValue.self, from: Data(line.utf8)),
                span["trace_id"]?.stringValue == traceID
            else { return nil }
            var attributes: [String: String] = [:]
            if case .object(let object) = span["attributes"] {
                for (key, value) in object { attributes[key] = value.stringValue }
            }
            return RecordedSpan(
                service: span["service"]?.stringValue ?? "", name: span["name"]?.stringValue ?? "", kind: span["kind"]?.stringValue ?? "",
                traceID: traceID, spanID: span["span_id"]?.stringValue ?? "", parentID: span["parent_span_id"]?.stringValue ?? "",
                attributes: attributes
            )
        }
    }

    /// The spans of `traceID` once `complete` holds for them (they arrive in batches, from two processes).
    func spans(of traceID: String, until complete: @escaping ([RecordedSpan]) -> Bool) async throws -> [RecordedSpan] {
        let found = try? await eventually(timeout: .seconds(20)) { () -> [RecordedSpan]? in
            let spans = self.spans(of: traceID)
            return complete(spans) ? spans : nil
        }
        let spans = found ?? self.spans(of: traceID)
        try #require(found != nil, "the collector received only \(spans.map(\.name)) of trace \(traceID)")
        return spans
    }

    func stop() async {
        if let child = process.withLock({ process in defer { process = nil }; return process }) {
            await MCPTestEnvironment.stopHTTPServer(child)
        }
        try? FileManager.default.removeItem(atPath: spansPath)
    }
}
