import Foundation
import Hummingbird
import Shared

enum JSONResponse {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static func make(_ value: some Encodable, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) throws -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }
}

extension Request {
    /// The request body as a JSON object of tool arguments: empty means `{}`; anything that is
    /// not a JSON object, or larger than the limit, is refused with the error the client gets.
    func argumentsObject(limit: Int, callID: String) async throws -> JSONValue {
        let buffer: ByteBuffer
        do {
            buffer = try await body.collect(upTo: limit)
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            // NIO's NIOTooManyBytesError (and Hummingbird's own limit) answer 413 with their own body;
            // the client gets ours.
            throw GatewayHTTPError(GatewayError(.payloadTooLarge, "the request body is larger than \(limit) bytes"), callID: callID)
        }
        let bytes = buffer.readableBytesView
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return [:] }
        guard ContractJSON.isNestingWithinLimit(bytes, limit: RequestEnvelope.maximumArgumentsDepth) else {
            throw GatewayHTTPError(GatewayError(.badRequest, "the tool arguments are nested too deeply"), callID: callID)
        }
        let value: JSONValue
        do {
            value = try ContractJSON.decoder.decode(JSONValue.self, from: Data(bytes))
        } catch {
            throw GatewayHTTPError(GatewayError(.badRequest, "the request body is not valid JSON"), callID: callID)
        }
        guard value.isObject else {
            throw GatewayHTTPError(GatewayError(.badRequest, "the tool arguments must be a JSON object"), callID: callID)
        }
        return value
    }

    var traceContext: TraceContext? {
        header("traceparent").flatMap { TraceContext(traceparent: $0, tracestate: header("tracestate")) }
    }

    /// `X-Timeout-Ms`: how long the client is willing to wait (the server caps it).
    var requestedTimeoutMilliseconds: Int? {
        header("x-timeout-ms").flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    }

    /// The first value of a header by its (lower-case) name.
    func header(_ name: String) -> String? {
        headers.first { $0.name.canonicalName == name }?.value
    }
}
