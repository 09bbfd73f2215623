/// Why an audit or dead-letter command stopped, with the exit status it documents
/// (docs/audit.md, "Exit codes"). Each failure reads nothing more and changes nothing.
public struct AuditFailure: Error, Sendable, CustomStringConvertible {
    public struct Code: Sendable, Hashable {
        public let exitStatus: Int32
        public let name: String

        /// Read fine, but no record (or dead letter) matched the filters.
        public static let noMatch = Code(exitStatus: 3, name: "no_match")
        /// No record of that call id on the stream and no ledger row.
        public static let unknownCallID = Code(exitStatus: 4, name: "unknown_call_id")
        /// `--from OFFSET` lies beyond the newest record.
        public static let offsetPastEnd = Code(exitStatus: 5, name: "offset_past_end")
        /// A time, duration, offset or call id that cannot be read.
        public static let malformedInput = Code(exitStatus: 6, name: "malformed_input")
        /// The stream (or dead-letter queue) does not exist on the broker.
        public static let missingStream = Code(exitStatus: 7, name: "missing_stream")
        /// The broker cannot be reached (or refused the connection).
        public static let brokerDown = Code(exitStatus: 8, name: "broker_down")
        /// PostgreSQL cannot be reached (for the ledger).
        public static let databaseDown = Code(exitStatus: 9, name: "database_down")
        /// The operator did not confirm, or a refusal such as an existing output file.
        public static let refused = Code(exitStatus: 10, name: "refused")
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
