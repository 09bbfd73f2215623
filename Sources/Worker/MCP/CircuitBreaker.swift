/// When to stop sending requests to a backend that keeps failing, and when to try it again.
///
/// A pure state machine (the clock is passed in), so that its rules are tested with tables:
///
/// - **closed**: requests go through; `failureThreshold` failures in a row open it.
/// - **open** until a moment: requests are refused at once (the backend is not contacted), with
///   the time left as the caller's `Retry-After`.
/// - **half-open** once that moment has passed: exactly one request (the probe) goes through; the
///   others are refused until it ends. A probe that succeeds closes the breaker; one that fails
///   opens it again, for twice as long as the last time (at most `maximumOpenDuration`).
///
/// What counts as a failure is the caller's decision (``MCPBackend`` counts a backend that cannot
/// be reached, breaks the connection, or does not answer in time; a JSON-RPC error is an answer).
public struct CircuitBreaker: Sendable {
    struct Policy: Sendable, Hashable {
        /// Failures in a row that open the breaker; 0 turns the breaker off.
        var failureThreshold: Int
        var openDuration: Duration
        var maximumOpenDuration: Duration
    }

    enum State: Sendable, Equatable {
        case closed(failures: Int)
        case open(until: ContinuousClock.Instant)
        /// The open period has passed; `probing` while the one request let through runs.
        case halfOpen(probing: Bool)
    }

    /// What may happen to one request.
    enum Admission: Sendable, Equatable {
        case allowed
        /// Allowed as the half-open probe: its outcome decides the breaker's state.
        case probe
        case refused(retryAfter: Duration)
    }

    /// The state as metrics and status reports name it.
    public enum Phase: String, Sendable {
        case closed, open, halfOpen = "half_open"
    }

    let policy: Policy
    private(set) var state: State = .closed(failures: 0)
    /// How long the breaker stayed open the last time (doubled by each failed probe).
    private var lastOpenDuration: Duration?

    init(policy: Policy) {
        self.policy = policy
    }

    func phase(at now: ContinuousClock.Instant) -> Phase {
        switch state {
        case .closed: .closed
        case .open(let until): now < until ? .open : .halfOpen
        case .halfOpen: .halfOpen
        }
    }

    mutating func admit(at now: ContinuousClock.Instant) -> Admission {
        switch state {
        case .closed:
            return .allowed
        case .open(let until):
            guard now >= until else { return .refused(retryAfter: now.duration(to: until)) }
            state = .halfOpen(probing: true)
            return .probe
        case .halfOpen(let probing):
            guard !probing else { return .refused(retryAfter: .seconds(1)) }
            state = .halfOpen(probing: true)
            return .probe
        }
    }

    /// Records how a request that was admitted ended. Returns the new phase when it changed.
    @discardableResult
    mutating func record(success: Bool, probe: Bool, at now: ContinuousClock.Instant) -> Phase? {
        guard policy.failureThreshold > 0 else { return nil }
        switch state {
        case .closed(let failures):
            if success {
                state = .closed(failures: 0)
                return nil
            }
            guard failures + 1 >= policy.failureThreshold else {
                state = .closed(failures: failures + 1)
                return nil
            }
            open(for: policy.openDuration, at: now)
            return .open
        case .halfOpen:
            // Only the probe's outcome moves a half-open breaker; requests admitted before it
            // opened may still be finishing.
            guard probe else { return nil }
            if success {
                state = .closed(failures: 0)
                lastOpenDuration = nil
                return .closed
            }
            open(for: min((lastOpenDuration ?? policy.openDuration) * 2, policy.maximumOpenDuration), at: now)
            return .open
        case .open:
            return nil
        }
    }

    /// A probe that ended without an outcome (cancelled by its caller) lets the next request probe.
    mutating func abandonProbe() {
        if case .halfOpen(probing: true) = state { state = .halfOpen(probing: false) }
    }

    /// Whole seconds, rounded up (at least 1): a `Retry-After` value.
    static func seconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        return max(1, Int(clamping: seconds) + (attoseconds > 0 ? 1 : 0))
    }

    private mutating func open(for duration: Duration, at now: ContinuousClock.Instant) {
        lastOpenDuration = duration
        state = .open(until: now + duration)
    }
}
