extension String {
    /// The value escaped (quotes, control characters) and cut to 100 characters, for a log
    /// detail: token claims are attacker-controlled.
    var escapedForDetail: String {
        count > 100 ? String(prefix(100)).debugDescription + "…" : debugDescription
    }
}
