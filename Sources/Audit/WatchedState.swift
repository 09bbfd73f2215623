import Synchronization

/// A value a reading task updates and the loop that decides when to stop it watches (a `Mutex`
/// cannot be captured by the task's escaping closure itself).
final class WatchedState<Value: Sendable>: Sendable {
    let mutex: Mutex<Value>

    init(_ value: Value) {
        mutex = Mutex(value)
    }
}
