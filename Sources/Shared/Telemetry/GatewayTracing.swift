import Logging
import OTel
import ServiceLifecycle
import Synchronization
import Tracing

/// Distributed tracing with swift-distributed-tracing, exported by swift-otel over OTLP/HTTP.
///
/// Off unless the standard `OTEL_*` variables ask for it (``isConfigured(_:)``); then
/// ``bootstrap(serviceName:environment:)`` installs the tracer process-wide, and the rest of
/// swift-otel's `OTEL_*` variables apply (`OTEL_SERVICE_NAME`, `OTEL_TRACES_SAMPLER`,
/// `OTEL_EXPORTER_OTLP_PROTOCOL`…). Off, every helper here returns after one atomic load: no
/// span, no task-local, no header.
public enum GatewayTracing {
    private static let enabled = Atomic<Bool>(false)

    /// Whether this process installed a tracer.
    public static var isEnabled: Bool { enabled.load(ordering: .relaxed) }

    /// Whether the environment asks for traces: an OTLP endpoint is set
    /// (`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`),
    /// `OTEL_SDK_DISABLED` is not `true` and `OTEL_TRACES_EXPORTER` is not `none`.
    public static func isConfigured(_ environment: EnvironmentReader) -> Bool {
        guard environment.string("OTEL_EXPORTER_OTLP_ENDPOINT") != nil || environment.string("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != nil
        else { return false }
        if environment.string("OTEL_SDK_DISABLED")?.lowercased() == "true" { return false }
        return environment.string("OTEL_TRACES_EXPORTER")?.lowercased() != "none"
    }

    /// Installs the OTLP tracer when ``isConfigured(_:)``, and returns the exporter's service,
    /// which the process's service group must run first (so that it stops last, after flushing
    /// the spans of the calls that finished during shutdown); `nil` when tracing is off.
    /// Called from the servers' `run`; a second call in the same process (a test running a
    /// server twice) keeps the first tracer and returns `nil`. swift-otel's logs and metrics
    /// stay off (the logs go to standard error, the metrics to `/metrics`).
    public static func bootstrap(serviceName: String, environment: EnvironmentReader = EnvironmentReader()) throws -> (any Service)? {
        guard isConfigured(environment), !isEnabled else { return nil }
        var configuration = OTel.Configuration.default
        configuration.serviceName = serviceName  // OTEL_SERVICE_NAME overrides it
        configuration.logs.enabled = false
        configuration.metrics.enabled = false
        configuration.diagnosticLogger = .custom(Logger(label: "otel"))
        let (tracer, service) = try OTel.makeTracingBackend(configuration: configuration)
        InstrumentationSystem.bootstrap(tracer)
        enabled.store(true, ordering: .relaxed)
        return service
    }

    /// Adds `trace_id`, `span_id` and `trace_flags` of the current span to every log line, when
    /// ``isConfigured(_:)``; `nil` otherwise (no work per line).
    static func loggingMetadataProvider(_ environment: EnvironmentReader) -> Logger.MetadataProvider? {
        isConfigured(environment) ? OTel.makeLoggingMetadataProvider() : nil
    }

    /// Runs `body` in a new span (a child of the current one, or of `parent`), which records a
    /// thrown error and ends when `body` returns. With tracing off, runs `body` with no span.
    public static func withSpan<Result, Failure: Error>(
        _ name: String, ofKind kind: SpanKind = .internal, parent: TraceContext? = nil,
        _ body: ((any Span)?) async throws(Failure) -> Result
    ) async throws(Failure) -> Result {
        guard isEnabled else { return try await body(nil) }
        var context = InstrumentationContext.current ?? .topLevel
        if let parent {
            context = .topLevel
            InstrumentationSystem.instrument.extract(parent.headers, into: &context, using: DictionaryCarrier())
        }
        let span = InstrumentationSystem.tracer.startSpan(name, context: context, ofKind: kind)
        defer { span.end() }
        let outcome: Swift.Result<Result, Failure> = await InstrumentationContext.$current.withValue(span.context) {
            do throws(Failure) {
                return .success(try await body(span))
            } catch {
                return .failure(error)
            }
        }
        if case .failure(let error) = outcome {
            span.recordError(error)
            span.setStatus(SpanStatus(code: .error))
        }
        return try outcome.get()
    }

    /// The current span's W3C trace context, to send on (AMQP headers, HTTP headers, MCP
    /// `_meta`); `nil` with tracing off or outside a span.
    public static var currentContext: TraceContext? {
        guard isEnabled, let context = InstrumentationContext.current else { return nil }
        var headers: [String: String] = [:]
        InstrumentationSystem.instrument.inject(context, into: &headers, using: DictionaryCarrier())
        return TraceContext(headers: headers)
    }
}

/// Reads and writes W3C trace context in a `[String: String]` (``TraceContext/headers``).
struct DictionaryCarrier: Injector, Extractor {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
    func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
}
