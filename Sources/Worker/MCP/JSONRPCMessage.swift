import Foundation
import Shared

/// One JSON-RPC 2.0 message as MCP uses it, in either direction.
///
/// Our requests carry integer ids from ``MCPRequestIDs``; a response whose id is not an integer
/// (or a numeric string) cannot be ours and is dropped by the transports.
enum JSONRPCMessage: Sendable, Equatable {
    case request(id: JSONValue, method: String, params: JSONValue?)
    case notification(method: String, params: JSONValue?)
    case result(id: JSONValue, result: JSONValue)
    case error(id: JSONValue?, code: Int64, message: String, data: JSONValue?)

    /// The JSON object of this message.
    var json: JSONValue {
        var object: [String: JSONValue] = ["jsonrpc": "2.0"]
        switch self {
        case .request(let id, let method, let params):
            object["id"] = id
            object["method"] = .string(method)
            if let params { object["params"] = params }
        case .notification(let method, let params):
            object["method"] = .string(method)
            if let params { object["params"] = params }
        case .result(let id, let result):
            object["id"] = id
            object["result"] = result
        case .error(let id, let code, let message, let data):
            object["id"] = id ?? .null
            var error: [String: JSONValue] = ["code": .integer(code), "message": .string(message)]
            if let data { error["data"] = data }
            object["error"] = .object(error)
        }
        return .object(object)
    }

    /// The message as one line of JSON (JSON text has no raw newlines, so stdio can frame it by `\n`).
    func encoded() throws -> Data {
        try ContractJSON.encoder.encode(json)
    }

    /// Our integer request id in a response, if the id is one we could have sent.
    var responseID: Int64? {
        switch self {
        case .result(let id, _), .error(.some(let id), _, _, _): Self.integerID(id)
        default: nil
        }
    }

    static func integerID(_ id: JSONValue) -> Int64? {
        switch id {
        case .integer(let value): value
        case .string(let value): Int64(value)
        case .double(let value): Int64(exactly: value)
        default: nil
        }
    }

    /// The messages in `data`: one object, or a JSON-RPC batch (an array of them, which
    /// protocol 2025-03-26 allowed servers to send).
    static func parse(_ data: some Collection<UInt8>) throws(JSONRPCParseError) -> [JSONRPCMessage] {
        guard ContractJSON.isNestingWithinLimit(data) else { throw JSONRPCParseError(reason: "nested too deeply") }
        let value: JSONValue
        do {
            value = try ContractJSON.decoder.decode(JSONValue.self, from: Data(data))
        } catch {
            throw JSONRPCParseError(reason: "not JSON (\(error))")
        }
        if case .array(let elements) = value {
            guard !elements.isEmpty else { throw JSONRPCParseError(reason: "an empty batch") }
            return try elements.map { element throws(JSONRPCParseError) in try message(from: element) }
        }
        return [try message(from: value)]
    }

    static func message(from value: JSONValue) throws(JSONRPCParseError) -> JSONRPCMessage {
        guard case .object(let object) = value else { throw JSONRPCParseError(reason: "not a JSON object") }
        guard object["jsonrpc"] == "2.0" else { throw JSONRPCParseError(reason: "jsonrpc is not \"2.0\"") }
        let params = object["params"]
        if let method = object["method"] {
            guard case .string(let name) = method else { throw JSONRPCParseError(reason: "method is not a string") }
            if let id = object["id"], id != .null { return .request(id: id, method: name, params: params) }
            return .notification(method: name, params: params)
        }
        if let result = object["result"] {
            guard let id = object["id"] else { throw JSONRPCParseError(reason: "a result without an id") }
            return .result(id: id, result: result)
        }
        if let error = object["error"] {
            guard let code = error["code"]?.int64Value else { throw JSONRPCParseError(reason: "an error without a code") }
            let message = error["message"]?.stringValue ?? ""
            let id = object["id"].flatMap { $0 == .null ? nil : $0 }
            return .error(id: id, code: code, message: message, data: error["data"])
        }
        throw JSONRPCParseError(reason: "neither a request, a notification nor a response")
    }
}

/// Bytes that are not a JSON-RPC message.
struct JSONRPCParseError: Error, CustomStringConvertible {
    var reason: String
    var description: String { "malformed JSON-RPC message: \(reason)" }
}

/// Standard JSON-RPC error codes we send back to servers.
enum JSONRPCErrorCode {
    static let methodNotFound: Int64 = -32601
}
