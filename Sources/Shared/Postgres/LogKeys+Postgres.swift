/// Metadata keys of the PostgreSQL client, prefixed `pg_` so log queries can select them.
extension LogKeys {
    public static let pgConnectionID = "pg_connection_id"
    public static let pgBackendPID = "pg_backend_pid"
    public static let pgPoolSize = "pg_pool_size"
    public static let pgAcquireTimeout = "pg_acquire_timeout"
    public static let pgTarget = "pg_target"
    public static let pgError = "pg_error"
    public static let pgMigration = "pg_migration"
}
