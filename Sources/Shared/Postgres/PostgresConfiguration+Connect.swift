import CLibPQ
import Foundation

extension PostgresConfiguration {
    /// `PQconnectdbParams` with these settings. It blocks until the session is up or has failed
    /// (check `PQstatus`), so only a connection's own thread calls it. Nil when libpq could not
    /// allocate a connection object.
    func connectBlocking() -> OpaquePointer? {
        let parameters = connectParameters
        let keywords = parameters.map { strdup($0.0) }
        let values = parameters.map { strdup($0.1) }
        defer {
            keywords.forEach { free($0) }
            values.forEach { free($0) }
        }
        let keywordPointers = keywords.map { UnsafePointer($0) } + [nil]
        let valuePointers = values.map { UnsafePointer($0) } + [nil]
        return PQconnectdbParams(keywordPointers, valuePointers, 1)
    }
}
