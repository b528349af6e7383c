//! Multi-row INSERT, which diesel's `MultiConnection` cannot express (its batch insert needs
//! the backend's own dialect types). Each chunk is one `Stmt`, so the statement stays prepared
//! and values are bound, never inlined. Used on the hot paths of a POST, where one statement per
//! chunk of rows instead of one per row pays.

pub use super::stmt::Value;
use super::stmt::{encode_ints, encode_texts, push_quoted, Dialect, Item, Stmt};
use super::{Conn, StorageError};
use diesel::RunQueryDsl;
use std::fmt::Write;

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
    let verb = insert_verb(conn.dialect());
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

fn insert_verb(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "INSERT OR FAIL INTO",
        Dialect::Postgres => "INSERT INTO",
    }
}

/// Where one column of `insert_lists` takes its values from.
#[derive(Debug, Clone, Copy)]
pub enum Column<'a> {
    /// The same value in every row.
    Same(Value<'a>),
    /// One item per row.
    Ints(&'a [i64]),
    Texts(&'a [&'a str]),
    /// `start`, `start + 1`, ... in row order.
    Counted(i64),
}

impl Column<'_> {
    /// The number of items of a list column.
    fn len(&self) -> Option<usize> {
        match self {
            Column::Ints(v) => Some(v.len()),
            Column::Texts(v) => Some(v.len()),
            _ => None,
        }
    }

    /// A list column's items as one value for `dialect`, with their SQL type.
    fn encoded(&self, dialect: Dialect) -> Option<(Item, String)> {
        match self {
            Column::Ints(v) => Some((Item::Int, encode_ints(dialect, v))),
            Column::Texts(v) => Some((Item::Text, encode_texts(dialect, v))),
            _ => None,
        }
    }

    /// Appends a list column's item of row `r`, as JSON.
    fn push_json(&self, out: &mut String, r: usize) {
        match self {
            Column::Ints(v) => {
                let _ = write!(out, "{}", v[r]);
            }
            Column::Texts(v) => push_quoted(out, Dialect::Sqlite, v[r]),
            _ => {}
        }
    }
}

/// Inserts rows given column by column (every list as long as the others) in one statement, the
/// lists bound as one value (see `Dialect`): for the narrow tables a POST fills by the thousand
/// (deliveries, references, numbers), where a multi-row VALUES bound four values per row.
pub fn insert_lists(
    conn: &mut Conn,
    table: &str,
    columns: &[(&str, Column<'_>)],
) -> Result<(), StorageError> {
    let Some(q) = list_statement(conn.dialect(), table, columns) else {
        return Ok(());
    };
    q.execute(conn)?;
    Ok(())
}

/// `None` when there are no rows.
fn list_statement<'a>(
    dialect: Dialect,
    table: &str,
    columns: &[(&str, Column<'a>)],
) -> Option<Stmt<'a, ()>> {
    let lists: Vec<&Column> = columns
        .iter()
        .map(|(_, c)| c)
        .filter(|c| c.len().is_some())
        .collect();
    let rows = lists.first().and_then(|c| c.len()).unwrap_or(0);
    debug_assert!(
        lists.iter().all(|c| c.len() == Some(rows)),
        "lists of unequal length"
    );
    if rows == 0 {
        return None;
    }
    // SQLite: one list is a JSON array of its items; several, a JSON array per row.
    let flat = lists.len() == 1;
    let names: Vec<&str> = columns.iter().map(|(n, _)| *n).collect();
    let mut q = Stmt::new(&format!(
        "{} {table} ({}) SELECT ",
        insert_verb(dialect),
        names.join(", ")
    ));
    select_columns(&mut q, dialect, columns, flat);
    match dialect {
        Dialect::Sqlite => from_json(&mut q, &lists, rows, flat),
        Dialect::Postgres => from_unnest(&mut q, &lists),
    }
    Some(q)
}

/// Appends the SELECT list of `list_statement`: each column's value, or where its list puts it.
fn select_columns<'a>(
    q: &mut Stmt<'a, ()>,
    dialect: Dialect,
    columns: &[(&str, Column<'a>)],
    flat: bool,
) {
    let mut k = 0;
    for (i, (_, c)) in columns.iter().enumerate() {
        if i > 0 {
            q.sql(", ");
        }
        match (c, dialect) {
            (Column::Same(v), _) => {
                q.value(*v);
            }
            (Column::Counted(start), Dialect::Sqlite) => {
                q.int(*start).sql(" + key");
            }
            (Column::Counted(start), Dialect::Postgres) => {
                q.int(*start).sql(" + ord - 1");
            }
            (_, Dialect::Sqlite) if flat => {
                q.sql("value");
            }
            (_, Dialect::Sqlite) => {
                q.sql(&format!("value ->> {k}"));
                k += 1;
            }
            (_, Dialect::Postgres) => {
                q.sql(&format!("c{k}"));
                k += 1;
            }
        }
    }
}

/// Appends SQLite's FROM of `list_statement`: the lists as JSON, read by `json_each`.
fn from_json(q: &mut Stmt<'_, ()>, lists: &[&Column<'_>], rows: usize, flat: bool) {
    // `lists[0]` is a list column, so it always encodes.
    let json = if flat {
        lists[0]
            .encoded(Dialect::Sqlite)
            .map(|(_, e)| e)
            .unwrap_or_default()
    } else {
        rows_json(lists, rows)
    };
    q.sql(" FROM json_each(").owned(json).sql(")");
}

/// Appends PostgreSQL's FROM of `list_statement`: the lists as arrays, read by `unnest`.
fn from_unnest(q: &mut Stmt<'_, ()>, lists: &[&Column<'_>]) {
    // One array per column, zipped by `unnest`.
    q.sql(" FROM unnest(");
    let encoded = lists.iter().filter_map(|c| c.encoded(Dialect::Postgres));
    for (k, (item, encoded)) in encoded.enumerate() {
        if k > 0 {
            q.sql(", ");
        }
        q.sql("CAST(")
            .owned(encoded)
            .sql(" AS ")
            .sql(item.pg_array())
            .sql(")");
    }
    let aliases: Vec<String> = (0..lists.len()).map(|k| format!("c{k}")).collect();
    q.sql(&format!(
        ") WITH ORDINALITY AS rows ({}, ord)",
        aliases.join(", ")
    ));
}

/// `[[1,"a"],[2,"b"]]`: the list columns' items, row by row.
fn rows_json(lists: &[&Column<'_>], rows: usize) -> String {
    let mut json = String::with_capacity(rows * 64);
    json.push('[');
    for r in 0..rows {
        json.push_str(if r == 0 { "[" } else { ",[" });
        for (k, c) in lists.iter().enumerate() {
            if k > 0 {
                json.push(',');
            }
            c.push_json(&mut json, r);
        }
        json.push(']');
    }
    json.push(']');
    json
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
    use super::{list_statement, statement, Column, Dialect, Value};

    #[test]
    fn lists_travel_as_one_value_per_engine() {
        let (seqs, ids) = ([7, 8], ["a--1", "b--\"2"]);
        let one = [
            ("who", Column::Same(Value::Text("u"))),
            ("seq", Column::Ints(&seqs)),
            ("at", Column::Counted(100)),
        ];
        let q = list_statement(Dialect::Sqlite, "t", &one).expect("rows");
        assert_eq!(
            q.sql_text(),
            "INSERT OR FAIL INTO t (who, seq, at) SELECT ?, value, ? + key FROM json_each(?)"
        );
        let two = [
            ("seq", Column::Ints(&seqs)),
            ("id", Column::Texts(&ids)),
            ("n", Column::Counted(1)),
        ];
        let q = list_statement(Dialect::Sqlite, "t", &two).expect("rows");
        assert_eq!(
            q.sql_text(),
            "INSERT OR FAIL INTO t (seq, id, n) SELECT value ->> 0, value ->> 1, ? + key FROM json_each(?)"
        );
        let lists: Vec<&Column> = two[..2].iter().map(|(_, c)| c).collect();
        assert_eq!(super::rows_json(&lists, 2), r#"[[7,"a--1"],[8,"b--\"2"]]"#);
        let q = list_statement(Dialect::Postgres, "t", &two).expect("rows");
        assert_eq!(
            q.sql_text(),
            "INSERT INTO t (seq, id, n) SELECT c0, c1, ? + ord - 1 FROM unnest(CAST(? AS BIGINT[]), \
             CAST(? AS TEXT[])) WITH ORDINALITY AS rows (c0, c1, ord)"
        );
        let none: [i64; 0] = [];
        assert!(list_statement(Dialect::Sqlite, "t", &[("seq", Column::Ints(&none))]).is_none());
    }

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
