/// The complete result of one statement, copied out of libpq before the call returns.
///
/// Fully materialised rather than streamed: the gateway's queries return catalog and grant rows,
/// a few hundred at most, and a materialised result holds no connection while it is read. Use
/// `LIMIT` (or paging by key) for anything that can grow without bound.
public struct PostgresRows: Sendable, RandomAccessCollection {
    /// A result column: its name and type as the server described them.
    public struct Column: Sendable, Hashable {
        public var name: String
        public var type: PostgresDataType
    }

    final class Storage: Sendable {
        let columns: [Column]
        /// Row-major: the value of row `r`, column `c` is at `r * columns.count + c`.
        let cells: [String?]
        let rowCount: Int
        /// The first column of each name, as SQL's own `SELECT *` would resolve it.
        let indexByName: [String: Int]

        init(columns: [Column], cells: [String?], rowCount: Int) {
            self.columns = columns
            self.cells = cells
            self.rowCount = rowCount
            var indexByName: [String: Int] = [:]
            for (index, column) in columns.enumerated() where indexByName[column.name] == nil {
                indexByName[column.name] = index
            }
            self.indexByName = indexByName
        }
    }

    let storage: Storage
    /// The command tag (`INSERT 0 3`, `SELECT 2`, `CREATE TABLE`).
    public let commandTag: String
    /// Rows inserted, updated, deleted, selected, … as the command tag reports; 0 when it reports none.
    public let affectedRows: Int

    init(columns: [Column], cells: [String?], rowCount: Int, commandTag: String, affectedRows: Int) {
        storage = Storage(columns: columns, cells: cells, rowCount: rowCount)
        self.commandTag = commandTag
        self.affectedRows = affectedRows
    }

    public var columns: [Column] { storage.columns }
    public var columnNames: [String] { storage.columns.map(\.name) }

    public var startIndex: Int { 0 }
    public var endIndex: Int { storage.rowCount }

    public subscript(position: Int) -> PostgresRow {
        precondition(indices.contains(position), "row index \(position) out of range 0..<\(storage.rowCount)")
        return PostgresRow(storage: storage, index: position)
    }
}
