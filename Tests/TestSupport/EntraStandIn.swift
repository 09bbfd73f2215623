import Foundation
import Shared
import Synchronization

/// The local stand-in for Entra's key, metadata and token endpoints and for Microsoft Graph's
/// `transitiveMemberOf` (`Tests/Fixtures/entra/entra_standin.py`), one Python process on a free
/// loopback port per test. Its behaviour is a JSON state file the test rewrites at will; every
/// request it served is in its events file.
public final class EntraStandIn: Sendable {
    /// What the stand-in does; see the script's docstring.
    public struct State: Sendable {
        public var clientID: String
        public var clientSecret: String
        /// The one tenant Graph answers for.
        public var tenant: String
        /// User object id → the ids of the groups Graph lists for them.
        public var members: [String: [String]] = [:]
        public var pageSize = 100
        /// The app-only token's `expires_in`.
        public var expiresIn = 3599
        public var failGraph = false
        public var failToken = false
        /// Every answer is held back this long, so that concurrent requests overlap.
        public var delayMilliseconds = 0
        /// The `issuer` of the OpenID metadata, when not the tenant's own.
        public var metadataIssuer: String?
        /// Paging links that point at another host.
        public var foreignNextLink = false

        public init(clientID: String, clientSecret: String, tenant: String) {
            self.clientID = clientID
            self.clientSecret = clientSecret
            self.tenant = tenant
        }

        var json: JSONValue {
            .object([
                "clientId": .string(clientID), "clientSecret": .string(clientSecret), "tenant": .string(tenant),
                "members": .object(members.mapValues { .array($0.map(JSONValue.string)) }),
                "pageSize": .integer(Int64(pageSize)), "expiresIn": .integer(Int64(expiresIn)),
                "failGraph": .bool(failGraph), "failToken": .bool(failToken), "delayMs": .integer(Int64(delayMilliseconds)),
                "metadataIssuer": metadataIssuer.map(JSONValue.string) ?? .null, "foreignNextLink": .bool(foreignNextLink),
            ])
        }
    }

    public let port: Int
    private let statePath: String
    private let jwksPath: String
    private let eventsPath: String
    private let process = Mutex<Process?>(nil)

    /// `http://127.0.0.1:<port>`: the authority (`ENTRA_AUTHORITY`, `ENTRA_GRAPH_AUTHORITY`).
    public var baseURL: URL { URL(string: "http://127.0.0.1:\(port)")! }
    /// Graph's base URL here (`ENTRA_GRAPH_URL`).
    public var graphURL: URL { URL(string: "http://127.0.0.1:\(port)/v1.0")! }

    public init(state: State, keys: [TestSigningKey] = [.primary]) throws {
        port = try MCPTestEnvironment.freePort()
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("entra-standin-\(UUID().uuidString.prefix(8))").path
        statePath = base + "-state.json"
        jwksPath = base + "-jwks.json"
        eventsPath = base + "-events.jsonl"
        try update(state)
        try publish(keys)
    }

    /// Starts the process and waits until it accepts connections.
    public func start() async throws {
        let python = try MCPTestEnvironment.python()
        let script = URL(fileURLWithPath: MCPTestEnvironment.fixtureServer)
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("entra/entra_standin.py").path
        let child = try await MCPTestEnvironment.startHTTPServer(
            python, [script, "--port", "\(port)", "--state", statePath, "--jwks", jwksPath, "--events", eventsPath], port: port
        )
        process.withLock { $0 = child }
    }

    /// Kills the process (as an outage would) and waits until it is gone.
    public func stop() async {
        guard let child = process.withLock({ process in defer { process = nil }; return process }) else { return }
        await MCPTestEnvironment.stopHTTPServer(child)
    }

    /// Stops the process and removes its files.
    public func remove() async {
        await stop()
        for path in [statePath, jwksPath, eventsPath] { try? FileManager.default.removeItem(atPath: path) }
    }

    public func update(_ state: State) throws {
        try Data(String(describing: state.json).utf8).write(to: URL(fileURLWithPath: statePath), options: .atomic)
    }

    public func publish(_ keys: [TestSigningKey]) throws {
        try Data(TestSigningKey.jwks(keys).utf8).write(to: URL(fileURLWithPath: jwksPath), options: .atomic)
    }

    /// The requests served so far, oldest first.
    public func events() -> [JSONValue] {
        guard let text = try? String(contentsOfFile: eventsPath, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { try? ContractJSON.decoder.decode(JSONValue.self, from: Data($0.utf8)) }
    }

    /// How many requests of one kind (`jwks`, `metadata`, `token`, `graph`) were served.
    public func count(_ kind: String) -> Int {
        events().filter { $0["kind"]?.stringValue == kind }.count
    }

    /// Runs `body` with a started stand-in, and removes it afterwards whatever happens.
    public static func with<Value: Sendable>(
        _ state: State, keys: [TestSigningKey] = [.primary], _ body: (EntraStandIn) async throws -> Value
    ) async throws -> Value {
        let standIn = try EntraStandIn(state: state, keys: keys)
        do {
            try await standIn.start()
            let value = try await body(standIn)
            await standIn.remove()
            return value
        } catch {
            await standIn.remove()
            throw error
        }
    }
}
