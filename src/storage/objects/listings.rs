//! A reader's listings: its source (its class's stream or its own deliveries), the TAXII
//! filters as SQL over it, the manifest, versions and feedback lists, and reference queries.

use super::ids::nums_of;
use crate::ids::PartnerId;
use crate::policy::ReadGrant;
use crate::stix::identifier::StixId;
use crate::stix::timestamp::Timestamp;
use crate::stix::type_name::TypeName;
use crate::storage::stmt::{Dialect, Stmt};
use crate::storage::streams::{self, View};
use crate::storage::{meta_get, Conn, StorageError};
use crate::taxii::query::{SpecVersions, VersionSelector};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

/// Spec versions objects can be stored under. Requested spec versions are intersected with this
/// list, so the SQL below only ever inlines these constants, never request text.
pub const KNOWN_SPEC_VERSIONS: [&str; 2] = ["2.0", "2.1"];

/// The filters of one listing, already parsed and typed.
#[derive(Debug, Clone)]
pub struct Selection<'a> {
    pub ids: &'a [StixId],
    pub types: &'a [TypeName],
    /// Only versions these partners produced (the web pages' filter).
    pub producers: &'a [PartnerId],
    /// Only versions that reference one of these ids.
    pub refs: &'a [StixId],
    /// Only versions that reference an object this partner produced (`match[about]=mine`).
    pub about: Option<&'a str>,
    pub versions: &'a VersionSelector,
    pub spec_versions: &'a SpecVersions,
    pub added_after: Option<Timestamp>,
    /// Strictly after this reader date_added (from a `next` token).
    pub after: Option<Timestamp>,
    /// Strictly before this reader date_added (a newest-first listing's `next` token).
    pub before: Option<Timestamp>,
    /// Newest first: the page holds the latest rows, before `before`.
    pub newest_first: bool,
    /// Rows to return; one more is fetched to know whether there are more.
    pub limit: usize,
}

/// One delivered version as a manifest or versions listing shows it.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct Row {
    pub stix_id: String,
    pub version_text: String,
    /// When it became deliverable to this reader.
    pub date_added: i64,
}

type RowSql = (Text, Text, BigInt);

/// Where one reader's rows come from for one listing (see `streams`): its class's stream or its
/// own deliveries, either under the alias `deliveries`, with the bounds of `added_after` and of
/// the page position resolved for that source.
pub struct Source<'a> {
    user: &'a str,
    community: &'a str,
    view: View,
    /// Rows must lie after each of these: dates (own rows), or the one position before the
    /// first a stream shows.
    after: Vec<i64>,
    /// Rows must lie before this date (own rows), or at most at this position (a stream).
    before: Option<i64>,
    /// Few versions reference the selection's `refs`: sorting them beats walking the reader's
    /// rows in order.
    few_refs: bool,
}

impl<'a> Source<'a> {
    /// `None` when the reader has no view yet (it receives nothing).
    pub fn resolve(
        conn: &mut Conn,
        grant: &'a ReadGrant,
        dates_after: &[Timestamp],
    ) -> Result<Option<Source<'a>>, StorageError> {
        let (user, community) = (grant.reader().user.as_str(), grant.community_id());
        let Some(view) = streams::view(conn, user, community)? else {
            return Ok(None);
        };
        let after = match view {
            View::Own => dates_after.iter().map(|t| t.micros()).collect(),
            // One lower bound on the position, the start included: given two, SQLite ranges
            // over one and tests the other row by row.
            View::Streamed { class, start, .. } => {
                let mut floor = start - 1;
                for t in dates_after {
                    let stamped = streams::last_stamped_by(conn, class, *t)?;
                    floor = floor.max(view.last_dated_by(*t, stamped));
                }
                vec![floor]
            }
        };
        Ok(Some(Source {
            user,
            community,
            view,
            after,
            before: None,
            few_refs: false,
        }))
    }

    /// The source of a selection: its dates, and its upper bound when it has one.
    pub(super) fn of(
        conn: &mut Conn,
        grant: &'a ReadGrant,
        sel: &Selection<'_>,
    ) -> Result<Option<Source<'a>>, StorageError> {
        let Some(mut src) = Source::resolve(conn, grant, &dates_after(sel))? else {
            return Ok(None);
        };
        src.before = match (sel.before, src.view) {
            (None, _) => None,
            (Some(t), View::Own) => Some(t.micros()),
            // Dates grow with positions: the last one dated before `t` bounds the stream.
            (Some(t), View::Streamed { class, .. }) => {
                let stamped = streams::last_stamped_by(conn, class, t.plus(-1))?;
                Some(src.view.last_dated_by(t.plus(-1), stamped))
            }
        };
        src.few_refs = !sel.refs.is_empty() && few_referencing(conn, src.community, sel.refs)?;
        Ok(Some(src))
    }

    /// ` FROM` the reader's rows joined to their objects, ` WHERE` they are the reader's (for a
    /// stream, also after the listing's bounds).
    fn from<ST>(&self, q: &mut Stmt<'a, ST>) {
        match self.view {
            View::Own => {
                q.sql(
                    " FROM deliveries INNER JOIN objects ON objects.seq = deliveries.seq \
                     WHERE deliveries.user_name = ",
                )
                .text(self.user)
                .sql(" AND deliveries.community_id = ")
                .text(self.community);
            }
            View::Streamed { class, .. } => {
                q.sql(
                    " FROM class_rows deliveries INNER JOIN objects ON objects.seq = deliveries.seq \
                     WHERE deliveries.class_id = ",
                )
                .int(class)
                .sql(" AND deliveries.n > ")
                .int(self.after[0]);
                if let Some(last) = self.before {
                    q.sql(" AND deliveries.n <= ").int(last);
                }
            }
        }
    }

    /// The reader's date_added of a row, as SQL.
    pub(super) fn date(&self) -> String {
        match self.view {
            View::Own => "deliveries.date_added".into(),
            View::Streamed { .. } => self.view.date_sql("deliveries"),
        }
    }

    /// The column that orders the rows as their dates do, with an index behind it.
    fn order(&self) -> &'static str {
        match self.view {
            View::Own => "deliveries.date_added",
            View::Streamed { .. } => "deliveries.n",
        }
    }

    /// The versions of `outer`'s object delivered to the same reader, as SQL over alias `inner`.
    /// Driven from the object's own versions (index on its number and version), each checked by
    /// a key probe of the reader's rows, so its cost does not grow with what the reader has.
    /// ` AND EXISTS (...)`: the version `{inner}.seq` is delivered to this reader.
    fn push_delivered<ST>(&self, q: &mut Stmt<'a, ST>, inner: &str) {
        match self.view {
            View::Own => {
                q.sql(" AND EXISTS (SELECT 1 FROM deliveries d3 WHERE d3.user_name = ")
                    .text(self.user)
                    .sql(" AND d3.community_id = ")
                    .text(self.community);
            }
            View::Streamed { class, start, .. } => {
                q.sql(" AND EXISTS (SELECT 1 FROM class_rows d3 WHERE d3.class_id = ")
                    .int(class)
                    .sql(" AND d3.n >= ")
                    .int(start);
            }
        }
        q.sql(" AND d3.seq = ").sql(inner).sql(".seq)");
    }

    fn same_object(&self, inner: &str, outer: &str) -> String {
        let held = match self.view {
            View::Own => "SELECT 1 FROM deliveries d2 WHERE d2.user_name = deliveries.user_name \
                 AND d2.community_id = deliveries.community_id"
                .to_owned(),
            View::Streamed { class, start, .. } => format!(
                "SELECT 1 FROM class_rows d2 WHERE d2.class_id = {class} AND d2.n >= {start}"
            ),
        };
        format!(
            "FROM objects {inner} WHERE {inner}.num = {outer}.num \
             AND EXISTS ({held} AND d2.seq = {inner}.seq)"
        )
    }
}

/// The spec version every version is stored under until one with another is stored (the
/// validator accepts only this one today; `meta` remembers if that ever changes).
pub(super) const USUAL_SPEC_VERSION: &str = "2.1";
pub(super) const MIXED_SPEC_VERSIONS: &str = "mixed_spec_versions";

/// A condition on rows of one alias.
enum Cond {
    /// Every row matches.
    All,
    /// No row can match.
    Nothing,
    Sql(String),
}

/// Restricts `alias` rows to the requested spec versions. While every stored version has the
/// same spec version, "latest" holds for every row and costs no subquery.
fn spec_condition(src: &Source<'_>, alias: &str, spec: &SpecVersions, mixed: bool) -> Cond {
    match spec {
        SpecVersions::Latest if !mixed => Cond::All,
        SpecVersions::Latest => Cond::Sql(format!(
            "{alias}.spec_version = (SELECT MAX(s.spec_version) {})",
            src.same_object("s", alias)
        )),
        SpecVersions::Only(list) => {
            let known: Vec<String> = KNOWN_SPEC_VERSIONS
                .iter()
                .filter(|k| list.iter().any(|l| l == *k))
                .map(|k| format!("'{k}'"))
                .collect();
            if known.is_empty() {
                Cond::Nothing
            } else {
                Cond::Sql(format!("{alias}.spec_version IN ({})", known.join(", ")))
            }
        }
    }
}

/// True once a version with an unusual spec version has been stored.
pub(super) fn spec_versions_mixed(conn: &mut Conn) -> Result<bool, StorageError> {
    Ok(meta_get(conn, MIXED_SPEC_VERSIONS)?.is_some())
}

/// `q` (a SELECT up to its FROM) over the delivered rows of one listing for the granted
/// reader; the caller orders them by date_added. `first`/`last` are evaluated over the versions
/// delivered to this reader that match the spec-version filter; `added_after` and the page
/// position then apply. `None` when no row can match.
pub(super) fn filtered<'a, ST>(
    dialect: Dialect,
    src: &Source<'a>,
    sel: &Selection<'a>,
    mixed: bool,
    mut q: Stmt<'a, ST>,
) -> Option<Stmt<'a, ST>> {
    src.from(&mut q);
    by_ids_and_refs(dialect, src, sel, &mut q);
    if !sel.types.is_empty() {
        q.sql(" AND objects.stix_type").in_texts(dialect, sel.types);
    }
    if !sel.producers.is_empty() {
        q.sql(" AND objects.producer_id")
            .in_texts(dialect, sel.producers);
    }
    if let Some(partner) = sel.about {
        about(src, partner, &mut q);
    }
    match spec_condition(src, "objects", sel.spec_versions, mixed) {
        Cond::All => {}
        Cond::Nothing => return None,
        Cond::Sql(c) => {
            q.sql(" AND ").sql(&c);
        }
    }
    if let VersionSelector::Some { first, last, exact } = sel.versions {
        let spec_inner = match spec_condition(src, "o2", sel.spec_versions, mixed) {
            Cond::All => String::new(),
            Cond::Nothing => return None,
            Cond::Sql(c) => format!(" AND {c}"),
        };
        versions(src, (*first, *last), exact, &spec_inner, &mut q)?;
    }
    if src.view == View::Own {
        for after in &src.after {
            q.sql(" AND deliveries.date_added > ").int(*after);
        }
        if let Some(before) = src.before {
            q.sql(" AND deliveries.date_added < ").int(before);
        }
    }
    Some(q)
}

/// `match[id]` and `match[ref]`: versions of these ids, or versions that reference them.
fn by_ids_and_refs<'a, ST>(
    dialect: Dialect,
    src: &Source<'a>,
    sel: &Selection<'a>,
    q: &mut Stmt<'a, ST>,
) {
    if !sel.ids.is_empty() {
        // Driven from the ids' own versions (their numbers, then the index on number), then a
        // primary-key probe of the reader's deliveries: the cost of a by-id read does not grow
        // with the community.
        q.sql(" AND deliveries.seq IN (SELECT by_id.seq FROM objects by_id WHERE by_id.num IN ");
        nums_of(q, dialect, src.community, sel.ids);
        q.sql(")");
    }
    if !sel.refs.is_empty() {
        // What references these ids, by their numbers (the index on what each version names).
        q.sql(" AND deliveries.seq IN (SELECT object_refs.seq FROM object_refs WHERE object_refs.target_num IN ");
        nums_of(q, dialect, src.community, sel.refs);
        q.sql(")");
    }
}

/// Versions that reference one of `partner`'s own versions this reader received.
fn about<'a, ST>(src: &Source<'a>, partner: &'a str, q: &mut Stmt<'a, ST>) {
    // Probed per row listed (its refs by key, their versions by number): no scan of
    // everything that references the partner. Only the partner's versions this reader
    // received count: another user of the partner may see more.
    q.sql(
        " AND EXISTS (SELECT 1 FROM object_refs about INNER JOIN objects mine \
           ON mine.num = about.target_num WHERE about.seq = deliveries.seq \
           AND mine.private_copy = FALSE AND mine.producer_id = ",
    )
    .text(partner);
    src.push_delivered(q, "mine");
    q.sql(")");
}

/// `match[version]` other than all: the first and/or last of each object's versions this
/// reader received, or exact versions. `None` when nothing can match.
fn versions<ST>(
    src: &Source<'_>,
    (first, last): (bool, bool),
    exact: &[Timestamp],
    spec_inner: &str,
    q: &mut Stmt<'_, ST>,
) -> Option<()> {
    let mut alternatives: Vec<String> = vec![];
    // First (last): no older (newer) version of the object, among those delivered to this
    // reader that match the spec filter. No probe at all for an object never stored in
    // another version; otherwise one index probe per row, then delivery probes.
    for (wanted, other) in [(first, "<"), (last, ">")] {
        if wanted {
            alternatives.push(format!(
                "(objects.several = FALSE OR NOT EXISTS (SELECT 1 {} AND o2.version {other} objects.version{spec_inner}))",
                src.same_object("o2", "objects")
            ));
        }
    }
    if alternatives.is_empty() && exact.is_empty() {
        return None;
    }
    q.sql(" AND (").sql(&alternatives.join(" OR "));
    if !exact.is_empty() {
        if !alternatives.is_empty() {
            q.sql(" OR ");
        }
        q.sql("objects.version IN (");
        for (i, v) in exact.iter().enumerate() {
            if i > 0 {
                q.sql(", ");
            }
            q.int(v.micros());
        }
        q.sql(")");
    }
    q.sql(")");
    Some(())
}

/// Versions referencing a thread's ids up to which they are sorted rather than found by
/// walking the reader's rows in order.
const FEW_REFS: i64 = 5_000;

/// Whether fewer than `FEW_REFS` versions reference `refs` (counting stops there).
fn few_referencing(
    conn: &mut Conn,
    community: &str,
    refs: &[StixId],
) -> Result<bool, StorageError> {
    let dialect = conn.dialect();
    let mut q: Stmt<BigInt> = Stmt::new(
        "SELECT COUNT(*) FROM (SELECT 1 FROM object_refs WHERE object_refs.target_num IN ",
    );
    nums_of(&mut q, dialect, community, refs);
    q.sql(" LIMIT ").int(FEW_REFS).sql(") few");
    Ok(q.get_result::<i64>(conn)? < FEW_REFS)
}

/// Orders a listing by the reader's date_added and fetches one row more than a page.
pub(super) fn order_and_limit<ST>(q: &mut Stmt<'_, ST>, src: &Source<'_>, sel: &Selection<'_>) {
    // By id or by a reference few versions make: an expression, not the column, keeps
    // planners from walking the reader's whole date_added index to avoid sorting the few
    // versions of those ids or of what references them (a thread: 145 ms at 1,000,000
    // objects that way, bench web-pages). An id that very many reference is walked instead.
    q.sql(" ORDER BY ").sql(src.order());
    if !sel.ids.is_empty() || src.few_refs {
        q.sql(" + 0");
    }
    if sel.newest_first {
        q.sql(" DESC");
    }
    q.sql(" LIMIT ").int(sel.limit as i64 + 1);
}

/// The dates a selection's rows must lie after.
fn dates_after(sel: &Selection<'_>) -> Vec<Timestamp> {
    [sel.added_after, sel.after].into_iter().flatten().collect()
}

/// Lists delivered versions for the manifest or versions endpoint: id, version and date_added.
/// At most `limit + 1` rows.
pub fn list<'a>(
    conn: &mut Conn,
    grant: &'a ReadGrant,
    sel: &Selection<'a>,
) -> Result<Vec<Row>, StorageError> {
    let mixed = spec_versions_mixed(conn)?;
    let Some(src) = Source::of(conn, grant, sel)? else {
        return Ok(vec![]);
    };
    let select = format!(
        "SELECT objects.stix_id, objects.version_text, {}",
        src.date()
    );
    let Some(mut q) = filtered::<RowSql>(conn.dialect(), &src, sel, mixed, Stmt::new(&select))
    else {
        return Ok(vec![]);
    };
    order_and_limit(&mut q, &src, sel);
    Ok(q.load::<Row>(conn)?)
}

/// One listed version for the feedback endpoint: its row, type and the reader's date_added.
pub type Reaction = (i64, String, i64);

/// Lists delivered versions with their types (at most `limit + 1`), for the feedback endpoint.
pub fn list_typed<'a>(
    conn: &mut Conn,
    grant: &'a ReadGrant,
    sel: &Selection<'a>,
) -> Result<Vec<Reaction>, StorageError> {
    let mixed = spec_versions_mixed(conn)?;
    let Some(src) = Source::of(conn, grant, sel)? else {
        return Ok(vec![]);
    };
    let select = format!("SELECT objects.seq, objects.stix_type, {}", src.date());
    type Sql = (BigInt, Text, BigInt);
    let Some(mut q) = filtered::<Sql>(conn.dialect(), &src, sel, mixed, Stmt::new(&select)) else {
        return Ok(vec![]);
    };
    order_and_limit(&mut q, &src, sel);
    Ok(q.load::<Reaction>(conn)?)
}

/// (seq, id) of what these versions reference that `partner` produced, among the versions
/// delivered to the grant's reader.
pub fn refs_to_partner(
    conn: &mut Conn,
    grant: &ReadGrant,
    seqs: &[i64],
    partner: &str,
) -> Result<Vec<(i64, String)>, StorageError> {
    let Some(src) = Source::resolve(conn, grant, &[])? else {
        return Ok(vec![]);
    };
    let mut out = vec![];
    for chunk in seqs.chunks(500) {
        let mut q: Stmt<(BigInt, Text)> = Stmt::new(
            "SELECT DISTINCT about.seq, about.ref_id FROM object_refs about \
             INNER JOIN objects mine ON mine.num = about.target_num \
             WHERE mine.private_copy = FALSE AND mine.producer_id = ",
        );
        q.text(partner);
        src.push_delivered(&mut q, "mine");
        q.sql(" AND about.seq")
            .in_ints(conn.dialect(), chunk)
            .sql(" ORDER BY about.seq, about.ref_id");
        out.extend(q.load::<(i64, String)>(conn)?);
    }
    Ok(out)
}

/// True when some version of `id` is delivered to the granted reader.
pub fn id_delivered(conn: &mut Conn, grant: &ReadGrant, id: &str) -> Result<bool, StorageError> {
    let Some(src) = Source::resolve(conn, grant, &[])? else {
        return Ok(false);
    };
    let mut q: Stmt<BigInt> = Stmt::new("SELECT COUNT(*)");
    src.from(&mut q);
    q.sql(" AND deliveries.seq IN (SELECT seq FROM objects WHERE num IN ");
    let id = [id];
    nums_of(&mut q, conn.dialect(), grant.community_id(), &id);
    q.sql(")");
    Ok(q.get_result::<i64>(conn)? > 0)
}
