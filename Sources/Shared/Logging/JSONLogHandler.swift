import Foundation
import Logging

/// A `LogHandler` that writes one JSON object per line to standard error:
/// `{"ts":"…","level":"info","label":"…","msg":"…","call_id":"…",…}`.
///
/// Metadata keys are written as given; the request's correlation id travels as the
/// `call_id` metadata key (see ``LogKeys``) so every line of one call can be found by it.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    /// Metadata of the task's context (with tracing on: `trace_id`, `span_id`), added to each line.
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String

    public init(label: String, level: Logger.Level = .info, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.logLevel = level
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var object: [String: Any] = [
            "ts": Self.timestamp(),
            "level": event.level.rawValue,
            "label": label,
            "msg": event.message.description,
        ]
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        for (key, value) in merged { object[key] = Self.jsonValue(value) }
        if event.level >= .error { object["source"] = "\(event.file):\(event.line)" }
        guard var data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return }
        data.append(0x0A)
        FileHandle.standardError.write(data)
    }

    private static func jsonValue(_ value: Logger.Metadata.Value) -> Any {
        switch value {
        case .string(let string): return string
        case .stringConvertible(let convertible): return convertible.description
        case .array(let array): return array.map(jsonValue)
        case .dictionary(let dictionary): return dictionary.mapValues(jsonValue)
        }
    }

    private static func timestamp() -> String {
        Date.now.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }
}

/// Metadata keys shared by every component, so that log queries work across processes.
public enum LogKeys {
    /// The call id: the envelope's id, the AMQP `correlation_id` and `message_id`.
    public static let callID = "call_id"
    public static let server = "mcp_server"
    public static let tool = "mcp_tool"
    public static let queue = "amqp_queue"
    public static let error = "error"
}

public enum GatewayLogging {
    /// Installs the JSON handler process-wide, at the level named by `LOG_LEVEL` (default `info`),
    /// with the current span's `trace_id` and `span_id` on every line when tracing is configured.
    /// Call once, first thing in `main`.
    public static func bootstrap(environment: EnvironmentReader = EnvironmentReader()) {
        let level = environment.string("LOG_LEVEL").flatMap { Logger.Level(rawValue: $0.lowercased()) } ?? .info
        let provider = GatewayTracing.loggingMetadataProvider(environment)
        LoggingSystem.bootstrap({ label, provider in JSONLogHandler(label: label, level: level, metadataProvider: provider) }, metadataProvider: provider)
    }
}
