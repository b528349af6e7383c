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
use std::marker::PhantomData;

/// A bound value, borrowed from the caller for as long as the statement lives.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    Int(i64),
    Text(&'a str),
    OptText(Option<&'a str>),
    Bool(bool),
}

/// Lists longer than this make a statement one-off: each length is another statement text, and
/// diesel keeps every text it caches prepared on every pooled connection for good (with lists of
/// up to 500 values, that grew a server past 190 MB over a 1M-object ingest).
const CACHED_LIST: usize = 8;

/// A statement whose rows have SQL type `ST`.
#[derive(Debug, Clone)]
pub struct Stmt<'a, ST> {
    sql: String,
    binds: Vec<Value<'a>>,
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
        self.sql.push('?');
        self.binds.push(v);
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

    /// `(?, ?, ...)`, one bound text per value; `values` must not be empty.
    pub fn texts<S: AsRef<str>>(&mut self, values: &'a [S]) -> &mut Self {
        self.list(values.iter().map(|v| Value::Text(v.as_ref())))
    }

    /// `(?, ?, ...)`, one bound integer per value; `values` must not be empty.
    pub fn ints(&mut self, values: &[i64]) -> &mut Self {
        self.list(values.iter().map(|v| Value::Int(*v)))
    }

    fn list(&mut self, values: impl ExactSizeIterator<Item = Value<'a>>) -> &mut Self {
        if values.len() > CACHED_LIST {
            self.one_off();
        }
        self.sql.push('(');
        for (i, v) in values.enumerate() {
            if i > 0 {
                self.sql.push_str(", ");
            }
            self.value(v);
        }
        self.sql.push(')');
        self
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
        let mut binds = self.binds.iter();
        for (i, piece) in self.sql.split('?').enumerate() {
            if i > 0 {
                match binds.next() {
                    Some(Value::Int(v)) => out.push_bind_param::<BigInt, _>(v)?,
                    Some(Value::Text(t)) => out.push_bind_param::<Text, _>(*t)?,
                    Some(Value::OptText(t)) => out.push_bind_param::<Nullable<Text>, _>(t)?,
                    Some(Value::Bool(b)) => out.push_bind_param::<Bool, _>(b)?,
                    None => {
                        return Err(diesel::result::Error::QueryBuilderError(
                            "a placeholder without a value".into(),
                        ))
                    }
                }
            }
            out.push_sql(piece);
        }
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
        s.int(3).sql(" AND y IN ").texts(&values);
        assert_eq!(s.sql, "SELECT a FROM t WHERE x = ? AND y IN (?, ?)");
        assert_eq!(s.binds.len(), 3);
        assert!(s.cached);
        let many: Vec<i64> = (0..9).collect();
        let mut t: Stmt<BigInt> = Stmt::new("SELECT a FROM t WHERE x IN ");
        t.ints(&many);
        assert!(!t.cached, "a long list makes a one-off statement");
    }
}
