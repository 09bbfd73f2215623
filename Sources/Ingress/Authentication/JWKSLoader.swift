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

    func load(_ url: URL) async throws(JWKSLoadError) -> JWKSKeySet {
        let data = url.isFileURL ? try read(url) : try await fetch(url)
        return try await JWKSKeySet.parse(data)
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
