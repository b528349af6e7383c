//! Pages of stored bodies (objects, object endpoints): one aggregate value per page from the
//! database, assembled in date order within the page's byte budget.

use super::listings::{filtered, order_and_limit, spec_versions_mixed, Selection, Source};
use crate::policy::ReadGrant;
use crate::stix::timestamp::Timestamp;
use crate::storage::schema::objects::dsl as o;
use crate::storage::stmt::Stmt;
use crate::storage::{Conn, StorageError};
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};

/// A page of stored bodies (objects, object endpoints).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Bodies {
    /// The reader's date_added of each version fetched, in order: at most `limit + 1`.
    pub dates: Vec<Timestamp>,
    /// How many of them the page serves: at most `limit`, and fewer when their bodies would
    /// pass the page's byte budget.
    pub kept: usize,
    /// The bodies of the first `kept` of them, in that order, comma-separated.
    pub joined: String,
    /// The versions (seq) of those `kept`, in that order: what the reader received.
    pub seqs: Vec<i64>,
    /// Who produced each of those `kept`, in that order (empty: a built-in).
    pub producers: Vec<String>,
}

/// Lists delivered bodies for the objects or object endpoint. The database joins them into one
/// value, with each one's date_added, length and row beside it: one value to read instead of a
/// row and a string per version (half the cost of a page, in perf). A body longer than its
/// share of the page's byte budget (`max_bytes / (limit + 1)`) is left out of that value, so
/// the value never passes the budget; such bodies are then read one by one, only while the
/// page still has room (`Bodies::assemble`). No order is assumed inside the aggregate.
pub fn list_bodies<'a>(
    conn: &mut Conn,
    grant: &'a ReadGrant,
    sel: &Selection<'a>,
    max_bytes: usize,
) -> Result<Bodies, StorageError> {
    let mixed = spec_versions_mixed(conn)?;
    let Some(src) = Source::of(conn, grant, sel)? else {
        return Ok(Bodies::default());
    };
    let select = format!(
        "SELECT string_agg(page.body, ','), string_agg(CAST(page.date_added AS TEXT) \
         || ':' || CAST(page.len AS TEXT) || ':' || CAST(page.seq AS TEXT) \
         || ':' || page.producer, ',') \
         FROM (SELECT {} AS date_added, deliveries.seq AS seq, \
         COALESCE(objects.producer_id, '') AS producer, \
         octet_length(objects.body) AS len, \
         CASE WHEN octet_length(objects.body) <= ",
        src.date()
    );
    let share = (max_bytes / (sel.limit + 1)).max(1);
    let mut start = Stmt::new(&select);
    start
        .int(share as i64)
        .sql(" THEN objects.body END AS body");
    let Some(mut q) =
        filtered::<(Nullable<Text>, Nullable<Text>)>(conn.dialect(), &src, sel, mixed, start)
    else {
        return Ok(Bodies::default());
    };
    order_and_limit(&mut q, &src, sel);
    q.sql(") page");
    let (joined, rows) = q.get_result::<(Option<String>, Option<String>)>(conn)?;
    let page = Bodies::assemble(
        joined.unwrap_or_default(),
        rows.as_deref().unwrap_or(""),
        (sel.limit, sel.newest_first),
        max_bytes,
        share,
    )
    .ok_or(StorageError::Inconsistent(
        "a page's joined bodies do not match their lengths",
    ))?;
    page.fill(conn)
}

/// One row of a page as the aggregate describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PageRow<'r> {
    date: i64,
    len: usize,
    seq: i64,
    /// A partner id (letters, digits and '-', never ':' or ','), or empty.
    producer: &'r str,
}

/// A page whose long bodies are still to be read: the date of each row fetched, and the kept
/// rows in date order, each with its body or the row to read it from.
#[derive(Debug, PartialEq, Eq)]
struct Partial {
    dates: Vec<i64>,
    kept: Vec<Result<std::ops::Range<usize>, i64>>,
    joined: String,
    seqs: Vec<i64>,
    producers: Vec<String>,
}

impl Partial {
    /// Reads the long bodies and joins the page.
    fn fill(self, conn: &mut Conn) -> Result<Bodies, StorageError> {
        let mut out = String::with_capacity(self.joined.len());
        for (i, piece) in self.kept.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            match piece {
                Ok(range) => out.push_str(&self.joined[range.clone()]),
                Err(seq) => {
                    let body: String = o::objects
                        .filter(o::seq.eq(seq))
                        .select(o::body)
                        .first(conn)?;
                    out.push_str(&body);
                }
            }
        }
        Ok(Bodies {
            dates: self.dates.into_iter().map(Timestamp::from_micros).collect(),
            kept: self.kept.len(),
            joined: out,
            seqs: self.seqs,
            producers: self.producers,
        })
    }
}

impl Bodies {
    /// From the joined short bodies and the `date:length:row` list of every row fetched (same
    /// order, any order): in date order, the first `limit` rows each of which starts while the
    /// page is under `max_bytes`. `None` when the two do not agree.
    fn assemble(
        joined: String,
        rows: &str,
        (limit, newest_first): (usize, bool),
        max_bytes: usize,
        share: usize,
    ) -> Option<Partial> {
        if rows.is_empty() {
            return joined.is_empty().then(|| Partial {
                dates: vec![],
                kept: vec![],
                joined,
                seqs: vec![],
                producers: vec![],
            });
        }
        let rows: Vec<PageRow> = rows.split(',').map(parse_row).collect::<Option<_>>()?;
        // Where each short body lies in the joined text, in the aggregate's order.
        let mut pieces: Vec<(PageRow, Option<std::ops::Range<usize>>)> = vec![];
        let mut at = 0;
        for row in rows {
            if row.len > share {
                pieces.push((row, None));
                continue;
            }
            if at > 0 {
                (joined.as_bytes().get(at) == Some(&b',')).then_some(())?;
                at += 1;
            }
            pieces.push((row, Some(at..at + row.len)));
            at += row.len;
        }
        (at == joined.len()).then_some(())?;
        // Stable, and nearly free on the usual input, which is already in date order.
        pieces.sort_by_key(|p| p.0.date);
        if newest_first {
            pieces.reverse();
        }
        let mut before = 0usize;
        let kept: Vec<_> = pieces
            .iter()
            .take(limit)
            .take_while(|(row, _)| {
                let fits = before < max_bytes;
                before = before.saturating_add(row.len);
                fits
            })
            .map(|(row, range)| range.clone().ok_or(row.seq))
            .collect();
        let served = pieces.iter().take(kept.len());
        Some(Partial {
            dates: pieces.iter().map(|p| p.0.date).collect(),
            seqs: served.clone().map(|p| p.0.seq).collect(),
            producers: served.map(|p| p.0.producer.to_owned()).collect(),
            kept,
            joined,
        })
    }
}

fn parse_row(item: &str) -> Option<PageRow<'_>> {
    let mut parts = item.split(':');
    let row = PageRow {
        date: parts.next()?.parse().ok()?,
        len: parts.next()?.parse().ok()?,
        seq: parts.next()?.parse().ok()?,
        producer: parts.next().unwrap_or(""),
    };
    parts.next().is_none().then_some(row)
}

#[cfg(test)]
mod tests {
    use super::{Bodies, Partial};

    fn partial(
        joined: &str,
        rows: &str,
        limit: usize,
        max: usize,
        share: usize,
    ) -> Option<Partial> {
        Bodies::assemble(joined.to_owned(), rows, (limit, false), max, share)
    }

    /// The kept pieces as text (`#seq` for a body still to be read), and every date fetched.
    fn shown(p: &Partial) -> (Vec<String>, Vec<i64>) {
        let kept = p
            .kept
            .iter()
            .map(|k| match k {
                Ok(r) => p.joined[r.clone()].to_owned(),
                Err(seq) => format!("#{seq}"),
            })
            .collect();
        (kept, p.dates.clone())
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn pieces_in_date_order_are_cut_after_the_limit() {
        let p = partial(
            r#"{"a":1},{"b":22},{"c":3}"#,
            "10:7:1,20:8:2,30:7:3",
            2,
            1000,
            100,
        )
        .unwrap();
        assert_eq!(
            shown(&p),
            (strings(&[r#"{"a":1}"#, r#"{"b":22}"#]), vec![10, 20, 30])
        );
    }

    #[test]
    fn pieces_in_another_order_are_put_in_date_order() {
        // Bodies may contain commas; the lengths, not the commas, delimit them.
        let p = partial(
            r#"{"c":[1,2]},{"a":1},{"b":2}"#,
            "30:11:3,10:7:1,20:7:2",
            2,
            1000,
            100,
        )
        .unwrap();
        assert_eq!(
            shown(&p),
            (strings(&[r#"{"a":1}"#, r#"{"b":2}"#]), vec![10, 20, 30])
        );
    }

    #[test]
    fn a_page_ends_once_its_bytes_reach_the_budget() {
        // Budget 10: the second starts at 7 (< 10), the third at 15.
        let p = partial(
            r#"{"a":1},{"b":22},{"c":3}"#,
            "10:7:1,20:8:2,30:7:3",
            5,
            10,
            100,
        )
        .unwrap();
        assert_eq!(shown(&p).0, strings(&[r#"{"a":1}"#, r#"{"b":22}"#]));
        // Bodies longer than their share are left out of the joined text, to be read by row;
        // one larger than the whole budget is still served when it comes first.
        let p = partial(r#"{"a":1}"#, "10:50:4,20:7:5,30:60:6", 5, 40, 8).unwrap();
        assert_eq!(shown(&p), (strings(&["#4"]), vec![10, 20, 30]));
        let p = partial(r#"{"a":1}"#, "20:7:5,30:60:6", 5, 40, 8).unwrap();
        assert_eq!(shown(&p).0, strings(&[r#"{"a":1}"#, "#6"]));
    }

    #[test]
    fn an_empty_page_and_disagreeing_lengths() {
        assert_eq!(shown(&partial("", "", 5, 10, 5).unwrap()), (vec![], vec![]));
        assert!(partial(r#"{"a":1}"#, "10:6:1", 5, 100, 10).is_none());
        assert!(partial(r#"{"a":1},{"b":2}"#, "10:7:1", 5, 100, 10).is_none());
        assert!(partial(r#"{"a":1}"#, "x:7:1", 5, 100, 10).is_none());
        assert!(partial(r#"{"a":1}"#, "10:7", 5, 100, 10).is_none());
        assert!(partial("x", "", 5, 100, 10).is_none());
    }
}
