//! Multi-row INSERT, which diesel's `MultiConnection` cannot express (its batch insert needs
//! the backend's own dialect types). Each chunk is one `Stmt`, so the statement stays prepared
//! and values are bound, never inlined. Used on the hot paths of a POST, where one statement per
//! chunk of rows instead of one per row pays.

use super::stmt::Stmt;
pub use super::stmt::Value;
use super::{Conn, StorageError};
use diesel::RunQueryDsl;

/// Parameters per statement: far below every engine's limit (SQLite's historic 999 included).
const MAX_BINDS: usize = 900;

/// Inserts `rows` (each one value per column, in `columns` order) into `table`.
pub fn insert(
    conn: &mut Conn,
    table: &str,
    columns: &[&str],
    rows: &[Vec<Value<'_>>],
) -> Result<(), StorageError> {
    let per = (MAX_BINDS / columns.len()).max(1);
    // SQLite: a multi-row INSERT that may stop halfway on a constraint (ABORT, the default)
    // keeps a statement journal, a copy of every page it changes, so that it can be undone
    // alone. FAIL leaves the rows before the failure in place instead; every caller fails its
    // whole transaction on an error, so nothing of it stays, and no journal is kept.
    let verb = match conn {
        Conn::Sqlite(_) => "INSERT OR FAIL INTO",
        Conn::Postgres(_) => "INSERT INTO",
    };
    for chunk in rows.chunks(per) {
        let mut q = statement(verb, table, columns, chunk);
        // Full chunks share one text; a last short one's length varies from call to call.
        if chunk.len() < per {
            q.one_off();
        }
        q.execute(conn)?;
    }
    Ok(())
}

fn statement<'a>(
    verb: &str,
    table: &str,
    columns: &[&str],
    rows: &[Vec<Value<'a>>],
) -> Stmt<'a, ()> {
    let mut q = Stmt::new(&format!("{verb} {table} ({}) VALUES ", columns.join(", ")));
    for (r, row) in rows.iter().enumerate() {
        q.sql(if r == 0 { "(" } else { ", (" });
        for (c, v) in row.iter().enumerate() {
            if c > 0 {
                q.sql(", ");
            }
            q.value(*v);
        }
        q.sql(")");
    }
    q
}

#[cfg(test)]
mod tests {
    use super::{statement, Value};

    #[test]
    fn one_row_of_placeholders_per_row() {
        let rows = vec![
            vec![Value::Int(1), Value::Text("x")],
            vec![Value::OptText(None), Value::Bool(true)],
        ];
        assert_eq!(
            statement("INSERT INTO", "t", &["a", "b"], &rows).sql_text(),
            "INSERT INTO t (a, b) VALUES (?, ?), (?, ?)"
        );
    }
}
