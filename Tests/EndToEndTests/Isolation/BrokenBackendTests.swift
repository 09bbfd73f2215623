import Foundation
@testable import Ingress
import Shared
import TestSupport
import Testing
import Worker

/// One broken backend never hurts the others: refused, hung (accepts, never answers), slow and
/// crashing backends registered beside a healthy one, against the whole gateway. Bounds are the
/// test's own settings (the listing budget, the ingress's listing timeout), never wall-clock
/// targets.
@Suite struct BrokenBackendTests {
    /// A streamable HTTP server record at `url`.
    static func httpServer(_ id: String, url: String, timeoutMilliseconds: Int = 20_000) -> ServerRecord {
        ServerRecord(id: id, displayName: id, transport: .streamableHTTP, url: url, timeoutMilliseconds: timeoutMilliseconds)
    }

    /// A port nothing listens on: connections are refused.
    static func refusedURL() throws -> String {
        "http://127.0.0.1:\(try MCPTestEnvironment.freePort())/mcp"
    }

    static func degraded(_ listing: JSONValue) -> [String: Bool] {
        var servers: [String: Bool] = [:]
        for entry in listing["result"]?["_meta"]?[MCPMethodHandler.degradedMetaKey]?.arrayValue ?? [] {
            if let server = entry["server"]?.stringValue { servers[server] = entry["available"]?.boolValue }
        }
        return servers
    }

    @Test func listingsLeaveBrokenServersOutAndHealthyToolsStayListedAndCallable() async throws {
        let hole = try BlackHole()
        let slow = try FixtureServer(.streamableHTTPJSON, extraArguments: ["--list-delay", "60"])
        try await slow.start()
        defer { hole.close() }
        var options = GatewayHarness.Options(
            servers: [
                try Fixtures.stdioServer("healthy"), Self.httpServer("dead", url: try Self.refusedURL()), Self.httpServer("hung", url: hole.url),
                Self.httpServer("slow", url: "http://127.0.0.1:\(slow.port)/mcp"),
            ],
            groupGrants: [("Team", "healthy"), ("Team", "dead"), ("Team", "hung"), ("Team", "slow")]
        )
        options.mcpClient.listBudget = .seconds(1)
        options.mcpClient.breakerFailureThreshold = 3
        options.mcpClient.breakerOpenDuration = .seconds(60)
        let listTimeout = Duration.seconds(8)
        options.ingress = { $0.listTimeout = listTimeout }
        do {
            try await GatewayHarness.run(options) { gateway in
                let token = gateway.token(groups: ["Team"])
                #expect(try await gateway.post("/servers/healthy/tools/echo", token: token, json: #"{"text":"warm"}"#).status == 200)
                let session = try await gateway.mcpSession(token: token)

                // Every listing answers 200 with the healthy server's tools, before the ingress
                // would give up on any server, and names the broken ones. After three failed
                // fetches each broken server's breaker is open and it costs a listing nothing.
                for round in 1...4 {
                    let started = ContinuousClock.now
                    let listing = try await gateway.mcp(token: token, GatewayHarness.request(Int64(round), "tools/list"), session: session)
                    let took = started.duration(to: .now)
                    #expect(listing.status == 200, "\(listing.body)")
                    let names = Set(listing.body["result"]?["tools"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? [])
                    #expect(names.contains("healthy__echo"), "round \(round): \(names)")
                    #expect(!names.contains { $0.hasPrefix("dead__") || $0.hasPrefix("hung__") || $0.hasPrefix("slow__") })
                    #expect(Self.degraded(listing.body) == ["dead": false, "hung": false, "slow": false], "round \(round): \(listing.body)")
                    #expect(took < listTimeout, "round \(round) took \(took)")
                }

                // The public OpenAPI document (no token, as Open WebUI fetches it) and the server list.
                let document = try await gateway.get("/openapi.json", token: nil)
                #expect(document.status == 200, "\(document.body)")
                #expect(document.body["paths"]?["/healthy/echo"] != nil)
                let notice = Set(document.body["info"]?["x-degraded-servers"]?.arrayValue?.compactMap { $0["server"]?.stringValue } ?? [])
                #expect(notice == ["dead", "hung", "slow"], "\(document.body["info"] ?? .null)")
                let servers = try await gateway.get("/servers", token: token)
                #expect(servers.status == 200)

                // Calls to a broken server fail at once, not run, with a time to come back.
                for server in ["dead", "hung", "slow"] {
                    let call = try await gateway.post("/servers/\(server)/tools/echo", token: token, json: #"{"text":"x"}"#)
                    #expect(call.status == 503, "\(server): \(call.body)")
                    #expect(call.errorCode == "unavailable")
                    #expect(call.headers["retry-after"].flatMap(Int.init).map { $0 > 0 } == true, "\(call.headers)")
                    #expect(call.body["error"]?["mayHaveRun"] == nil)
                }
                #expect(try await gateway.post("/servers/healthy/tools/echo", token: token, json: #"{"text":"still"}"#).body.firstText == "still")

                // What `mcpgw servers status` shows: the live worker's open breakers, and why.
                let circuits = try await eventually(timeout: .seconds(10)) { () -> [String: String]? in
                    let rows = try await BackendCircuits.notClosed(database: gateway.database)
                    let states = Dictionary(rows.map { ($0.server, $0.state) }) { first, _ in first }
                    return states.count == 3 ? states : nil
                }
                #expect(circuits == ["dead": "open", "hung": "open", "slow": "open"])
            }
        } catch {
            await slow.stop()
            throw error
        }
        await slow.stop()
    }

    @Test func aRefusedServerFailsFastOpensItsBreakerAndIsCalledAgainWhenItComesBack() async throws {
        let server = try FixtureServer(.streamableHTTPJSON)  // not started yet: its port refuses
        var options = GatewayHarness.Options(
            servers: [Self.httpServer("flaky", url: "http://127.0.0.1:\(server.port)/mcp", timeoutMilliseconds: 30_000)],
            groupGrants: [("Team", "flaky")]
        )
        options.mcpClient.breakerFailureThreshold = 2
        options.mcpClient.breakerOpenDuration = .milliseconds(300)
        do {
            try await GatewayHarness.run(options) { gateway in
                let token = gateway.token(groups: ["Team"])
                // Refused connects are not retried until the connect timeout (10 s) or the
                // server's timeout (30 s): each call fails on its own attempt.
                for attempt in 1...2 {
                    let started = ContinuousClock.now
                    let refused = try await gateway.post("/servers/flaky/tools/echo", token: token, json: #"{"text":"down"}"#)
                    #expect(refused.status == 502, "attempt \(attempt): \(refused.body)")
                    #expect(refused.body["error"]?["mayHaveRun"] == nil)
                    #expect(started.duration(to: .now) < .seconds(10), "attempt \(attempt)")
                }
                let open = try await gateway.post("/servers/flaky/tools/echo", token: token, json: #"{"text":"open"}"#)
                #expect(open.status == 503, "\(open.body)")
                #expect(open.headers["retry-after"] != nil)

                try await server.start()
                let back = try await eventually(timeout: .seconds(30)) { () -> GatewayHarness.Answer? in
                    let answer = try await gateway.post("/servers/flaky/tools/echo", token: token, json: #"{"text":"back"}"#)
                    return answer.status == 200 ? answer : nil
                }
                #expect(back.body.firstText == "back")
                #expect(try await gateway.post("/servers/flaky/tools/echo", token: token, json: #"{"text":"again"}"#).status == 200)
            }
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    @Test func aServerThatWentDownKeepsItsLastKnownToolsListedAndMarkedStale() async throws {
        let server = try FixtureServer(.streamableHTTPJSON)
        try await server.start()
        var options = GatewayHarness.Options(
            servers: [try Fixtures.stdioServer("healthy"), Self.httpServer("gone", url: "http://127.0.0.1:\(server.port)/mcp")],
            groupGrants: [("Team", "healthy"), ("Team", "gone")]
        )
        options.mcpClient.toolCacheTTL = .zero  // every listing revalidates behind the caller
        options.mcpClient.breakerFailureThreshold = 2
        options.mcpClient.breakerOpenDuration = .seconds(60)
        do {
            try await GatewayHarness.run(options) { gateway in
                let token = gateway.token(groups: ["Team"])
                let session = try await gateway.mcpSession(token: token)
                let first = try await gateway.mcp(token: token, GatewayHarness.request(1, "tools/list"), session: session)
                let tools = { (listing: GatewayHarness.Answer) in
                    Set(listing.body["result"]?["tools"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? [])
                }
                #expect(tools(first).contains("gone__echo"))
                #expect(Self.degraded(first.body).isEmpty)

                await server.kill()
                // Its tools stay listed through every listing, and soon say they are its last known ones.
                var marked = false
                for round in 2..<60 where !marked {
                    let listing = try await gateway.mcp(token: token, GatewayHarness.request(Int64(round), "tools/list"), session: session)
                    #expect(listing.status == 200)
                    #expect(tools(listing).isSuperset(of: ["gone__echo", "healthy__echo"]), "round \(round)")
                    marked = Self.degraded(listing.body)["gone"] == true
                    if !marked { try await Task.sleep(for: .milliseconds(100)) }
                }
                #expect(marked)
                // A call is refused at once (the breaker is open), not run.
                let call = try await gateway.post("/servers/gone/tools/echo", token: token, json: #"{"text":"x"}"#)
                #expect(call.status == 503, "\(call.body)")
            }
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    @Test func aSlowServerHoldsOnlyItsOwnShareOfAWorker() async throws {
        var options = GatewayHarness.Options(
            servers: [try Fixtures.stdioServer("slow"), try Fixtures.stdioServer("fast")], groupGrants: [("Team", "slow"), ("Team", "fast")]
        )
        options.workerConcurrency = 2
        try await GatewayHarness.run(options) { gateway in
            let token = gateway.token(groups: ["Team"])
            #expect(try await gateway.post("/servers/slow/tools/echo", token: token, json: #"{"text":"warm"}"#).status == 200)
            #expect(try await gateway.post("/servers/fast/tools/echo", token: token, json: #"{"text":"warm"}"#).status == 200)
            let finished = try await withThrowingTaskGroup(of: String.self) { group in
                // Twice the worker's share of slow calls: two run, two wait in the slow queue.
                for index in 0..<4 {
                    group.addTask {
                        let answer = try await gateway.post("/servers/slow/tools/sleep", token: token, json: #"{"seconds":4}"#)
                        #expect(answer.status == 200, "\(answer.body)")
                        return "slow-\(index)"
                    }
                }
                group.addTask {
                    try await Task.sleep(for: .milliseconds(500))
                    let fast = try await gateway.post("/servers/fast/tools/echo", token: token, json: #"{"text":"quick"}"#)
                    #expect(fast.body.firstText == "quick")
                    return "fast"
                }
                var order: [String] = []
                for try await label in group { order.append(label) }
                return order
            }
            // The fast server's call did not wait for the slow server's.
            #expect(finished.first == "fast", "\(finished)")
        }
    }
}

/// The breaker as an operator sees it on the real worker's `/metrics`.
@Suite struct CircuitMetricsTests {
    @Test func anOpenBreakerIsOnTheWorkersMetrics() async throws {
        var options = GatewayProcesses.Options()
        options.workers = 1
        options.servers = [BrokenBackendTests.httpServer("dead", url: try BrokenBackendTests.refusedURL())]
        options.groupGrants = [("Team", "dead")]
        options.environment = ["MCP_BREAKER_FAILURES": "2", "MCP_BREAKER_OPEN_MS": "60000"]
        try await GatewayProcesses.run(options) { gateway in
            let token = gateway.token(groups: ["Team"])
            var statuses: [Int] = []
            for _ in 0..<3 { statuses.append(try await gateway.post("/servers/dead/tools/echo", token: token, json: #"{"text":"x"}"#).status) }
            #expect(statuses == [502, 502, 503])
            // Refusals are counted where a request meets the open breaker (the refused call's
            // listing also tries a refresh behind it), so read once they are there.
            let metrics = try await eventually(timeout: .seconds(10)) { () -> Exposition? in
                let metrics = Exposition(try await gateway.text(of: "\(gateway.workerHealthURL(0))/metrics"))
                return metrics.value("mcp_backend_circuit_refusals_total", ["server": "dead"]) != nil ? metrics : nil
            }
            #expect(metrics.value("mcp_backend_circuit_state", ["server": "dead"]) == 2)
            #expect((metrics.value("mcp_backend_circuit_refusals_total", ["server": "dead"]) ?? 0) >= 1)
        }
    }
}
