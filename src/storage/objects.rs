//! Object versions: insert, keyset-paged listing with TAXII filters, delete.

use super::schema::objects::dsl as o;
use super::{meta_get, meta_put, Backend, Conn, StorageError};
use crate::policy::{DeleteGrant, ReadGrant, WriteGrant};
use crate::taxii::cursor::Position;
use crate::taxii::query::{SpecVersions, VersionSelector};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::Bool;

/// Spec versions objects can be stored under. Requested spec versions are intersected with this
/// list, so the SQL below only ever inlines these constants, never request text.
pub const KNOWN_SPEC_VERSIONS: [&str; 2] = ["2.0", "2.1"];

/// A validated object version ready to store.
#[derive(Debug, Clone)]
pub struct NewVersion {
    pub stix_id: String,
    pub stix_type: String,
    /// `modified`, else `created`; `None` for objects without either (most SCOs).
    pub version: Option<(i64, String)>,
    pub spec_version: String,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertOutcome {
    /// Stored; carries the version text as served in manifests.
    Added(String),
    /// The same version was already stored with the same content.
    Duplicate(String),
    /// A different object is already stored under this id and version.
    Conflict(String),
}

const LAST_DATE_ADDED: &str = "last_date_added";

/// Stores `items` in order, giving each a distinct `date_added` no earlier than `now` and later
/// than every one given before, so no two stored versions share a `date_added`.
pub fn insert_versions(
    conn: &mut Conn,
    grant: &WriteGrant,
    now: i64,
    items: &[NewVersion],
) -> Result<Vec<InsertOutcome>, StorageError> {
    let mut last: i64 = meta_get(conn, LAST_DATE_ADDED)?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut outcomes = Vec::with_capacity(items.len());
    for item in items {
        let existing: Option<(String, String)> = {
            let q = o::objects
                .filter(o::community_id.eq(grant.community_id()))
                .filter(o::stix_id.eq(&item.stix_id))
                .select((o::version_text, o::body))
                .into_boxed();
            let q = match &item.version {
                Some((v, _)) => q.filter(o::version.eq(*v)).filter(o::versioned.eq(true)),
                None => q.filter(o::versioned.eq(false)),
            };
            q.first(conn).optional()?
        };
        if let Some((version_text, body)) = existing {
            let same = body == item.body || same_json(&body, &item.body);
            outcomes.push(if same {
                InsertOutcome::Duplicate(version_text)
            } else {
                InsertOutcome::Conflict(version_text)
            });
            continue;
        }
        let date_added = now.max(last + 1);
        last = date_added;
        let (version, version_text, versioned) = match &item.version {
            Some((v, t)) => (*v, t.clone(), true),
            // Section 3.4.2 of TAXII: without modified or created, the version is date_added.
            None => (
                date_added,
                crate::taxii::timestamp::format_micros(date_added),
                false,
            ),
        };
        diesel::insert_into(o::objects)
            .values((
                o::community_id.eq(grant.community_id()),
                o::stix_id.eq(&item.stix_id),
                o::stix_type.eq(&item.stix_type),
                o::version.eq(version),
                o::version_text.eq(&version_text),
                o::versioned.eq(versioned),
                o::spec_version.eq(&item.spec_version),
                o::date_added.eq(date_added),
                o::producer_id.eq(grant.producer()),
                o::body.eq(&item.body),
            ))
            .execute(conn)?;
        outcomes.push(InsertOutcome::Added(version_text));
    }
    meta_put(conn, LAST_DATE_ADDED, &last.to_string())?;
    Ok(outcomes)
}

fn same_json(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<serde_json::Value>(a),
        serde_json::from_str::<serde_json::Value>(b),
    ) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// The filters of one listing, already parsed and typed.
#[derive(Debug, Clone)]
pub struct Selection<'a> {
    pub ids: &'a [String],
    pub types: &'a [String],
    pub versions: &'a VersionSelector,
    pub spec_versions: &'a SpecVersions,
    pub added_after: Option<i64>,
    pub after: Option<Position>,
    /// Rows to return; one more is fetched to know whether there are more.
    pub limit: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct Row {
    pub seq: i64,
    pub stix_id: String,
    pub version_text: String,
    pub date_added: i64,
    pub producer_id: String,
    pub body: String,
}

type Predicate = Box<dyn BoxableExpression<o::objects, Backend, SqlType = Bool>>;

/// Restricts `alias` rows to the requested spec versions. Returns `None` when nothing can match.
fn spec_condition(alias: &str, spec: &SpecVersions) -> Option<String> {
    match spec {
        SpecVersions::Latest => Some(format!(
            "{alias}.spec_version = (SELECT MAX(s.spec_version) FROM objects s \
             WHERE s.community_id = {alias}.community_id AND s.stix_id = {alias}.stix_id)"
        )),
        SpecVersions::Only(list) => {
            let known: Vec<String> = KNOWN_SPEC_VERSIONS
                .iter()
                .filter(|k| list.iter().any(|l| l == *k))
                .map(|k| format!("'{k}'"))
                .collect();
            if known.is_empty() {
                None
            } else {
                Some(format!("{alias}.spec_version IN ({})", known.join(", ")))
            }
        }
    }
}

/// The rows of one object-version listing, ordered by (date_added, seq), at most `limit + 1`.
/// `first`/`last` are evaluated over every version of the object that matches the spec-version
/// filter; `added_after` and the page position then apply to the selected versions.
fn filtered<'a>(
    grant: &'a ReadGrant,
    sel: &Selection<'a>,
) -> Option<super::schema::objects::BoxedQuery<'a, Backend>> {
    let mut q = o::objects
        .into_boxed()
        .filter(o::community_id.eq(grant.community_id()));
    if !sel.ids.is_empty() {
        q = q.filter(o::stix_id.eq_any(sel.ids));
    }
    if !sel.types.is_empty() {
        q = q.filter(o::stix_type.eq_any(sel.types));
    }
    let spec_outer = spec_condition("objects", sel.spec_versions)?;
    q = q.filter(sql::<Bool>(&spec_outer));
    if let VersionSelector::Some { first, last, exact } = sel.versions {
        let spec_inner = spec_condition("v", sel.spec_versions)?;
        let mut alternatives: Vec<Predicate> = vec![];
        for (wanted, agg) in [(*first, "MIN"), (*last, "MAX")] {
            if wanted {
                alternatives.push(Box::new(sql::<Bool>(&format!(
                    "objects.version = (SELECT {agg}(v.version) FROM objects v \
                     WHERE v.community_id = objects.community_id AND v.stix_id = objects.stix_id \
                     AND {spec_inner})"
                ))));
            }
        }
        if !exact.is_empty() {
            alternatives.push(Box::new(o::version.eq_any(exact.clone())));
        }
        let mut any: Option<Predicate> = None;
        for alt in alternatives {
            any = Some(match any {
                None => alt,
                Some(prev) => Box::new(prev.or(alt)),
            });
        }
        q = q.filter(any?);
    }
    if let Some(after) = sel.added_after {
        q = q.filter(o::date_added.gt(after));
    }
    if let Some(pos) = sel.after {
        q = q.filter(
            o::date_added
                .gt(pos.date_added)
                .or(o::date_added.eq(pos.date_added).and(o::seq.gt(pos.seq))),
        );
    }
    Some(q)
}

/// Lists versions for the objects or manifest endpoint; `with_body` false leaves `body` empty.
pub fn list(
    conn: &mut Conn,
    grant: &ReadGrant,
    sel: &Selection<'_>,
    with_body: bool,
) -> Result<Vec<Row>, StorageError> {
    let Some(q) = filtered(grant, sel) else {
        return Ok(vec![]);
    };
    let q = q
        .order((o::date_added.asc(), o::seq.asc()))
        .limit(sel.limit as i64 + 1);
    let rows = if with_body {
        q.select((
            o::seq,
            o::stix_id,
            o::version_text,
            o::date_added,
            o::producer_id,
            o::body,
        ))
        .load::<Row>(conn)?
    } else {
        q.select((
            o::seq,
            o::stix_id,
            o::version_text,
            o::date_added,
            o::producer_id,
            diesel::dsl::sql::<diesel::sql_types::Text>("''"),
        ))
        .load::<Row>(conn)?
    };
    Ok(rows)
}

/// True when some version of `id` is stored in the granted community.
pub fn id_exists(conn: &mut Conn, grant: &ReadGrant, id: &str) -> Result<bool, StorageError> {
    let n: i64 = o::objects
        .filter(o::community_id.eq(grant.community_id()))
        .filter(o::stix_id.eq(id))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// No version matched among those the caller can see.
    NotFound,
    /// Versions matched, but the caller may delete none of them.
    Forbidden,
    Deleted(usize),
}

/// Deletes the matching versions of `id` that the grant allows. Matching versions the caller
/// may not delete make the whole request forbidden, so a DELETE never half-succeeds.
pub fn delete(
    conn: &mut Conn,
    grant: &DeleteGrant,
    id: &str,
    versions: &VersionSelector,
    spec_versions: &SpecVersions,
) -> Result<DeleteOutcome, StorageError> {
    let ids = [id.to_owned()];
    let sel = Selection {
        ids: &ids,
        types: &[],
        versions,
        spec_versions,
        added_after: None,
        after: None,
        limit: i64::MAX as usize - 1,
    };
    let Some(q) = filtered(grant.read(), &sel) else {
        return Ok(DeleteOutcome::NotFound);
    };
    let matched: Vec<(i64, String)> = q.select((o::seq, o::producer_id)).load(conn)?;
    if matched.is_empty() {
        return Ok(DeleteOutcome::NotFound);
    }
    if matched
        .iter()
        .any(|(_, producer)| !grant.may_delete(producer))
    {
        return Ok(DeleteOutcome::Forbidden);
    }
    let seqs: Vec<i64> = matched.iter().map(|(s, _)| *s).collect();
    let n = diesel::delete(o::objects.filter(o::seq.eq_any(&seqs))).execute(conn)?;
    Ok(DeleteOutcome::Deleted(n))
}
