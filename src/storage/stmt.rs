//! A statement written as SQL text with bound values, which diesel keeps prepared.
//!
//! Through `MultiConnection`, diesel walks a DSL query three times on every call (to build its
//! cache key, to check it may be cached, to collect its binds), each time through the
//! multi-backend's dynamic layer; on a 100-row page that walking cost about as much as SQLite's
//! own work (perf, first-page benchmark). `sql_query` avoids the walk but is never kept prepared.
//! A `Stmt` is both cheap to walk and cached by its text. Its text is assembled only from this
//! crate's constants, with `?` where a value goes; every value is bound, never inlined.

use super::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Bool, Nullable, Text};
use diesel::QueryResult;
use std::fmt::Write;
use std::marker::PhantomData;

/// A bound value, borrowed from the caller for as long as the statement lives.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    Int(i64),
    Text(&'a str),
    OptText(Option<&'a str>),
    Bool(bool),
}

/// A bound value the statement owns: a list encoded as one text (see `Dialect`).
#[derive(Debug, Clone)]
enum Bind<'a> {
    Value(Value<'a>),
    Owned(String),
}

/// The engine a statement is for, where their SQL differs: a list of values travels as one
/// bound text, a JSON array that SQLite reads with `json_each`, or an array literal that
/// PostgreSQL casts and unnests. A statement with a list of any length then has one text, stays prepared,
/// and binds one value instead of one per item (binding and walking 900 values per statement
/// was about a tenth of the writer's time during an ingest, and each list length was another
/// statement to prepare).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// The SQL type of a list's items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    Int,
    Text,
}

impl Item {
    pub fn pg_array(self) -> &'static str {
        match self {
            Item::Int => "BIGINT[]",
            Item::Text => "TEXT[]",
        }
    }
}

/// One list, encoded for `dialect`: `[1,2]` / `["a","b"]` (JSON), or `{1,2}` / `{"a","b"}`.
pub fn encode_ints(dialect: Dialect, values: &[i64]) -> String {
    encode(dialect, values, 8, |out, v| {
        let _ = write!(out, "{v}");
    })
}

/// See `encode_ints`.
pub fn encode_texts<S: AsRef<str>>(dialect: Dialect, values: &[S]) -> String {
    encode(dialect, values, 48, |out, v| {
        push_quoted(out, dialect, v.as_ref())
    })
}

fn encode<T>(
    dialect: Dialect,
    values: &[T],
    width: usize,
    push: impl Fn(&mut String, &T),
) -> String {
    let (open, close) = match dialect {
        Dialect::Sqlite => ('[', ']'),
        Dialect::Postgres => ('{', '}'),
    };
    let mut out = String::with_capacity(values.len() * width + 2);
    out.push(open);
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push(&mut out, v);
    }
    out.push(close);
    out
}

/// Appends `text` quoted as one item of a list for `dialect`. Both escape `"` and `\` with a
/// backslash; JSON also needs control characters escaped, PostgreSQL's array syntax does not.
pub fn push_quoted(out: &mut String, dialect: Dialect, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c < ' ' && dialect == Dialect::Sqlite => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Lists up to this long are written out, one placeholder per value (a short list is the usual
/// case on the read path, where SQLite then needs no JSON); longer ones travel as one value.
/// Each written-out length is another statement text, which diesel keeps prepared for good.
const INLINE_LIST: usize = 8;

/// A statement whose rows have SQL type `ST`.
#[derive(Debug, Clone)]
pub struct Stmt<'a, ST> {
    sql: String,
    /// Each value with the offset of its `?` in `sql` (walking the text for them was a few
    /// percent of the writer's time: diesel walks a statement three times per execution).
    binds: Vec<(usize, Bind<'a>)>,
    /// Kept prepared after use (see `one_off`).
    cached: bool,
    _rows: PhantomData<ST>,
}

impl<'a, ST> Stmt<'a, ST> {
    pub fn new(sql: &str) -> Self {
        let mut s = Stmt {
            sql: String::with_capacity(512),
            binds: vec![],
            cached: true,
            _rows: PhantomData,
        };
        s.sql(sql);
        s
    }

    /// Appends constant SQL text (no `?` in it: that marks a bound value).
    pub fn sql(&mut self, text: &str) -> &mut Self {
        debug_assert!(!text.contains('?'), "constant SQL with a '?': {text}");
        self.sql.push_str(text);
        self
    }

    /// Appends a placeholder bound to `v`.
    pub fn value(&mut self, v: Value<'a>) -> &mut Self {
        self.binds.push((self.sql.len(), Bind::Value(v)));
        self.sql.push('?');
        self
    }

    /// Appends a placeholder bound to `text`, which the statement keeps.
    pub fn owned(&mut self, text: String) -> &mut Self {
        self.binds.push((self.sql.len(), Bind::Owned(text)));
        self.sql.push('?');
        self
    }

    pub fn int(&mut self, v: i64) -> &mut Self {
        self.value(Value::Int(v))
    }

    pub fn text(&mut self, v: &'a str) -> &mut Self {
        self.value(Value::Text(v))
    }

    /// Prepared for this one execution only: for statements whose text varies from call to
    /// call (a list's length, a last short chunk of rows).
    pub fn one_off(&mut self) -> &mut Self {
        self.cached = false;
        self
    }

    /// ` IN (...)` these integers (any number, none included).
    pub fn in_ints(&mut self, dialect: Dialect, values: &[i64]) -> &mut Self {
        if (1..=INLINE_LIST).contains(&values.len()) {
            return self.inline(values.iter().map(|v| Value::Int(*v)));
        }
        self.in_list(dialect, Item::Int, encode_ints(dialect, values))
    }

    /// ` IN (...)` these texts (any number, none included).
    pub fn in_texts<S: AsRef<str>>(&mut self, dialect: Dialect, values: &'a [S]) -> &mut Self {
        if (1..=INLINE_LIST).contains(&values.len()) {
            return self.inline(values.iter().map(|v| Value::Text(v.as_ref())));
        }
        self.in_list(dialect, Item::Text, encode_texts(dialect, values))
    }

    /// ` IN (?, ?)`: a few values, each bound (a text per length, up to `INLINE_LIST`).
    fn inline(&mut self, values: impl Iterator<Item = Value<'a>>) -> &mut Self {
        self.sql.push_str(" IN (");
        for (i, v) in values.enumerate() {
            if i > 0 {
                self.sql.push_str(", ");
            }
            self.value(v);
        }
        self.sql.push(')');
        self
    }

    /// A list as one bound value (see `Dialect`).
    fn in_list(&mut self, dialect: Dialect, item: Item, encoded: String) -> &mut Self {
        match dialect {
            Dialect::Sqlite => {
                self.sql(" IN (SELECT value FROM json_each(");
                self.owned(encoded).sql("))")
            }
            // A subquery, not `= ANY(CAST(? AS ...[]))`: that cast is not folded into a constant
            // at planning (array_in is not immutable), so a plan that filters rows with it
            // parsed the whole list again for every row (seconds per statement).
            Dialect::Postgres => {
                self.sql(" IN (SELECT unnest(CAST(");
                self.owned(encoded)
                    .sql(" AS ")
                    .sql(item.pg_array())
                    .sql(")))")
            }
        }
    }

    /// The text, with `?` where values go.
    #[cfg(test)]
    pub(crate) fn sql_text(&self) -> &str {
        &self.sql
    }
}

impl<ST> QueryFragment<Backend> for Stmt<'_, ST> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Backend>) -> QueryResult<()> {
        if !self.cached {
            out.unsafe_to_cache_prepared();
        }
        let mut from = 0;
        for (at, bind) in &self.binds {
            out.push_sql(&self.sql[from..*at]);
            match bind {
                Bind::Value(Value::Int(v)) => out.push_bind_param::<BigInt, _>(v)?,
                Bind::Value(Value::Text(t)) => out.push_bind_param::<Text, _>(*t)?,
                Bind::Value(Value::OptText(t)) => out.push_bind_param::<Nullable<Text>, _>(t)?,
                Bind::Value(Value::Bool(b)) => out.push_bind_param::<Bool, _>(b)?,
                Bind::Owned(t) => out.push_bind_param::<Text, _>(t)?,
            }
            from = at + 1;
        }
        out.push_sql(&self.sql[from..]);
        Ok(())
    }
}

impl<ST> QueryId for Stmt<'_, ST> {
    type QueryId = ();
    // The text varies: diesel keys its statement cache by the text instead.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<ST> Query for Stmt<'_, ST> {
    type SqlType = ST;
}

impl<ST> diesel::RunQueryDsl<super::Conn> for Stmt<'_, ST> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_and_binds_line_up() {
        let values = ["p".to_owned(), "q".to_owned()];
        let mut s: Stmt<(BigInt, Nullable<Text>)> = Stmt::new("SELECT a FROM t WHERE x = ");
        s.int(3).sql(" AND y").in_texts(Dialect::Sqlite, &values);
        assert_eq!(s.sql, "SELECT a FROM t WHERE x = ? AND y IN (?, ?)");
        assert_eq!(s.binds.len(), 3);
        assert!(s.cached);
    }

    #[test]
    fn a_long_list_is_one_value() {
        let many: Vec<i64> = (0..9).collect();
        let mut t: Stmt<BigInt> = Stmt::new("SELECT a FROM t WHERE x");
        t.in_ints(Dialect::Sqlite, &many);
        assert_eq!(
            t.sql,
            "SELECT a FROM t WHERE x IN (SELECT value FROM json_each(?))"
        );
        assert!(t.cached, "one text whatever the length");
        assert!(matches!(&t.binds[..], [(_, Bind::Owned(j))] if j == "[0,1,2,3,4,5,6,7,8]"));
        let mut p: Stmt<BigInt> = Stmt::new("SELECT a FROM t WHERE x");
        p.in_ints(Dialect::Postgres, &[]);
        assert_eq!(
            p.sql,
            "SELECT a FROM t WHERE x IN (SELECT unnest(CAST(? AS BIGINT[])))"
        );
        assert!(matches!(&p.binds[..], [(_, Bind::Owned(j))] if j == "{}"));
    }

    #[test]
    fn texts_are_quoted_for_each_engine() {
        let odd = ["a\"b", "c\\d", "é,}\n"];
        assert_eq!(
            encode_texts(Dialect::Sqlite, &odd),
            r#"["a\"b","c\\d","é,}\u000a"]"#
        );
        assert_eq!(
            encode_texts(Dialect::Postgres, &odd),
            "{\"a\\\"b\",\"c\\\\d\",\"é,}\n\"}"
        );
        assert_eq!(encode_ints(Dialect::Postgres, &[-1, 2]), "{-1,2}");
    }
}
