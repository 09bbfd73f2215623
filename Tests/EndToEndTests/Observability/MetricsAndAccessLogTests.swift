import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Shared
import TestSupport
import Testing
import Worker

/// What an operator sees of the real executables (`mcp-ingress`, `mcp-worker`) after calls of
/// each outcome: every documented series on each process's `/metrics` with the outcome as a
/// label, the swift-metrics series (`mcp_client_*`) among them, one access-log line per request,
/// and failures of the backend logged as warnings. docs/observability.md lists the series.
@Suite struct MetricsAndAccessLogTests {
    static let server = "observed"

    @Test func callsOfEveryOutcomeAreCountedByOutcomeOnBothProcessesAndLogged() async throws {
        let backend = try FixtureServer(.streamableHTTPJSON)
        try await backend.start()
        do {
            var options = GatewayProcesses.Options()
            options.workers = 1
            options.servers = [
                ServerRecord(id: Self.server, displayName: "Observed", transport: .streamableHTTP, url: "http://127.0.0.1:\(backend.port)/mcp")
            ]
            options.groupGrants = [("Team", Self.server)]
            try await GatewayProcesses.run(options) { gateway in try await Self.check(gateway) }
        } catch {
            await backend.stop()
            throw error
        }
        await backend.stop()
    }

    private static func check(_ gateway: GatewayProcesses) async throws {
        let member = gateway.token(groups: ["Team"])
        let path = "/servers/\(server)/tools"
        let ok = try await gateway.post("\(path)/echo", token: member, json: #"{"text":"hi"}"#)
        #expect(ok.status == 200)
        let forbidden = try await gateway.post("\(path)/echo", token: gateway.token(subject: "mallory"), json: #"{"text":"hi"}"#)
        #expect(forbidden.status == 403)
        let failed = try await gateway.post("\(path)/rpc_error", token: member, json: #"{"code":-32000,"message":"broken"}"#)
        #expect(failed.status == 502)
        let late = try await gateway.post("\(path)/sleep", token: member, json: #"{"seconds":5}"#, headers: ["X-Timeout-Ms": "700"])
        #expect(late.status == 504)

        // The worker counts an outcome once its reply and audit record are out, which can be
        // after the ingress answered (the 504 above is the ingress's own).
        let outcomes = ["ok", "forbidden", "backend_error", "deadline_exceeded"]
        var worker = Exposition("")
        _ = try? await eventually(timeout: .seconds(20)) { () -> Bool? in
            worker = Exposition(try await gateway.text(of: "\(gateway.workerHealthURL(0))/metrics"))
            return outcomes.allSatisfy { worker.value("mcpgw_worker_calls_total", ["server": server, "kind": "tools/call", "outcome": $0]) != nil }
                ? true : nil
        }
        for outcome in outcomes {
            #expect(
                worker.value("mcpgw_worker_calls_total", ["server": server, "kind": "tools/call", "outcome": outcome]) == 1,
                "worker calls with outcome \(outcome)")
        }
        // Recorded through swift-metrics by the MCP client: on /metrics only through the
        // process's bootstrapped backend.
        #expect(worker.value("mcp_client_requests_total", ["server": server, "method": "tools/call", "outcome": "ok"]) == 1)
        #expect(worker.value("mcp_client_requests_total", ["server": server, "method": "tools/call", "outcome": "server"]) == 1)
        #expect(worker.value("mcp_client_requests_total", ["server": server, "method": "tools/call", "outcome": "timeout"]) == 1)
        #expect(worker.value("mcp_client_request_duration_seconds_count", ["server": server, "method": "tools/call", "outcome": "ok"]) == 1)
        #expect(worker.value("mcpgw_worker_deliveries_total", ["disposition": "ack"]) != nil)
        // The decision cache: the first decision for a caller reads PostgreSQL, later ones hit.
        #expect((worker.value("mcpgw_worker_authorization_cache_lookups_total", ["cache": "grants", "result": "miss"]) ?? 0) >= 1)
        #expect((worker.value("mcpgw_worker_authorization_cache_lookups_total", ["cache": "grants", "result": "hit"]) ?? 0) >= 1)
        #expect(worker.value("mcpgw_worker_processing_duration_seconds_count", [:]) != nil)

        let ingress = Exposition(try await gateway.text(of: "\(gateway.baseURL)/metrics"))
        for status in ["200", "403", "502", "504"] {
            #expect(
                ingress.value("mcpgw_ingress_http_requests_total", ["route": "/servers/{server}/tools/{tool}", "method": "POST", "status": status]) == 1,
                "ingress requests answered \(status)")
        }
        #expect(ingress.value("mcpgw_ingress_call_duration_seconds_count", ["kind": "tools/call"]) == 4)
        #expect(ingress.value("mcpgw_ingress_jwks_refresh_failures_total", [:]) == 0)

        // One access-log line per request, with the call id the client saw and the caller's
        // tenant, never the token; a 5xx as a warning.
        let access = LogLines(gateway.log("ingress")).matching(message: "HTTP request")
        for (answer, status, level) in [(ok, 200, "info"), (forbidden, 403, "info"), (failed, 502, "warning"), (late, 504, "warning")] {
            let callID = try #require(answer.headers["x-call-id"])
            let lines = access.filter { $0["call_id"]?.stringValue == callID }
            #expect(lines.count == 1, "access-log lines of the \(status) call")
            let line = try #require(lines.first)
            #expect(line["http_status"]?.stringValue == "\(status)")
            #expect(line["http_method"]?.stringValue == "POST")
            #expect(line["http_route"]?.stringValue == "/servers/{server}/tools/{tool}")
            #expect(line["level"]?.stringValue == level)
            #expect(line["duration_ms"] != nil)
            #expect(line["principal_tid"]?.stringValue?.isEmpty == false)
        }
        #expect(!gateway.log("ingress").contains(member), "a token in the ingress log")

        // Tracing is off unless configured: no trace ids in any line.
        #expect(LogLines(gateway.log("ingress")).lines.allSatisfy { $0["trace_id"] == nil })
        #expect(LogLines(gateway.log("worker-0")).lines.allSatisfy { $0["trace_id"] == nil })

        // The backend's failure is a warning at the worker; a denial is not.
        let workerLog = LogLines(gateway.log("worker-0"))
        #expect(workerLog.matching(message: "MCP request failed").allSatisfy { $0["level"]?.stringValue == "warning" })
        #expect(!workerLog.matching(message: "MCP request failed").isEmpty)
        let callFailures = workerLog.matching(message: "Call failed")
        #expect(callFailures.first { $0["error_code"]?.stringValue == "backend_error" }?["level"]?.stringValue == "warning")
        #expect(callFailures.first { $0["error_code"]?.stringValue == "forbidden" }?["level"]?.stringValue == "info")
    }
}

/// A Prometheus text exposition, read as a scraper reads it.
struct Exposition {
    let samples: [(name: String, labels: [String: String], value: Double)]

    init(_ text: String) {
        samples = text.split(separator: "\n").compactMap { line -> (name: String, labels: [String: String], value: Double)? in
            guard !line.hasPrefix("#"), let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { return nil }
            let series = line[..<space]
            guard let brace = series.firstIndex(of: "{") else { return (String(series), [:], value) }
            var labels: [String: String] = [:]
            for match in series[brace...].matches(of: /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/) {
                labels[String(match.output.1)] = String(match.output.2)
            }
            return (String(series[..<brace]), labels, value)
        }
    }

    /// The sum of the samples of `name` whose labels include `labels`, or `nil` when there is none.
    func value(_ name: String, _ labels: [String: String]) -> Double? {
        let matching = samples.filter { sample in sample.name == name && labels.allSatisfy { sample.labels[$0.key] == $0.value } }
        return matching.isEmpty ? nil : matching.reduce(0) { $0 + $1.value }
    }
}

/// The JSON log lines of a process (``JSONLogHandler``'s format).
struct LogLines {
    let lines: [JSONValue]

    init(_ text: String) {
        lines = text.split(separator: "\n").compactMap { line in
            try? ContractJSON.decoder.decode(JSONValue.self, from: Data(line.utf8))
        }
    }

    func matching(message: String) -> [JSONValue] {
        lines.filter { $0["msg"]?.stringValue == message }
    }
}

extension GatewayProcesses {
    /// The body of a GET that must answer 200, as text.
    func text(of url: String) async throws -> String {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 8 << 20)
        try #require(response.status.code == 200, "GET \(url) answered \(response.status.code)")
        return String(buffer: body)
    }
}
