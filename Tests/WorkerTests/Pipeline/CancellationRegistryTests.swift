import Foundation
import Shared
import Testing

@testable import Worker

/// The worker's memory of cancelled calls: a queued call cancelled earlier never starts, a
/// running one is stopped, others are untouched.
@Suite struct CancellationRegistryTests {
    @Test func aCallCancelledBeforeItArrivesDoesNotStart() async {
        let registry = CancellationRegistry()
        registry.cancel("call-1")
        let outcome = await registry.run("call-1") { .result("ran") }
        #expect(outcome == .error(CancellationRegistry.cancelledError("call-1")))
        #expect(await registry.run("call-2") { .result("ran") } == .result("ran"))
    }

    @Test func aRunningCallIsCancelledAsATask() async {
        let registry = CancellationRegistry()
        let (started, startedContinuation) = AsyncStream.makeStream(of: Void.self)
        async let outcome = registry.run("call-1") { () async -> Reply.Outcome in
            startedContinuation.yield()
            do {
                try await Task.sleep(for: .seconds(600))
                return .result("slept")
            } catch {
                return .error(GatewayError(.unavailable, "interrupted"))
            }
        }
        var iterator = started.makeAsyncIterator()
        await iterator.next()
        registry.cancel("call-1")
        #expect(await outcome == .error(CancellationRegistry.cancelledError("call-1")))
    }
}
