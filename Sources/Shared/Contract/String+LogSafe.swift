extension String {
    /// The string in single quotes, cut to `limit` characters, with control characters escaped,
    /// so that a value from a message cannot forge or break a log line.
    func quotedForLog(limit: Int = 128) -> String {
        var text = ""
        for scalar in prefix(limit).unicodeScalars {
            text += scalar.properties.generalCategory == .control ? scalar.escaped(asASCII: true) : String(scalar)
        }
        return "'" + text + (count > limit ? "…'" : "'")
    }
}
