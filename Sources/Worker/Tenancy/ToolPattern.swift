/// A tool rule's glob: `*` matches any run of characters (also none), `?` exactly one; every
/// other character matches itself. The whole tool name must match (`delete_*` matches
/// `delete_repo`, not `undelete_repo`).
public struct ToolPattern: Sendable, Hashable, CustomStringConvertible {
    public let text: String
    private let characters: [Character]

    public init(_ text: String) {
        self.text = text
        self.characters = Array(text)
    }

    public var description: String { text }

    public func matches(_ name: String) -> Bool {
        let name = Array(name)
        var p = 0, n = 0
        var star: Int? = nil, resume = 0
        while n < name.count {
            if p < characters.count && (characters[p] == "?" || characters[p] == name[n]) {
                p += 1
                n += 1
            } else if p < characters.count && characters[p] == "*" {
                star = p
                resume = n
                p += 1
            } else if let star {
                p = star + 1
                resume += 1
                n = resume
            } else {
                return false
            }
        }
        while p < characters.count && characters[p] == "*" { p += 1 }
        return p == characters.count
    }
}
