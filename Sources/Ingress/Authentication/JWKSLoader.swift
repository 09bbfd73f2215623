import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Fetches and parses one key set: over HTTP(S) with the application's `HTTPClient`, or from
/// a local file (development keys).
struct JWKSLoader: Sendable {
    let httpClient: HTTPClient
    let timeout: Duration
    let logger: Logger

    /// Entra's documents are a few kilobytes; a megabyte is a generous bound.
    static let maximumDocumentBytes = 1 << 20

    func load(_ source: JWKSSource) async throws(JWKSLoadError) -> JWKSKeySet {
        switch source.discovery {
        case .direct:
            return try await load(source.url)
        case .openIDMetadata(let expectedIssuer):
            return try await load(try await jwksURL(fromMetadata: source.url, expectedIssuer: expectedIssuer))
        }
    }

    func load(_ url: URL) async throws(JWKSLoadError) -> JWKSKeySet {
        let data = url.isFileURL ? try read(url) : try await fetch(url)
        return try await JWKSKeySet.parse(data)
    }

    /// The `jwks_uri` of an OpenID Provider configuration document, after checking that the
    /// document is the issuer's: its `issuer` must be the one expected (Microsoft: the
    /// tenant's). The key set must be `https://`, or `http://` when the document itself was
    /// (a local test server).
    func jwksURL(fromMetadata url: URL, expectedIssuer: String) async throws(JWKSLoadError) -> URL {
        let data = url.isFileURL ? try read(url) : try await fetch(url)
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw JWKSLoadError("OpenID configuration at \(url) is not a JSON object")
        }
        guard let issuer = object["issuer"] as? String, issuer == expectedIssuer else {
            throw JWKSLoadError("OpenID configuration at \(url) names issuer \((object["issuer"] as? String ?? "none").escapedForDetail), not \(expectedIssuer)")
        }
        guard let text = object["jwks_uri"] as? String, let jwks = URL(string: text),
            jwks.scheme?.lowercased() == "https" || (jwks.scheme?.lowercased() == "http" && url.scheme?.lowercased() == "http"),
            jwks.host?.isEmpty == false
        else {
            throw JWKSLoadError("OpenID configuration at \(url) has no usable https jwks_uri")
        }
        return jwks
    }

    private func fetch(_ url: URL) async throws(JWKSLoadError) -> Data {
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = .GET
        request.headers.add(name: "Accept", value: "application/json")
        do {
            let response = try await httpClient.execute(request, timeout: timeAmount(timeout), logger: logger)
            let body = try await response.body.collect(upTo: Self.maximumDocumentBytes)
            guard response.status == .ok else { throw JWKSLoadError("HTTP \(response.status.code)") }
            return Data(body.readableBytesView)
        } catch let error as JWKSLoadError {
            throw error
        } catch {
            throw JWKSLoadError("\(error)")
        }
    }

    /// A small local file, read in one call: only development configurations use `file://`.
    private func read(_ url: URL) throws(JWKSLoadError) -> Data {
        do {
            let data = try Data(contentsOf: url)
            guard data.count <= Self.maximumDocumentBytes else { throw JWKSLoadError("file larger than \(Self.maximumDocumentBytes) bytes") }
            return data
        } catch let error as JWKSLoadError {
            throw error
        } catch {
            throw JWKSLoadError("cannot read \(url.path): \(error.localizedDescription)")
        }
    }

    private func timeAmount(_ duration: Duration) -> TimeAmount {
        let (seconds, attoseconds) = duration.components
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
