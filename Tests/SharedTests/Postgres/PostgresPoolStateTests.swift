import Testing

@testable import Shared

/// The pool's rules, checked on the pure state machine (connections and waiters are just names).
@Suite struct PostgresPoolStateTests {
    typealias State = PostgresPoolState<String, String>

    @Test func opensUpToCapacityThenQueues() {
        var state = State(capacity: 2)
        #expect(grant(state.acquire(id: 1, waiter: "w1")) == "create")
        #expect(grant(state.acquire(id: 2, waiter: "w2")) == "create")
        #expect(grant(state.acquire(id: 3, waiter: "w3")) == "queued")
        #expect(state.open == 2)
    }

    @Test func waitersAreServedFirstComeFirstServed() {
        var state = State(capacity: 1)
        _ = state.acquire(id: 1, waiter: "w1")
        _ = state.acquire(id: 2, waiter: "w2")
        _ = state.acquire(id: 3, waiter: "w3")
        let first = state.release("c1", discard: false)
        #expect(first.resume?.waiter == "w2")
        let second = state.release("c1", discard: false)
        #expect(second.resume?.waiter == "w3")
        let third = state.release("c1", discard: false)
        #expect(third.resume == nil)
        #expect(state.idle == ["c1"])
    }

    @Test func aNewcomerDoesNotOvertakeWaiters() {
        var state = State(capacity: 1)
        _ = state.acquire(id: 1, waiter: "w1")
        _ = state.acquire(id: 2, waiter: "w2")
        let discarded = state.release("c1", discard: true)
        // The freed slot goes to the waiter, not to whoever asks next.
        #expect(discarded.resume?.waiter == "w2")
        #expect(grant(state.acquire(id: 3, waiter: "w3")) == "queued")
    }

    @Test func cancelledOrTimedOutWaitersLeaveTheQueue() {
        var state = State(capacity: 1)
        _ = state.acquire(id: 1, waiter: "w1")
        _ = state.acquire(id: 2, waiter: "w2")
        _ = state.acquire(id: 3, waiter: "w3")
        #expect(state.cancel(2) == "w2")
        #expect(state.timeOut(3) == "w3")
        #expect(state.cancel(2) == nil)
        #expect(state.release("c1", discard: false).resume == nil)
    }

    @Test func cancellationBeforeQueueingIsNotLost() {
        var state = State(capacity: 1)
        _ = state.acquire(id: 1, waiter: "w1")
        state.announce(2)
        #expect(state.cancel(2) == nil)
        #expect(grant(state.acquire(id: 2, waiter: "w2")) == "cancelled")
        #expect(state.waiterCount == 0)
    }

    @Test func discardedConnectionFreesItsSlot() {
        var state = State(capacity: 1)
        _ = state.acquire(id: 1, waiter: "w1")
        let handoff = state.release("c1", discard: true)
        #expect(handoff.close == "c1")
        #expect(state.open == 0)
        #expect(grant(state.acquire(id: 2, waiter: "w2")) == "create")
    }

    @Test func failedCreationHandsTheSlotToTheNextWaiter() {
        var state = State(capacity: 1)
        _ = state.acquire(id: 1, waiter: "w1")
        _ = state.acquire(id: 2, waiter: "w2")
        let handoff = state.creationFailed()
        #expect(handoff.resume?.waiter == "w2")
        #expect(state.open == 1)
    }

    @Test func closingFailsWaitersAndClosesIdleAndReturningConnections() {
        var state = State(capacity: 2)
        _ = state.acquire(id: 1, waiter: "w1")
        _ = state.acquire(id: 2, waiter: "w2")
        _ = state.release("c1", discard: false)
        _ = state.acquire(id: 3, waiter: "w3")
        _ = state.acquire(id: 4, waiter: "w4")
        let closed = state.close()
        #expect(closed.idle.isEmpty)
        #expect(closed.waiters == ["w4"])
        #expect(!closed.drained)
        let first = state.release("c1", discard: false)
        #expect(first.close == "c1" && !first.drained)
        let second = state.release("c2", discard: false)
        #expect(second.close == "c2" && second.drained)
        #expect(grant(state.acquire(id: 5, waiter: "w5")) == "closed")
    }

    private func grant(_ outcome: State.AcquireOutcome) -> String {
        switch outcome {
        case .granted(.create): "create"
        case .granted(.use(let connection)): "use \(connection)"
        case .queued: "queued"
        case .closed: "closed"
        case .cancelled: "cancelled"
        }
    }
}
