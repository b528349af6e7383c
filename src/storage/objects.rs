//! Object versions and their deliveries: insert, the per-reader keyset pages with TAXII
//! filters, delete, and the bookkeeping the delivery decision drives. Reads of community data go
//! through `deliveries`, so a reader's query only ever touches what was delivered to it.

use super::bulk::{self, Column, Value};
use super::schema::deliveries::dsl as d;
use super::schema::objects::dsl as o;
use super::schema::reader_marks::dsl as m;
use super::stmt::{Dialect, Stmt};
use super::streams::{self, View};
use super::{meta_get, meta_put, Conn, StorageError};
use crate::policy::{DeleteGrant, ReadGrant, WriteGrant};
use crate::taxii::query::{SpecVersions, VersionSelector};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Text};
use std::collections::{HashMap, HashSet};

/// Spec versions objects can be stored under. Requested spec versions are intersected with this
/// list, so the SQL below only ever inlines these constants, never request text.
pub const KNOWN_SPEC_VERSIONS: [&str; 2] = ["2.0", "2.1"];

/// A checked object version ready to store.
#[derive(Debug, Clone)]
pub struct NewVersion {
    pub stix_id: String,
    pub stix_type: String,
    /// `modified`, else `created`; `None` for objects without either (most SCOs).
    pub version: Option<(i64, String)>,
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
pub type VersionKey = (String, Option<i64>);

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
    grant: &WriteGrant,
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
    let community = grant.community_id();
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
                key: (id, versioned.then_some(version)),
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

    pub fn next(&mut self, now: i64) -> i64 {
        self.last = now.max(self.last + 1);
        self.last
    }

    /// The latest time handed out (or loaded).
    pub fn last(&self) -> i64 {
        self.last
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
    pub added_at: i64,
    pub release_at: i64,
    /// Delivered to its producer's partner only (docs/sharing.md section 6).
    pub private_copy: bool,
}

impl Placed {
    /// `(version, version text, versioned)`. TAXII: without `modified` or `created`, an
    /// object's version is when it was added (its POST's insertion time).
    pub fn version(&self) -> (i64, String, bool) {
        match &self.item.version {
            Some((v, t)) => (*v, t.clone(), true),
            None => (
                self.added_at,
                crate::taxii::timestamp::format_micros(self.added_at),
                false,
            ),
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
            version: self.version().0,
            producer_id: producer.map(str::to_owned),
            tlp: self.item.tlp.clone(),
            recipients: self.item.recipients.clone(),
            added_at: self.added_at,
            release_at: self.release_at,
            released: self.released(),
            private_copy: self.private_copy,
        }
    }

    fn released(&self) -> bool {
        self.release_at <= self.added_at
    }
}

const LAST_SEQ: &str = "last_seq";
const LAST_NUM: &str = "last_num";

/// Appends `(SELECT num FROM object_ids ...)`: the numbers of `ids` in `community` (see the
/// `object_ids` migration). The indexes that find versions and references are keyed by them.
fn nums_of<'a, ST, S: AsRef<str>>(
    q: &mut Stmt<'a, ST>,
    dialect: Dialect,
    community: &'a str,
    ids: &'a [S],
) {
    q.sql("(SELECT object_ids.num FROM object_ids WHERE object_ids.community_id = ")
        .text(community)
        .sql(" AND object_ids.stix_id")
        .in_texts(dialect, ids)
        .sql(")");
}

/// Numbers of STIX ids in one community.
pub type Nums = HashMap<String, i64>;

/// Every id a write names, given `(id, referenced ids)` per object: the referenced ones before
/// the object's own, since they are mostly older; new ids are numbered in this order.
pub fn named<'a>(objects: impl Iterator<Item = (&'a str, &'a [String])>) -> Vec<&'a str> {
    let mut out = vec![];
    for (id, refs) in objects {
        out.extend(refs.iter().map(String::as_str));
        out.push(id);
    }
    out
}

/// The numbers of those of `ids` that have one in `community`. A write looks its ids up once
/// and passes the numbers on: each lookup of an id is a probe of `object_ids`, keyed by text.
pub fn nums(conn: &mut Conn, community: &str, ids: &[&str]) -> Result<Nums, StorageError> {
    let mut unique: Vec<&str> = ids.to_vec();
    unique.sort_unstable();
    unique.dedup();
    let mut q: Stmt<(Text, BigInt)> =
        Stmt::new("SELECT stix_id, num FROM object_ids WHERE community_id = ");
    q.text(community)
        .sql(" AND stix_id")
        .in_texts(conn.dialect(), &unique);
    Ok(q.load::<(String, i64)>(conn)?.into_iter().collect())
}

/// Hands the next numbers out, in the order of `ids`, to those of them `nums` (looked up in this
/// transaction) has no number for, and adds them. Under the write lock, like `seq`.
fn assign_nums(
    conn: &mut Conn,
    community: &str,
    ids: &[&str],
    nums: &mut Nums,
) -> Result<(), StorageError> {
    let mut seen = HashSet::with_capacity(ids.len());
    let new: Vec<&str> = ids
        .iter()
        .copied()
        .filter(|id| !nums.contains_key(*id) && seen.insert(*id))
        .collect();
    if new.is_empty() {
        return Ok(());
    }
    let last: i64 = meta_get(conn, LAST_NUM)?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    bulk::insert_lists(
        conn,
        "object_ids",
        &[
            ("community_id", Column::Same(Value::Text(community))),
            ("stix_id", Column::Texts(&new)),
            ("num", Column::Counted(last + 1)),
        ],
    )?;
    meta_put(conn, LAST_NUM, &(last + new.len() as i64).to_string())?;
    nums.extend(
        new.iter()
            .zip(last + 1..)
            .map(|(id, n)| (id.to_string(), n)),
    );
    Ok(())
}

/// The number of `id`: `assign_nums` gave every id of the write one, so a missing number is
/// a broken invariant, answered as an error rather than a panic inside the transaction.
fn num_of(nums: &Nums, id: &str) -> Result<i64, StorageError> {
    nums.get(id).copied().ok_or(StorageError::Inconsistent(
        "an id stored without its number",
    ))
}

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
    let seqs = next_seqs(conn, placed.len())?;
    let named = named(
        placed
            .iter()
            .map(|p| (p.item.stix_id.as_str(), p.item.refs.as_slice())),
    );
    assign_nums(conn, community, &named, nums)?;
    let several = with_company(placed, existing);
    let versions: Vec<(i64, String, bool)> = placed.iter().map(Placed::version).collect();
    let mut rows = Vec::with_capacity(placed.len());
    let (mut ref_seqs, mut ref_ids, mut ref_nums) = (vec![], vec![], vec![]);
    for ((p, seq), version) in placed.iter().zip(&seqs).zip(&versions) {
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
    note_spec_versions(conn, placed)?;
    Ok(seqs)
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

/// `n` sequence numbers past both the highest ever given and the highest stored.
fn next_seqs(conn: &mut Conn, n: usize) -> Result<Vec<i64>, StorageError> {
    let given: i64 = meta_get(conn, LAST_SEQ)?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let stored: Option<i64> = o::objects.select(diesel::dsl::max(o::seq)).first(conn)?;
    let first = given.max(stored.unwrap_or(0)) + 1;
    Ok((first..first + n as i64).collect())
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
    version: &'a (i64, String, bool),
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
            Value::Int(*version),
            Value::Text(text),
            Value::Bool(*versioned),
            Value::Text(&item.spec_version),
            Value::Int(p.added_at),
            Value::OptText(self.producer),
            Value::OptText(item.tlp.as_deref()),
            Value::Text(&item.recipients),
            Value::Int(p.release_at),
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
    now: i64,
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

/// What the delivery decision needs about one stored version.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct StoredVersion {
    pub seq: i64,
    pub stix_id: String,
    pub stix_type: String,
    pub version: i64,
    pub producer_id: Option<String>,
    pub tlp: Option<String>,
    pub recipients: String,
    pub added_at: i64,
    pub release_at: i64,
    pub released: bool,
    pub private_copy: bool,
}

/// The columns of `StoredVersion`, in its order.
const STORED_COLUMNS: &str = "SELECT seq, stix_id, stix_type, version, producer_id, tlp, \
     recipients, added_at, release_at, released, private_copy FROM objects WHERE ";
pub(super) type StoredSql = (
    BigInt,
    Text,
    Text,
    BigInt,
    Nullable<Text>,
    Nullable<Text>,
    Text,
    BigInt,
    BigInt,
    diesel::sql_types::Bool,
    diesel::sql_types::Bool,
);

// The lookups below run on every envelope, with lists of up to 500 values: as `Stmt`s (see its
// module) they are not walked three times through the multi-backend's dynamic layer.

/// Every version of these ids in a community (all of them when `ids` is `None`), by seq.
pub fn versions_of(
    conn: &mut Conn,
    community: &str,
    ids: Option<&[String]>,
) -> Result<Vec<StoredVersion>, StorageError> {
    let mut q: Stmt<StoredSql> = Stmt::new(STORED_COLUMNS);
    match ids {
        Some([]) => return Ok(vec![]),
        Some(ids) => {
            q.sql("num IN ");
            nums_of(&mut q, conn.dialect(), community, ids);
        }
        None => {
            q.sql("community_id = ").text(community);
        }
    }
    q.sql(" ORDER BY seq");
    Ok(q.load(conn)?)
}

/// Every version of the ids numbered `nums`, by seq.
pub fn versions_numbered(
    conn: &mut Conn,
    nums: &[i64],
) -> Result<Vec<StoredVersion>, StorageError> {
    if nums.is_empty() {
        return Ok(vec![]);
    }
    Ok(numbered(conn.dialect(), nums).load(conn)?)
}

/// The statement of `versions_numbered`: answered from the index on number alone (see the
/// `decision_columns` migration).
pub(super) fn numbered(dialect: Dialect, nums: &[i64]) -> Stmt<'static, StoredSql> {
    let mut q: Stmt<StoredSql> = Stmt::new(STORED_COLUMNS);
    q.sql("num").in_ints(dialect, nums).sql(" ORDER BY seq");
    q
}

/// A version's seq, with its id and version.
pub type Named = (i64, (String, i64));

/// The id and version of each of these versions still stored.
pub fn ids_of(conn: &mut Conn, seqs: &[i64]) -> Result<Vec<Named>, StorageError> {
    if seqs.is_empty() {
        return Ok(vec![]);
    }
    let mut q: Stmt<(BigInt, Text, BigInt)> =
        Stmt::new("SELECT seq, stix_id, version FROM objects WHERE seq");
    q.in_ints(conn.dialect(), seqs);
    let rows: Vec<(i64, String, i64)> = q.load(conn)?;
    Ok(rows.into_iter().map(|(s, id, v)| (s, (id, v))).collect())
}

/// The ids each of these versions references.
pub fn refs_of(conn: &mut Conn, seqs: &[i64]) -> Result<Vec<(i64, String)>, StorageError> {
    if seqs.is_empty() {
        return Ok(vec![]);
    }
    let mut q: Stmt<(BigInt, Text)> = Stmt::new("SELECT seq, ref_id FROM object_refs WHERE seq");
    q.in_ints(conn.dialect(), seqs);
    Ok(q.load(conn)?)
}

/// The ids of objects that reference an id numbered `nums`.
pub fn referencing(conn: &mut Conn, nums: &[i64]) -> Result<Vec<String>, StorageError> {
    if nums.is_empty() {
        return Ok(vec![]);
    }
    let mut q: Stmt<Text> = Stmt::new(
        "SELECT DISTINCT objects.stix_id FROM objects WHERE objects.seq IN \
         (SELECT object_refs.seq FROM object_refs WHERE object_refs.target_num",
    );
    q.in_ints(conn.dialect(), nums).sql(")");
    Ok(q.load(conn)?)
}

/// Ids with versions whose delay has ended but whose release has not been processed.
pub fn due_ids(conn: &mut Conn, community: &str, now: i64) -> Result<Vec<String>, StorageError> {
    // `released = FALSE` written out (not bound) so that planners may use the partial index.
    let mut q: Stmt<Text> = Stmt::new(
        "SELECT DISTINCT stix_id FROM objects WHERE released = FALSE AND community_id = ",
    );
    q.text(community).sql(" AND release_at <= ").int(now);
    Ok(q.load(conn)?)
}

/// True when some version of the community has a release time that has passed unprocessed.
pub fn releases_due(conn: &mut Conn, community: &str, now: i64) -> Result<bool, StorageError> {
    // Asked on every read: a `Stmt` (see its module) rather than the DSL; `released = FALSE`
    // written out so that planners may use the partial index.
    let mut q: Stmt<diesel::sql_types::Bool> = Stmt::new(
        "SELECT EXISTS (SELECT 1 FROM objects WHERE released = FALSE AND community_id = ",
    );
    q.text(community)
        .sql(" AND release_at <= ")
        .int(now)
        .sql(")");
    Ok(q.get_result(conn)?)
}

/// Records a version's release time (recomputed when rules change) and whether it has passed.
pub fn set_release(
    conn: &mut Conn,
    seq: i64,
    release_at: i64,
    released: bool,
) -> Result<(), StorageError> {
    diesel::update(o::objects.filter(o::seq.eq(seq)))
        .set((o::release_at.eq(release_at), o::released.eq(released)))
        .execute(conn)?;
    Ok(())
}

/// Which of these versions are delivered to which user.
pub fn delivered_among(
    conn: &mut Conn,
    community: &str,
    seqs: &[i64],
) -> Result<Vec<(String, i64)>, StorageError> {
    if seqs.is_empty() {
        return Ok(vec![]);
    }
    let mut q: Stmt<(Text, BigInt)> =
        Stmt::new("SELECT user_name, seq FROM deliveries WHERE community_id = ");
    q.text(community)
        .sql(" AND seq")
        .in_ints(conn.dialect(), seqs);
    Ok(q.load(conn)?)
}

/// The date_added `user` was given for each of these versions that it has.
pub fn delivery_dates(
    conn: &mut Conn,
    user: &str,
    community: &str,
    seqs: &[i64],
) -> Result<std::collections::HashMap<i64, i64>, StorageError> {
    if seqs.is_empty() {
        return Ok(Default::default());
    }
    let mut q: Stmt<(BigInt, BigInt)> =
        Stmt::new("SELECT seq, date_added FROM deliveries WHERE user_name = ");
    q.text(user)
        .sql(" AND community_id = ")
        .text(community)
        .sql(" AND seq")
        .in_ints(conn.dialect(), seqs);
    Ok(q.load::<(i64, i64)>(conn)?.into_iter().collect())
}

/// Delivers `seqs` to `user` in this order, each with the next date_added of that reader: later
/// than everything it was given before and no earlier than `now`.
pub fn deliver(
    conn: &mut Conn,
    user: &str,
    community: &str,
    seqs: &[i64],
    now: i64,
) -> Result<(), StorageError> {
    if seqs.is_empty() {
        return Ok(());
    }
    let last: Option<i64> = m::reader_marks
        .filter(m::user_name.eq(user))
        .filter(m::community_id.eq(community))
        .select(m::last_date_added)
        .first(conn)
        .optional()?;
    // Each next date is `now` or one past the one before, whichever is later: past the first,
    // that is always one past the one before.
    let start = now.max(last.unwrap_or(i64::MIN).saturating_add(1));
    let t = start + seqs.len() as i64 - 1;
    bulk::insert_lists(
        conn,
        "deliveries",
        &[
            ("user_name", Column::Same(Value::Text(user))),
            ("community_id", Column::Same(Value::Text(community))),
            ("seq", Column::Ints(seqs)),
            ("date_added", Column::Counted(start)),
        ],
    )?;
    if last.is_some() {
        diesel::update(
            m::reader_marks
                .filter(m::user_name.eq(user))
                .filter(m::community_id.eq(community)),
        )
        .set(m::last_date_added.eq(t))
        .execute(conn)?;
    } else {
        diesel::insert_into(m::reader_marks)
            .values((
                m::user_name.eq(user),
                m::community_id.eq(community),
                m::last_date_added.eq(t),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Takes these versions away from `user`.
pub fn withdraw(
    conn: &mut Conn,
    user: &str,
    community: &str,
    seqs: &[i64],
) -> Result<(), StorageError> {
    diesel::delete(
        d::deliveries
            .filter(d::user_name.eq(user))
            .filter(d::community_id.eq(community))
            .filter(d::seq.eq_any(seqs)),
    )
    .execute(conn)?;
    Ok(())
}

/// Takes everything away from users that are no longer readers of `community`.
pub fn withdraw_all_except(
    conn: &mut Conn,
    community: &str,
    readers: &[String],
) -> Result<(), StorageError> {
    diesel::delete(
        d::deliveries
            .filter(d::community_id.eq(community))
            .filter(d::user_name.ne_all(readers)),
    )
    .execute(conn)?;
    Ok(())
}

/// The filters of one listing, already parsed and typed.
#[derive(Debug, Clone)]
pub struct Selection<'a> {
    pub ids: &'a [String],
    pub types: &'a [String],
    /// Only versions these partners produced (the web pages' filter).
    pub producers: &'a [String],
    /// Only versions that reference one of these ids.
    pub refs: &'a [String],
    /// Only versions that reference an object this partner produced (`match[about]=mine`).
    pub about: Option<&'a str>,
    pub versions: &'a VersionSelector,
    pub spec_versions: &'a SpecVersions,
    pub added_after: Option<i64>,
    /// Strictly after this reader date_added (from a `next` token).
    pub after: Option<i64>,
    /// Strictly before this reader date_added (a newest-first listing's `next` token).
    pub before: Option<i64>,
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
        dates_after: &[i64],
    ) -> Result<Option<Source<'a>>, StorageError> {
        let (user, community) = (grant.reader().user.as_str(), grant.community_id());
        let Some(view) = streams::view(conn, user, community)? else {
            return Ok(None);
        };
        let after = match view {
            View::Own => dates_after.to_vec(),
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
    fn of(
        conn: &mut Conn,
        grant: &'a ReadGrant,
        sel: &Selection<'_>,
    ) -> Result<Option<Source<'a>>, StorageError> {
        let Some(mut src) = Source::resolve(conn, grant, &dates_after(sel))? else {
            return Ok(None);
        };
        src.before = match (sel.before, src.view) {
            (None, _) => None,
            (Some(t), View::Own) => Some(t),
            // Dates grow with positions: the last one dated before `t` bounds the stream.
            (Some(t), View::Streamed { class, .. }) => {
                let stamped = streams::last_stamped_by(conn, class, t - 1)?;
                Some(src.view.last_dated_by(t - 1, stamped))
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
    fn date(&self) -> String {
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
const USUAL_SPEC_VERSION: &str = "2.1";
const MIXED_SPEC_VERSIONS: &str = "mixed_spec_versions";

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
fn spec_versions_mixed(conn: &mut Conn) -> Result<bool, StorageError> {
    Ok(meta_get(conn, MIXED_SPEC_VERSIONS)?.is_some())
}

/// `q` (a SELECT up to its FROM) over the delivered rows of one listing for the granted
/// reader; the caller orders them by date_added. `first`/`last` are evaluated over the versions
/// delivered to this reader that match the spec-version filter; `added_after` and the page
/// position then apply. `None` when no row can match.
fn filtered<'a, ST>(
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
    exact: &[i64],
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
            q.int(*v);
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
    refs: &[String],
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
fn order_and_limit<ST>(q: &mut Stmt<'_, ST>, src: &Source<'_>, sel: &Selection<'_>) {
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
fn dates_after(sel: &Selection<'_>) -> Vec<i64> {
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

/// The ids a stored version names in `object_refs` (what a report or grouping holds; its
/// markings and creator are not among them), and its version.
pub fn held_by(conn: &mut Conn, seq: i64) -> Result<(Vec<String>, i64), StorageError> {
    let row: Option<(String, i64)> = o::objects
        .filter(o::seq.eq(seq))
        .select((o::body, o::version))
        .first(conn)
        .optional()?;
    let Some((body, version)) = row else {
        return Ok((vec![], 0));
    };
    let parsed: Option<serde_json::Value> = serde_json::from_str(&body).ok();
    let refs = parsed
        .as_ref()
        .and_then(|v| v.get("object_refs"))
        .and_then(|v| v.as_array());
    let held = refs
        .into_iter()
        .flatten()
        .filter_map(|r| r.as_str().map(str::to_owned))
        .collect();
    Ok((held, version))
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

/// A page of stored bodies (objects, object endpoints).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Bodies {
    /// The reader's date_added of each version fetched, in order: at most `limit + 1`.
    pub dates: Vec<i64>,
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
            dates: self.dates,
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
    let ids = [id.to_owned()];
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
