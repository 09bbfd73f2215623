/// One row of a ``PostgresRows``, read by column name: `try row.decode(String.self, "id")`.
public struct PostgresRow: Sendable {
    let storage: PostgresRows.Storage
    let index: Int

    public var columns: [PostgresRows.Column] { storage.columns }

    /// The value of `column` as `T`; decode `T?` to accept `NULL`.
    ///
    /// - Throws: ``PostgresError`` with code `columnNotFound`, or `decoding` naming the column,
    ///   its SQL type and `T` when the value does not read as `T`.
    public func decode<T: PostgresDecodable>(_ type: T.Type = T.self, _ column: String) throws(PostgresError) -> T {
        try self[column].decode(T.self)
    }

    /// The value at a column position, for results whose columns share a name.
    public func decode<T: PostgresDecodable>(_ type: T.Type = T.self, at position: Int) throws(PostgresError) -> T {
        try self[position].decode(T.self)
    }

    /// A `jsonb`/`json` (or JSON `text`) column decoded with `JSONDecoder`.
    public func decodeJSON<T: Decodable & Sendable>(_ type: T.Type = T.self, _ column: String) throws(PostgresError) -> T {
        try self[column].decode(PostgresJSON<T>.self).value
    }

    /// The cell of a column, by name; `try row["id"].decode(String.self)`.
    public subscript(column: String) -> PostgresCell {
        get throws(PostgresError) {
            guard let position = storage.indexByName[column] else {
                let known = storage.columns.map(\.name).joined(separator: ", ")
                throw PostgresError(
                    code: .columnNotFound,
                    message: "the result has no column '\(column)' (columns: \(known))",
                    column: column
                )
            }
            return cell(at: position)
        }
    }

    /// The cell at a column position.
    public subscript(position: Int) -> PostgresCell {
        get throws(PostgresError) {
            guard storage.columns.indices.contains(position) else {
                throw PostgresError(
                    code: .columnNotFound,
                    message: "the result has no column at position \(position) (it has \(storage.columns.count))"
                )
            }
            return cell(at: position)
        }
    }

    private func cell(at position: Int) -> PostgresCell {
        let column = storage.columns[position]
        return PostgresCell(column: column.name, type: column.type, text: storage.cells[index * storage.columns.count + position])
    }
}

/// One value of a row, as the server sent it in text format.
public struct PostgresCell: Sendable, Hashable {
    public var column: String
    public var type: PostgresDataType
    /// The text output of the value; `nil` for SQL `NULL`.
    public var text: String?

    public var isNull: Bool { text == nil }

    /// The value as `T`; decode `T?` to accept `NULL`.
    public func decode<T: PostgresDecodable>(_ type: T.Type = T.self) throws(PostgresError) -> T {
        do {
            guard let text else { return try T.postgresNull() }
            return try T(postgresText: text, type: self.type)
        } catch let failure as PostgresTextFormat.Failure {
            throw decodingError(T.self, reason: failure.reason)
        } catch {
            throw decodingError(T.self, reason: "\(error)")
        }
    }

    private func decodingError<T>(_: T.Type, reason: String) -> PostgresError {
        PostgresError(
            code: .decoding,
            message: "column '\(column)' (\(type)) cannot be read as \(T.self): \(reason)",
            column: column
        )
    }
}
