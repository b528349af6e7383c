//! Storing versions: what is stored of a posted id, insertion times, the multi-row insert with
//! its `several` bookkeeping, built-in definitions, and delete.

use super::ids::{assign_nums, named, num_of, nums, Nums};
use super::listings::{
    filtered, spec_versions_mixed, Selection, Source, MIXED_SPEC_VERSIONS, USUAL_SPEC_VERSION,
};
use super::stored::StoredVersion;
use crate::policy::DeleteGrant;
use crate::stix::timestamp::Timestamp;
use crate::storage::bulk::{self, Column, Value};
use crate::storage::schema::objects::dsl as o;
use crate::storage::stmt::Stmt;
use crate::storage::streams;
use crate::storage::{meta_get, meta_put, Conn, StorageError};
use crate::taxii::query::{SpecVersions, VersionSelector};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Text};
use std::collections::HashSet;

/// A checked object version ready to store.
#[derive(Debug, Clone)]
pub struct NewVersion {
    pub stix_id: String,
    pub stix_type: String,
    /// `modified`, else `created`; `None` for objects without either (most SCOs).
    pub version: Option<(Timestamp, String)>,
    pub spec_version: String,
    /// The effective TLP of its markings (`clear` ... `red`), `None` when unmarked.
    pub tlp: Option<String>,
    /// RED recipients as JSON text (`["acme","globex/soc"]`).
    pub recipients: String,
    /// Referenced ids that take part in the reference rule.
    pub refs: Vec<String>,
    pub body: String,
}

/// The key a stored version is matched on when the same object is posted again: its version,
/// or `None` for the versionless (whose version is their date_added, so any copy matches).
pub type VersionKey = (String, Option<Timestamp>);

/// A stored version of a posted id, as the repeat-post check needs it.
#[derive(Debug, Clone)]
pub struct Known {
    pub key: VersionKey,
    pub version_text: String,
    pub body: String,
    pub producer: Option<String>,
    pub private_copy: bool,
    /// Delivered to the posting user.
    pub delivered: bool,
}

/// Every stored version of the ids numbered `nums` (see `nums`), oldest first, with whether it is
/// delivered to `user`. One query per 500 ids, so an envelope costs a few statements, not one
/// per object. Which of them the poster may be told about is the policy's call.
pub fn stored_versions(
    conn: &mut Conn,
    community: &str,
    user: &str,
    nums: &[i64],
) -> Result<Vec<Known>, StorageError> {
    type Found = (i64, String, i64, bool, String, String, Option<String>, bool);
    type FoundSql = (BigInt, Text, BigInt, Bool, Text, Text, Nullable<Text>, Bool);
    let mut q: Stmt<FoundSql> = Stmt::new(
        "SELECT seq, stix_id, version, versioned, version_text, body, producer_id, private_copy \
         FROM objects WHERE num",
    );
    q.in_ints(conn.dialect(), nums);
    let mut found: Vec<Found> = q.load::<Found>(conn)?;
    let seqs: Vec<i64> = found.iter().map(|f| f.0).collect();
    let delivered: HashSet<i64> = match streams::view(conn, user, community)? {
        Some(view) => streams::dates_among(conn, user, community, view, &seqs)?
            .into_keys()
            .collect(),
        None => HashSet::new(),
    };
    found.sort_by_key(|f| f.0);
    Ok(found
        .into_iter()
        .map(
            |(seq, id, version, versioned, version_text, body, producer, private_copy)| Known {
                key: (id, versioned.then_some(Timestamp::from_micros(version))),
                version_text,
                body,
                producer,
                private_copy,
                delivered: delivered.contains(&seq),
            },
        )
        .collect())
}

const LAST_ADDED: &str = "last_added_at";

/// Hands out insertion times: no earlier than `now`, later than every one given before. Read
/// once and saved once per transaction (the write lock keeps it single-writer).
pub struct AddedClock {
    last: i64,
    saved: i64,
}

impl AddedClock {
    pub fn load(conn: &mut Conn) -> Result<AddedClock, StorageError> {
        let last: i64 = meta_get(conn, LAST_ADDED)?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        Ok(AddedClock { last, saved: last })
    }

    pub fn next(&mut self, now: Timestamp) -> Timestamp {
        self.last = now.micros().max(self.last + 1);
        Timestamp::from_micros(self.last)
    }

    /// The latest time handed out (or loaded).
    pub fn last(&self) -> Timestamp {
        Timestamp::from_micros(self.last)
    }

    pub fn save(self, conn: &mut Conn) -> Result<(), StorageError> {
        if self.last != self.saved {
            meta_put(conn, LAST_ADDED, &self.last.to_string())?;
        }
        Ok(())
    }
}

/// One version about to be stored, with the times the decision gave it.
#[derive(Debug, Clone)]
pub struct Placed {
    pub item: NewVersion,
    pub added_at: Timestamp,
    pub release_at: Timestamp,
    /// Delivered to its producer's partner only (docs/sharing.md section 6).
    pub private_copy: bool,
}

impl Placed {
    /// `(version, version text, versioned)`. TAXII: without `modified` or `created`, an
    /// object's version is when it was added (its POST's insertion time).
    pub fn version(&self) -> (Timestamp, String, bool) {
        match &self.item.version {
            Some((v, t)) => (*v, t.clone(), true),
            None => (self.added_at, self.added_at.to_string(), false),
        }
    }

    /// The ids it references, sorted, each once (as stored in `object_refs`).
    pub fn ref_targets(&self) -> Vec<&String> {
        let mut targets: Vec<&String> = self.item.refs.iter().collect();
        targets.sort();
        targets.dedup();
        targets
    }

    /// What the delivery decision reads of it once stored under `seq`: the same values
    /// `insert_versions` writes, so a caller that just stored it need not read it back.
    pub fn stored(&self, seq: i64, producer: Option<&str>) -> StoredVersion {
        StoredVersion {
            seq,
            stix_id: self.item.stix_id.clone(),
            stix_type: self.item.stix_type.clone(),
            version: self.version().0.micros(),
            producer_id: producer.map(str::to_owned),
            tlp: self.item.tlp.clone(),
            recipients: self.item.recipients.clone(),
            added_at: self.added_at.micros(),
            release_at: self.release_at.micros(),
            released: self.released(),
            private_copy: self.private_copy,
        }
    }

    fn released(&self) -> bool {
        self.release_at <= self.added_at
    }
}

const LAST_SEQ: &str = "last_seq";

/// Stores versions (posted, or built-in when `producer` is `None`) in a few multi-row
/// statements; returns their sequence numbers, in order. Numbers are handed out here, under
/// the write lock, past both the highest ever given (kept in `meta`, so a deleted newest object
/// never has its number reused) and the highest stored. `existing` holds every id of `placed`
/// that had a version in the community before (any producer's): it decides `several`. `nums`
/// holds the numbers looked up in this transaction (see `nums`); those handed out are added.
pub fn insert_versions(
    conn: &mut Conn,
    community: &str,
    producer: Option<&str>,
    placed: &[Placed],
    existing: &HashSet<String>,
    nums: &mut Nums,
) -> Result<Vec<i64>, StorageError> {
    if placed.is_empty() {
        return Ok(vec![]);
    }
    let first = next_seq(conn)?;
    let seqs: Vec<i64> = (first..first + placed.len() as i64).collect();
    insert_numbered(conn, (community, producer), placed, &seqs, existing, nums)?;
    Ok(seqs)
}

/// `insert_versions` under sequence numbers handed out before, from `next_seq` read in the same
/// transaction (a POST decides its deliveries before it writes).
pub fn insert_numbered(
    conn: &mut Conn,
    (community, producer): (&str, Option<&str>),
    placed: &[Placed],
    seqs: &[i64],
    existing: &HashSet<String>,
    nums: &mut Nums,
) -> Result<(), StorageError> {
    if placed.is_empty() {
        return Ok(());
    }
    if seqs.len() != placed.len() {
        return Err(StorageError::Inconsistent("a sequence number per version"));
    }
    let named = named(
        placed
            .iter()
            .map(|p| (p.item.stix_id.as_str(), p.item.refs.as_slice())),
    );
    assign_nums(conn, community, &named, nums)?;
    let several = with_company(placed, existing);
    let versions: Vec<(Timestamp, String, bool)> = placed.iter().map(Placed::version).collect();
    let mut rows = Vec::with_capacity(placed.len());
    let (mut ref_seqs, mut ref_ids, mut ref_nums) = (vec![], vec![], vec![]);
    for ((p, seq), version) in placed.iter().zip(seqs).zip(&versions) {
        let row = NewRow {
            seq: *seq,
            community,
            producer,
            several: several.contains(p.item.stix_id.as_str()),
            version,
        };
        rows.push(row.values(p, nums)?);
        for id in p.ref_targets() {
            ref_seqs.push(*seq);
            ref_ids.push(id.as_str());
            ref_nums.push(num_of(nums, id)?);
        }
    }
    bulk::insert(conn, "objects", &OBJECT_COLUMNS, &rows)?;
    bulk::insert_lists(
        conn,
        "object_refs",
        &[
            ("seq", Column::Ints(&ref_seqs)),
            ("community_id", Column::Same(Value::Text(community))),
            ("ref_id", Column::Texts(&ref_ids)),
            ("target_num", Column::Ints(&ref_nums)),
        ],
    )?;
    meta_put(conn, LAST_SEQ, &seqs[seqs.len() - 1].to_string())?;
    // `existing` may name ids this call does not place (a version posted again is skipped).
    let earlier: Vec<i64> = several
        .into_iter()
        .filter(|id| existing.contains(*id))
        .map(|id| num_of(nums, id))
        .collect::<Result<_, _>>()?;
    mark_several(conn, &earlier)?;
    note_spec_versions(conn, placed)
}

/// Notes in `meta` once a version of another spec than 2.1 is stored: until then no listing
/// needs a spec filter.
fn note_spec_versions(conn: &mut Conn, placed: &[Placed]) -> Result<(), StorageError> {
    if placed
        .iter()
        .any(|p| p.item.spec_version != USUAL_SPEC_VERSION)
    {
        meta_put(conn, MIXED_SPEC_VERSIONS, "1")?;
    }
    Ok(())
}

/// The next sequence number: past both the highest ever given and the highest stored.
pub fn next_seq(conn: &mut Conn) -> Result<i64, StorageError> {
    let given: i64 = meta_get(conn, LAST_SEQ)?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let stored: Option<i64> = o::objects.select(diesel::dsl::max(o::seq)).first(conn)?;
    Ok(given.max(stored.unwrap_or(0)) + 1)
}

/// The ids of `placed` that have company: stored before, or placed more than once now.
fn with_company<'a>(placed: &'a [Placed], existing: &HashSet<String>) -> HashSet<&'a str> {
    let mut seen = HashSet::with_capacity(placed.len());
    let mut several = HashSet::new();
    for p in placed {
        let id = p.item.stix_id.as_str();
        if existing.contains(id) || !seen.insert(id) {
            several.insert(id);
        }
    }
    several
}

/// The columns of an `objects` row, in the order `object_row` gives them.
const OBJECT_COLUMNS: [&str; 18] = [
    "seq",
    "community_id",
    "stix_id",
    "stix_type",
    "version",
    "version_text",
    "versioned",
    "spec_version",
    "added_at",
    "producer_id",
    "tlp",
    "recipients",
    "release_at",
    "released",
    "body",
    "several",
    "num",
    "private_copy",
];

/// What an `objects` row holds besides its version's own fields.
struct NewRow<'a> {
    seq: i64,
    community: &'a str,
    producer: Option<&'a str>,
    several: bool,
    /// (version, its text, whether the object has versions): see `Placed::version`.
    version: &'a (Timestamp, String, bool),
}

impl<'a> NewRow<'a> {
    /// The values of `OBJECT_COLUMNS`, in order.
    fn values(&self, p: &'a Placed, nums: &Nums) -> Result<Vec<Value<'a>>, StorageError> {
        let item = &p.item;
        let (version, text, versioned) = self.version;
        Ok(vec![
            Value::Int(self.seq),
            Value::Text(self.community),
            Value::Text(&item.stix_id),
            Value::Text(&item.stix_type),
            Value::Int(version.micros()),
            Value::Text(text),
            Value::Bool(*versioned),
            Value::Text(&item.spec_version),
            Value::Int(p.added_at.micros()),
            Value::OptText(self.producer),
            Value::OptText(item.tlp.as_deref()),
            Value::Text(&item.recipients),
            Value::Int(p.release_at.micros()),
            Value::Bool(p.released()),
            Value::Text(&item.body),
            Value::Bool(self.several),
            Value::Int(num_of(nums, &item.stix_id)?),
            Value::Bool(p.private_copy),
        ])
    }
}

/// Sets `several` on the earlier versions of the ids numbered `nums`, which have just been given
/// company (the rule the `several` migration applied to what was stored before it). New
/// versions get it as they are inserted.
fn mark_several(conn: &mut Conn, nums: &[i64]) -> Result<(), StorageError> {
    if nums.is_empty() {
        return Ok(());
    }
    let mut q: Stmt<()> =
        Stmt::new("UPDATE objects SET several = TRUE WHERE several = FALSE AND num");
    q.in_ints(conn.dialect(), nums);
    q.execute(conn)?;
    Ok(())
}

/// Stores a built-in object (a TLP 2.0 definition) in a community unless it is there already.
pub fn ensure_builtin(
    conn: &mut Conn,
    community: &str,
    item: &NewVersion,
    now: Timestamp,
) -> Result<(), StorageError> {
    let mut known = nums(conn, community, &[item.stix_id.as_str()])?;
    let producers: Vec<Option<String>> = match known.get(&item.stix_id) {
        Some(num) => {
            let mut q: Stmt<Nullable<Text>> =
                Stmt::new("SELECT producer_id FROM objects WHERE num = ");
            q.int(*num);
            q.load(conn)?
        }
        None => vec![],
    };
    if producers.iter().any(Option::is_none) {
        return Ok(());
    }
    // Another producer's version of the same id gives it company.
    let existing: HashSet<String> = producers
        .first()
        .map(|_| item.stix_id.clone())
        .into_iter()
        .collect();
    let mut clock = AddedClock::load(conn)?;
    let added_at = clock.next(now);
    let placed = Placed {
        item: item.clone(),
        added_at,
        release_at: added_at,
        private_copy: false,
    };
    insert_versions(conn, community, None, &[placed], &existing, &mut known)?;
    clock.save(conn)?;
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// No version matched among those delivered to the caller.
    NotFound,
    /// Versions matched, and the caller may not delete some of them.
    Forbidden,
    /// A built-in TLP definition matched: those are served to every member and stay.
    BuiltIn,
    Deleted(usize),
}

/// Deletes the matching versions of `id` among those delivered to the caller, when the grant
/// allows every one of them (a DELETE never half-succeeds). Built-in definitions stay.
pub fn delete(
    conn: &mut Conn,
    grant: &DeleteGrant,
    id: &str,
    versions: &VersionSelector,
    spec_versions: &SpecVersions,
) -> Result<DeleteOutcome, StorageError> {
    let ids = [crate::stix::identifier::StixId::known(id)];
    let sel = Selection {
        ids: &ids,
        types: &[],
        producers: &[],
        refs: &[],
        about: None,
        versions,
        spec_versions,
        before: None,
        newest_first: false,
        added_after: None,
        after: None,
        limit: 0,
    };
    let mixed = spec_versions_mixed(conn)?;
    let Some(src) = Source::resolve(conn, grant.read(), &[])? else {
        return Ok(DeleteOutcome::NotFound);
    };
    let Some(q) = filtered::<(BigInt, Nullable<Text>)>(
        conn.dialect(),
        &src,
        &sel,
        mixed,
        Stmt::new("SELECT objects.seq, objects.producer_id"),
    ) else {
        return Ok(DeleteOutcome::NotFound);
    };
    let matched: Vec<(i64, Option<String>)> = q.load(conn)?;
    if matched.is_empty() {
        return Ok(DeleteOutcome::NotFound);
    }
    if matched.iter().any(|(_, p)| p.is_none()) {
        return Ok(DeleteOutcome::BuiltIn);
    }
    if matched
        .iter()
        .any(|(_, p)| p.as_deref().is_some_and(|p| !grant.may_delete(p)))
    {
        return Ok(DeleteOutcome::Forbidden);
    }
    let seqs: Vec<i64> = matched.iter().map(|(s, _)| *s).collect();
    let n = diesel::delete(o::objects.filter(o::seq.eq_any(&seqs))).execute(conn)?;
    Ok(DeleteOutcome::Deleted(n))
}
