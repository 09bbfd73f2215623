import Testing
import Worker

@Suite struct ToolPatternTests {
    @Test(arguments: [
        ("delete_*", "delete_repo", true), ("delete_*", "delete_", true), ("delete_*", "undelete_repo", false),
        ("delete_*", "delete", false), ("*", "anything", true), ("*", "", true), ("get_?", "get_a", true), ("get_?", "get_ab", false),
        ("*_issue*", "create_issue_comment", true), ("*_issue*", "issues", false), ("echo", "echo", true), ("echo", "Echo", false),
        ("a*b*c", "axxbyyc", true), ("a*b*c", "axxbyy", false), ("**", "x", true),
    ])
    func globsMatchTheWholeToolName(pattern: String, name: String, matches: Bool) {
        #expect(ToolPattern(pattern).matches(name) == matches)
    }
}
