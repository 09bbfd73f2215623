import Testing

@testable import Worker

/// Which row of `rate_limits` applies: the most specific of a scope (own subject before `*`,
/// own server before `*`).
@Suite struct RateLimitSelectionTests {
    static let limits = [
        RateLimit(scope: .user, subject: "*", requestsPerMinute: 1),
        RateLimit(scope: .user, subject: "*", server: "github", requestsPerMinute: 2),
        RateLimit(scope: .user, subject: "t/alice", requestsPerMinute: 3),
        RateLimit(scope: .user, subject: "t/alice", server: "github", requestsPerMinute: 4),
        RateLimit(scope: .tenant, subject: "acme", maxConcurrent: 5),
    ]

    @Test(arguments: [
        ("t/alice", "github", 4), ("t/alice", "notion", 3), ("t/bob", "github", 2), ("t/bob", "notion", 1),
    ])
    func theMostSpecificUserLimitApplies(user: String, server: String, rate: Int) {
        #expect(RateLimit.applicable(Self.limits, scope: .user, subject: user, server: server)?.requestsPerMinute == rate)
    }

    @Test func aScopeWithoutRowsHasNoLimit() {
        #expect(RateLimit.applicable(Self.limits, scope: .tenant, subject: "other", server: "github") == nil)
        #expect(RateLimit.applicable(Self.limits, scope: .tenant, subject: "acme", server: "github")?.maxConcurrent == 5)
    }

    @Test func aDefaultLimitCountsEachSubjectInABucketOfItsOwn() {
        let limit = RateLimit(scope: .user, subject: "*", requestsPerMinute: 1)
        #expect(limit.bucketKey(subject: "t/alice") != limit.bucketKey(subject: "t/bob"))
    }
}
