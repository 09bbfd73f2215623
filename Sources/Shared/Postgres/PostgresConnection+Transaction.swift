extension PostgresConnection {
    /// `BEGIN`, `body`, `COMMIT`; `ROLLBACK` and rethrow when `body` throws. Shared by
    /// ``PostgresClient/withTransaction(isolation:_:)`` and the migrator, which needs a
    /// transaction on the session that holds its advisory lock.
    func transaction<Result>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        _ = try await query("BEGIN", cancellable: true)
        let result: Result
        do {
            result = try await body(self)
        } catch {
            if !isBroken {
                // Not cancellable: the rollback must run even when the task is being cancelled.
                // If it fails, the session stays "in transaction" and the pool discards it.
                _ = try? await query("ROLLBACK", cancellable: false)
            }
            throw error
        }
        // Once the body succeeded the outcome is decided: finish it even if the task is being
        // cancelled, rather than leave the caller unsure whether it committed.
        let commit = try await query("COMMIT", cancellable: false)
        if commit.commandTag == "ROLLBACK" {
            throw PostgresError(
                code: .transactionRolledBack,
                message: "the transaction was rolled back: a statement inside it failed and its error was caught",
                query: "COMMIT"
            )
        }
        return result
    }
}
