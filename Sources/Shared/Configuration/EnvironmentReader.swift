import Foundation

/// Reads typed settings from environment variables and fails with an error that names the
/// variable, so that a misconfigured process stops at start with a message an operator can act on.
///
/// Every subsystem's `Configuration` has an `init(environment:)` built on this type; tests pass
/// a dictionary instead of the process environment.
public struct EnvironmentReader: Sendable {
    public let values: [String: String]

    public init(_ values: [String: String] = ProcessInfo.processInfo.environment) {
        self.values = values
    }

    /// The raw value, or `nil` when the variable is unset or empty.
    public func string(_ name: String) -> String? {
        guard let value = values[name], !value.isEmpty else { return nil }
        return value
    }

    public func string(_ name: String, default defaultValue: String) -> String {
        string(name) ?? defaultValue
    }

    public func require(_ name: String) throws(ConfigurationError) -> String {
        guard let value = string(name) else { throw ConfigurationError(variable: name, reason: "is required but not set") }
        return value
    }

    public func int(_ name: String, default defaultValue: Int, range: ClosedRange<Int>? = nil) throws(ConfigurationError) -> Int {
        guard let raw = string(name) else { return defaultValue }
        guard let value = Int(raw.trimmingCharacters(in: .whitespaces)) else {
            throw ConfigurationError(variable: name, reason: "must be a whole number, got '\(raw)'")
        }
        if let range, !range.contains(value) {
            throw ConfigurationError(variable: name, reason: "must be between \(range.lowerBound) and \(range.upperBound), got \(value)")
        }
        return value
    }

    public func bool(_ name: String, default defaultValue: Bool) throws(ConfigurationError) -> Bool {
        guard let raw = string(name) else { return defaultValue }
        switch raw.lowercased() {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw ConfigurationError(variable: name, reason: "must be true or false, got '\(raw)'")
        }
    }

    /// A duration given in milliseconds (`FOO_MS=2500`).
    public func milliseconds(_ name: String, default defaultValue: Duration, range: ClosedRange<Int>? = nil) throws(ConfigurationError) -> Duration {
        guard string(name) != nil else { return defaultValue }
        return .milliseconds(try int(name, default: 0, range: range))
    }

    /// A comma-separated list; blanks are dropped.
    public func list(_ name: String) -> [String] {
        guard let raw = string(name) else { return [] }
        return raw.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    public func oneOf<T: RawRepresentable>(_ name: String, default defaultValue: T) throws(ConfigurationError) -> T
    where T: CaseIterable, T.RawValue == String {
        guard let raw = string(name) else { return defaultValue }
        guard let value = T(rawValue: raw.lowercased()) else {
            let allowed = T.allCases.map(\.rawValue).joined(separator: ", ")
            throw ConfigurationError(variable: name, reason: "must be one of \(allowed), got '\(raw)'")
        }
        return value
    }
}

/// A setting that is missing or malformed. `description` names the variable and says why.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    public var variable: String
    public var reason: String

    public init(variable: String, reason: String) {
        self.variable = variable
        self.reason = reason
    }

    public var description: String { "\(variable) \(reason)" }
}
