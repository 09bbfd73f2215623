import Shared

/// One JSON-RPC 2.0 message received on the MCP endpoint, classified by shape.
///
/// A request has a `method` and an `id` (a string or an integer, never null); a notification has
/// a `method` and no `id`; a response has an `id` and a `result` or an `error`. Anything else is
/// an invalid request, answered with -32600 (and the id, when one could be read).
enum JSONRPCMessage: Sendable, Equatable {
    case request(id: JSONValue, method: String, params: JSONValue?)
    case notification(method: String, params: JSONValue?)
    case response(id: JSONValue)

    /// Classifies `value`, or throws the error to answer (with the id to answer it under).
    init(_ value: JSONValue) throws(JSONRPCFailure) {
        guard let object = value.objectValue else {
            throw JSONRPCFailure(id: .null, error: .invalidRequest("a JSON-RPC message must be an object"))
        }
        let id = object["id"]
        let answerID: JSONValue = Self.isValidID(id) ? id ?? .null : .null
        guard object["jsonrpc"]?.stringValue == "2.0" else {
            throw JSONRPCFailure(id: answerID, error: .invalidRequest("\"jsonrpc\" must be \"2.0\""))
        }
        if let method = object["method"] {
            guard let name = method.stringValue, !name.isEmpty else {
                throw JSONRPCFailure(id: answerID, error: .invalidRequest("\"method\" must be a non-empty string"))
            }
            let params = object["params"]
            if let params, !params.isObject, params.arrayValue == nil {
                throw JSONRPCFailure(id: answerID, error: .invalidRequest("\"params\" must be an object or an array"))
            }
            guard let id else {
                self = .notification(method: name, params: params)
                return
            }
            guard Self.isValidID(id) else {
                throw JSONRPCFailure(id: .null, error: .invalidRequest("\"id\" must be a string or an integer"))
            }
            self = .request(id: id, method: name, params: params)
            return
        }
        guard Self.isValidID(id), let id, object["result"] != nil || object["error"] != nil else {
            throw JSONRPCFailure(id: answerID, error: .invalidRequest("a message needs a \"method\", or an \"id\" with a \"result\" or an \"error\""))
        }
        self = .response(id: id)
    }

    /// MCP ids are strings or integers; JSON-RPC's null id is not allowed for requests.
    static func isValidID(_ id: JSONValue?) -> Bool {
        switch id {
        case .string, .integer: true
        case .double(let value): value.rounded() == value
        default: false
        }
    }

    var method: String? {
        switch self {
        case .request(_, let method, _), .notification(let method, _): method
        case .response: nil
        }
    }
}

/// A JSON-RPC error object: `{"code": …, "message": …, "data": …}`.
struct JSONRPCError: Error, Sendable, Equatable {
    var code: Int
    var message: String
    var data: JSONValue?

    static func parseError(_ message: String) -> Self { .init(code: -32700, message: message) }
    static func invalidRequest(_ message: String) -> Self { .init(code: -32600, message: message) }
    static func methodNotFound(_ method: String) -> Self { .init(code: -32601, message: "method not found: \(method)") }
    static func invalidParams(_ message: String, data: JSONValue? = nil) -> Self { .init(code: -32602, message: message, data: data) }
    static func internalError(_ message: String, data: JSONValue? = nil) -> Self { .init(code: -32603, message: message, data: data) }

    var json: JSONValue {
        var object: [String: JSONValue] = ["code": .integer(Int64(code)), "message": .string(message)]
        if let data { object["data"] = data }
        return .object(object)
    }
}

/// An error together with the id of the request it answers.
struct JSONRPCFailure: Error, Sendable {
    var id: JSONValue
    var error: JSONRPCError
}

enum JSONRPCResponse {
    static func result(id: JSONValue, _ result: JSONValue) -> JSONValue {
        ["jsonrpc": "2.0", "id": id, "result": result]
    }

    static func error(id: JSONValue, _ error: JSONRPCError) -> JSONValue {
        ["jsonrpc": "2.0", "id": id, "error": error.json]
    }

    static func notification(method: String, params: JSONValue) -> JSONValue {
        ["jsonrpc": "2.0", "method": .string(method), "params": params]
    }
}
