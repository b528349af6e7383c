//! Multi-row INSERT, which diesel's `MultiConnection` cannot express (its batch insert needs
//! the backend's own dialect types). The statement text is the same on both engines but for the
//! placeholders (`?` against `$n`); it is built here once and bound through diesel, so values
//! never enter the SQL text. Used on the hot paths of a POST, where one statement per 100 rows
//! instead of one per row pays.

use super::{Conn, StorageError};
use diesel::backend::Backend;
use diesel::prelude::*;
use diesel::query_builder::BoxedSqlQuery;
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Bool, HasSqlType, Nullable, Text};

/// One bound value of a row.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    Int(i64),
    Text(&'a str),
    OptText(Option<&'a str>),
    Bool(bool),
}

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
    for chunk in rows.chunks(per) {
        let numbered = matches!(conn, Conn::Postgres(_));
        let sql = statement(table, columns, chunk.len(), numbered);
        match conn {
            Conn::Sqlite(c) => run(c, &sql, chunk)?,
            Conn::Postgres(c) => run(c, &sql, chunk)?,
        }
    }
    Ok(())
}

fn statement(table: &str, columns: &[&str], rows: usize, numbered: bool) -> String {
    let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
    let mut n = 0;
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..columns.len() {
            if c > 0 {
                sql.push_str(", ");
            }
            n += 1;
            if numbered {
                sql.push_str(&format!("${n}"));
            } else {
                sql.push('?');
            }
        }
        sql.push(')');
    }
    sql
}

fn run<'a, C, DB>(conn: &mut C, sql: &str, rows: &'a [Vec<Value<'a>>]) -> Result<(), StorageError>
where
    C: Connection<Backend = DB>,
    DB: Backend + HasSqlType<BigInt> + HasSqlType<Text> + HasSqlType<Bool>,
    i64: ToSql<BigInt, DB>,
    str: ToSql<Text, DB>,
    bool: ToSql<Bool, DB>,
    Option<&'a str>: ToSql<Nullable<Text>, DB>,
    BoxedSqlQuery<'a, DB, diesel::query_builder::SqlQuery>:
        diesel::query_dsl::methods::ExecuteDsl<C, DB>,
{
    let mut q = diesel::sql_query(sql.to_owned()).into_boxed::<DB>();
    for row in rows {
        for v in row {
            q = match *v {
                Value::Int(i) => q.bind::<BigInt, _>(i),
                Value::Text(t) => q.bind::<Text, _>(t),
                Value::OptText(t) => q.bind::<Nullable<Text>, _>(t),
                Value::Bool(b) => q.bind::<Bool, _>(b),
            };
        }
    }
    q.execute(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::statement;

    #[test]
    fn placeholders_follow_the_engine() {
        assert_eq!(
            statement("t", &["a", "b"], 2, false),
            "INSERT INTO t (a, b) VALUES (?, ?), (?, ?)"
        );
        assert_eq!(
            statement("t", &["a", "b"], 2, true),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)"
        );
    }
}
