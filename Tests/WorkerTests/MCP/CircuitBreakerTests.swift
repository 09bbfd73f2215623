import Testing

@testable import Worker

/// The breaker's rules, step by step, with the clock in the test's hands.
@Suite struct CircuitBreakerTests {
    let policy = CircuitBreaker.Policy(failureThreshold: 3, openDuration: .seconds(5), maximumOpenDuration: .seconds(15))
    let start = ContinuousClock.now

    @Test func failuresInARowOpenItAndASuccessResetsTheCount() {
        var breaker = CircuitBreaker(policy: policy)
        #expect(breaker.record(success: false, probe: false, at: start) == nil)
        #expect(breaker.record(success: false, probe: false, at: start) == nil)
        #expect(breaker.record(success: true, probe: false, at: start) == nil)
        #expect(breaker.record(success: false, probe: false, at: start) == nil)
        #expect(breaker.record(success: false, probe: false, at: start) == nil)
        #expect(breaker.admit(at: start) == .allowed)
        #expect(breaker.record(success: false, probe: false, at: start) == .open)
        #expect(breaker.admit(at: start + .seconds(2)) == .refused(retryAfter: .seconds(3)))
        #expect(breaker.phase(at: start + .seconds(2)) == .open)
    }

    @Test func afterTheOpenPeriodOneProbeGoesThroughAndDecides() {
        var breaker = CircuitBreaker(policy: policy)
        for _ in 0..<3 { breaker.record(success: false, probe: false, at: start) }
        let later = start + .seconds(5)
        #expect(breaker.phase(at: later) == .halfOpen)
        #expect(breaker.admit(at: later) == .probe)
        #expect(breaker.admit(at: later) == .refused(retryAfter: .seconds(1)))
        // A request admitted before the breaker opened does not move it.
        #expect(breaker.record(success: true, probe: false, at: later) == nil)
        #expect(breaker.record(success: true, probe: true, at: later) == .closed)
        #expect(breaker.admit(at: later) == .allowed)
    }

    @Test func aFailedProbeOpensItForTwiceAsLongUpToTheMaximum() {
        var breaker = CircuitBreaker(policy: policy)
        for _ in 0..<3 { breaker.record(success: false, probe: false, at: start) }
        var now = start + .seconds(5)
        var expected: [Duration] = [.seconds(10), .seconds(15), .seconds(15)]
        while !expected.isEmpty {
            #expect(breaker.admit(at: now) == .probe)
            #expect(breaker.record(success: false, probe: true, at: now) == .open)
            let period = expected.removeFirst()
            #expect(breaker.admit(at: now) == .refused(retryAfter: period))
            now = now + period
        }
    }

    @Test func anAbandonedProbeLetsTheNextRequestProbe() {
        var breaker = CircuitBreaker(policy: policy)
        for _ in 0..<3 { breaker.record(success: false, probe: false, at: start) }
        let later = start + .seconds(6)
        #expect(breaker.admit(at: later) == .probe)
        breaker.abandonProbe()
        #expect(breaker.admit(at: later) == .probe)
    }

    @Test func aZeroThresholdNeverOpens() {
        var breaker = CircuitBreaker(policy: .init(failureThreshold: 0, openDuration: .seconds(1), maximumOpenDuration: .seconds(1)))
        for _ in 0..<100 { #expect(breaker.record(success: false, probe: false, at: start) == nil) }
        #expect(breaker.admit(at: start) == .allowed)
    }

    @Test(arguments: [(Duration.milliseconds(1), 1), (.seconds(1), 1), (.milliseconds(1001), 2), (.seconds(59), 59), (.zero, 1)])
    func retryAfterIsWholeSecondsRoundedUp(duration: Duration, seconds: Int) {
        #expect(CircuitBreaker.seconds(duration) == seconds)
    }
}
