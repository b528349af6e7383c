//! GET manifest/objects/object/versions and DELETE: typed filters, keyset pages, `next` tokens.

use super::auth::Credentials;
use super::{Cairn, ServiceError};
use crate::ids::{CommunityId, UserName};
use crate::policy::{self, Principal, ReadGrant};
use crate::stix::identifier::StixId;
use crate::stix::timestamp::Timestamp;
use crate::stix::type_name::TypeName;
use crate::storage::objects::{self, DeleteOutcome, Row, Selection};
use crate::storage::{setup, Conn};
use crate::taxii::cursor::Position;
use crate::taxii::query::{Endpoint, Query, SpecVersions, VersionSelector};
use std::sync::Arc;

/// One page, in the reader's date_added order.
#[derive(Debug)]
pub struct Page {
    pub items: Items,
    /// The reader's date_added of the first and last item (none on an empty page).
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
    pub more: bool,
    pub next: Option<String>,
    /// Who produced each listed body, in order (empty: a built-in); none for records.
    pub producers: Vec<String>,
}

/// One version in a manifest or versions page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub id: String,
    pub version: String,
    /// When it became deliverable to this reader.
    pub date_added: Timestamp,
}

impl From<Row> for Record {
    fn from(row: Row) -> Record {
        Record {
            id: row.stix_id,
            version: row.version_text,
            date_added: Timestamp::from_micros(row.date_added),
        }
    }
}

#[derive(Debug)]
pub enum Items {
    /// Manifest records or versions.
    Records(Vec<Record>),
    /// The stored bodies, comma-separated (objects, object).
    Bodies(String),
    /// Per object of the caller's partner, how many of the page's versions of each type
    /// reference it (feedback).
    Feedback(Vec<Feedback>),
}

/// What the community posted about one object of the caller's partner, by type.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Feedback {
    pub id: String,
    pub counts: std::collections::BTreeMap<String, u64>,
}

/// The query of a listing request: its filters (restored from a `next` token), the position
/// after which the page starts, and the filters a next token carries.
fn request(
    (endpoint, object): (Endpoint, Option<&str>),
    pairs: &[(String, String)],
    limits: &crate::taxii::query::Limits,
    cursor: &crate::taxii::cursor::CursorKey,
    binding: &str,
) -> Result<(Query, Option<Timestamp>, String), ServiceError> {
    let mut q = Query::parse(endpoint, pairs, limits)?;
    let mut after = None;
    if let Some(token) = q.next.clone() {
        let (pos, listing) = cursor
            .open(binding, &token)
            .map_err(|_| ServiceError::BadCursor)?;
        q = q.resume(endpoint, &listing, limits)?;
        after = Some(pos.date_added);
    }
    let listing = q.listing();
    if let Some(id) = object {
        let Ok(id) = StixId::parse_filter(id) else {
            return Err(ServiceError::NotFound);
        };
        q.ids = vec![id];
    }
    if endpoint == Endpoint::Versions {
        q.versions = VersionSelector::All;
    }
    if endpoint == Endpoint::Feedback && q.types.is_empty() {
        q.types = REACTIONS.iter().map(|t| TypeName::known(*t)).collect();
    }
    Ok((q, after, listing))
}

/// Who was served which versions of which community by a page, for its receipt.
type Served = Option<(UserName, CommunityId, Vec<i64>)>;

/// One listing's rows: what the page serves, the dates fetched (one more than a page when
/// there are more), how many the page keeps, and who received which versions (for receipts).
struct Fetched {
    items: Items,
    producers: Vec<String>,
    dates: Vec<Timestamp>,
    kept: usize,
    served: Served,
}

impl Fetched {
    /// The page, with a next token minted by `next` when there are more.
    fn page(mut self, next: impl Fn(Timestamp) -> String) -> (Page, Served) {
        // A page ends at `limit` items, or earlier when its bytes ran out.
        let more = self.dates.len() > self.kept;
        self.dates.truncate(self.kept);
        let (first, last) = (self.dates.first().copied(), self.dates.last().copied());
        let next = last.filter(|_| more).map(next);
        let page = Page {
            items: self.items,
            producers: self.producers,
            first,
            last,
            more,
            next,
        };
        (page, self.served)
    }
}

fn fetch(
    c: &mut Conn,
    grant: &ReadGrant,
    endpoint: Endpoint,
    sel: &Selection<'_>,
    max_bytes: usize,
) -> Result<Fetched, ServiceError> {
    let limit = sel.limit;
    Ok(match endpoint {
        Endpoint::Objects | Endpoint::Object | Endpoint::Recent => {
            let b = objects::list_bodies(c, grant, sel, max_bytes)?;
            let reader = grant.reader().user.clone();
            let served = Some((reader, grant.community_id().clone(), b.seqs));
            Fetched {
                items: Items::Bodies(b.joined),
                producers: b.producers,
                dates: b.dates,
                kept: b.kept,
                served,
            }
        }
        Endpoint::Feedback => {
            let mut rows = objects::list_typed(c, grant, sel)?;
            let dates = rows.iter().map(|r| Timestamp::from_micros(r.2)).collect();
            rows.truncate(limit);
            let partner = &grant.reader().partner;
            let items = Items::Feedback(feedback(c, grant, &rows, partner)?);
            Fetched {
                items,
                producers: vec![],
                dates,
                kept: rows.len(),
                served: None,
            }
        }
        _ => {
            let mut rows = objects::list(c, grant, sel)?;
            let dates = rows
                .iter()
                .map(|r| Timestamp::from_micros(r.date_added))
                .collect();
            rows.truncate(limit);
            let kept = rows.len();
            Fetched {
                items: Items::Records(rows.into_iter().map(Record::from).collect()),
                producers: vec![],
                dates,
                kept,
                served: None,
            }
        }
    })
}

/// What `feedback/` counts unless `match[type]` says otherwise.
const REACTIONS: [&str; 3] = ["note", "opinion", "sighting"];

/// Counts the listed versions per object of `partner` they reference, by type.
fn feedback(
    c: &mut Conn,
    grant: &ReadGrant,
    rows: &[objects::Reaction],
    partner: &str,
) -> Result<Vec<Feedback>, ServiceError> {
    let seqs: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let types: std::collections::HashMap<i64, &str> =
        rows.iter().map(|r| (r.0, r.1.as_str())).collect();
    let mut by_id: std::collections::BTreeMap<String, Feedback> = Default::default();
    for (seq, id) in objects::refs_to_partner(c, grant, &seqs, partner)? {
        let entry = by_id.entry(id.clone()).or_insert_with(|| Feedback {
            id,
            counts: Default::default(),
        });
        *entry.counts.entry(types[&seq].to_owned()).or_default() += 1;
    }
    Ok(by_id.into_values().collect())
}

/// What one read as a member came to.
enum Step<T> {
    /// Delay releases came due in this community: they are processed before anything is read.
    Due(String),
    Done(Result<T, ServiceError>),
}

impl Cairn {
    /// Runs `f` in one read transaction with the caller authenticated in that same transaction
    /// (`recall`): what it reads is decided with the user, token and membership as they are
    /// then. Credentials not recently verified are verified first (argon2 is slow by design
    /// and never runs inside a transaction), and the read runs again.
    pub(super) async fn read_as_caller<T, F>(
        &self,
        creds: &Credentials,
        f: F,
    ) -> Result<T, ServiceError>
    where
        T: Send + 'static,
        F: Fn(&mut Conn, &Principal) -> Result<T, ServiceError> + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        let mut verified: Option<Principal> = None;
        loop {
            let (sent, auth, known, f) = (
                creds.clone(),
                self.auth.clone(),
                verified.clone(),
                Arc::clone(&f),
            );
            let job = move |c: &mut Conn| {
                let principal = match &known {
                    Some(p) => p.clone(),
                    None => match auth.recall(c, &sent)? {
                        Some(p) => p,
                        None => return Ok(None),
                    },
                };
                Ok(Some(f(c, &principal)))
            };
            let done = self.storage.read(job).await?;
            match done {
                Some(result) => {
                    self.auth.flush_uses(&self.storage);
                    return result;
                }
                None => verified = Some(self.authenticate(creds).await?),
            }
        }
    }

    /// Runs `f` in one read transaction, after the caller's credentials, membership and read
    /// grant were established in that same transaction (`read_as_caller`): one trip to
    /// storage for a whole GET. When delay releases have come due in the community, they are
    /// processed first (a write) and the read runs again.
    async fn read_as_member<T, F>(
        &self,
        creds: &Credentials,
        api_root: &str,
        collection: &str,
        f: F,
    ) -> Result<T, ServiceError>
    where
        T: Send + 'static,
        F: Fn(&mut Conn, ReadGrant) -> Result<T, ServiceError> + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        let mut released = false;
        loop {
            let (root, key, f) = (api_root.to_owned(), collection.to_owned(), Arc::clone(&f));
            let (now, may_be_due) = (self.clock.now(), !released);
            let step = self
                .read_as_caller(creds, move |c, principal| {
                    Ok(read_step(
                        c,
                        principal,
                        (&root, &key),
                        now,
                        may_be_due,
                        &*f,
                    )?)
                })
                .await?;
            match step {
                Step::Done(result) => return result,
                Step::Due(community) => {
                    self.storage
                        .write(move |c| super::deliveries::release_due(c, &community, now))
                        .await?;
                    released = true;
                }
            }
        }
    }

    /// What a `next` token is bound to: the caller, endpoint, collection and object. The
    /// filters travel inside it (see `Query::resume`).
    fn binding(grant: &ReadGrant, endpoint: Endpoint, object: Option<&str>) -> String {
        format!(
            "{}\0{}\0{}\0{}",
            grant.reader().user,
            endpoint.name(),
            grant.community_id(),
            object.unwrap_or(""),
        )
    }

    /// Runs one paged listing for objects, manifest, object or versions.
    pub async fn page(
        &self,
        creds: &Credentials,
        api_root: &str,
        collection: &str,
        endpoint: Endpoint,
        object: Option<&str>,
        pairs: &[(String, String)],
    ) -> Result<Page, ServiceError> {
        let limits = self.settings.limits();
        let max_bytes = self.settings.max_page_bytes;
        let pairs = pairs.to_vec();
        let object = object.map(str::to_owned);
        let cursor = self.cursor.clone();
        let (page, served) = self
            .read_as_member(creds, api_root, collection, move |c, grant| {
                let binding = Self::binding(&grant, endpoint, object.as_deref());
                let asked = (endpoint, object.as_deref());
                let (q, after, listing) = request(asked, &pairs, &limits, &cursor, &binding)?;
                let sel = Selection {
                    ids: &q.ids,
                    types: &q.types,
                    producers: &q.producers,
                    refs: &q.refs,
                    about: q.about_mine.then_some(grant.reader().partner.as_str()),
                    versions: &q.versions,
                    spec_versions: &q.spec_versions,
                    added_after: q.added_after,
                    // A newest-first listing's next token marks where it goes on, downwards.
                    after: after.filter(|_| endpoint != Endpoint::Recent),
                    before: after.filter(|_| endpoint == Endpoint::Recent),
                    newest_first: endpoint == Endpoint::Recent,
                    limit: q.limit,
                };
                let fetched = fetch(c, &grant, endpoint, &sel, max_bytes)?;
                // The object endpoint answers 404 when no version of the id matches (TAXII 2.1
                // §5.7: a deleted version MUST be a 404 when fetched again); the versions endpoint
                // only when the reader has no version of the id at all.
                if let (Some(id), true) = (&object, fetched.dates.is_empty()) {
                    if endpoint == Endpoint::Object || !objects::id_delivered(c, &grant, id)? {
                        return Err(ServiceError::NotFound);
                    }
                }
                let next = |date_added| cursor.mint(&binding, Position { date_added }, &listing);
                Ok(fetched.page(next))
            })
            .await?;
        if let Some((user, community, seqs)) = served {
            self.record_pull(&user, &community, seqs);
        }
        Ok(page)
    }

    pub async fn delete_object(
        &self,
        creds: &Credentials,
        api_root: &str,
        collection: &str,
        id: &str,
        pairs: &[(String, String)],
    ) -> Result<usize, ServiceError> {
        let asker = super::Asker::Sent(creds);
        let (principal, _, m) = self.member(asker, api_root, collection).await?;
        let principal = &principal;
        // A caller who cannot read gets 404 before anything else is said; one who may read but
        // not delete gets 403 whatever the id (TAXII 2.1 §5.7).
        policy::grant_read(principal, &m)?;
        let grant = policy::grant_delete(principal, &m)?;
        if StixId::parse_filter(id).is_err() {
            return Err(ServiceError::NotFound);
        }
        let q = Query::parse(Endpoint::Delete, pairs, &self.settings.limits())?;
        let id = id.to_owned();
        let versions: VersionSelector = q.versions;
        let spec: SpecVersions = q.spec_versions;
        let now = self.clock.now();
        let caller = principal.clone();
        let community = grant.read().community_id().to_owned();
        let outcome = self
            .storage
            .write(move |c| {
                let target = (id.as_str(), &versions, &spec);
                delete_in(c, &caller, &community, target, now)
            })
            .await??;
        match outcome {
            DeleteOutcome::NotFound => Err(ServiceError::NotFound),
            DeleteOutcome::BuiltIn => Err(ServiceError::Forbidden(
                "the built-in TLP 2.0 definitions are served to every member and cannot be deleted"
                    .into(),
            )),
            DeleteOutcome::Forbidden => Err(ServiceError::Forbidden(
                "a contributor may delete only the versions its own partner posted".into(),
            )),
            DeleteOutcome::Deleted(n) => Ok(n),
        }
    }
}

/// The delete's transaction: the grant again, releases that came due, the delete, then what
/// it changes for the readers and the follows.
fn delete_in(
    c: &mut Conn,
    caller: &Principal,
    community: &str,
    (id, versions, spec): (&str, &VersionSelector, &SpecVersions),
    now: Timestamp,
) -> Result<Result<DeleteOutcome, ServiceError>, crate::storage::StorageError> {
    // The grant again, in the transaction that deletes: `cairn apply` may have removed or
    // demoted the membership since the check before.
    let grant = match super::delete_grant_now(c, caller, community)? {
        Ok(grant) => grant,
        Err(refused) => return Ok(Err(refused)),
    };
    // Releases that came due first, so "delivered to the caller" below is current.
    super::deliveries::release_due(c, community, now)?;
    let outcome = objects::delete(c, &grant, id, versions, spec)?;
    if let DeleteOutcome::Deleted(_) = outcome {
        // Older versions may be delivered again (rule 5), referencing ones withdrawn (rule 6).
        let scope = super::deliveries::Scope::Ids(vec![id.to_owned()]);
        super::deliveries::refresh(c, community, scope, now)?;
        if crate::sharing::plan::holds_objects(id) {
            super::follows::holds_again(c, community, id)?;
        }
    }
    Ok(Ok(outcome))
}

/// One read transaction of `read_as_member` for a known caller: its API root, then
/// `member_step`. A storage error ends the transaction; any other is the answer.
fn read_step<T>(
    c: &mut Conn,
    principal: &Principal,
    (root, collection): (&str, &str),
    now: Timestamp,
    may_be_due: bool,
    f: &dyn Fn(&mut Conn, ReadGrant) -> Result<T, ServiceError>,
) -> Result<Step<T>, crate::storage::StorageError> {
    if let Err(e) = Cairn::check_api_root(principal, root) {
        return Ok(Step::Done(Err(e)));
    }
    match member_step(c, principal, collection, now, may_be_due, f) {
        Ok(step) => Ok(step),
        Err(ServiceError::Storage(e)) => Err(e),
        Err(e) => Ok(Step::Done(Err(e))),
    }
}

/// The caller's membership and read grant, then (unless releases are due) `f`.
fn member_step<T>(
    c: &mut Conn,
    principal: &Principal,
    collection: &str,
    now: Timestamp,
    check_due: bool,
    f: &dyn Fn(&mut Conn, ReadGrant) -> Result<T, ServiceError>,
) -> Result<Step<T>, ServiceError> {
    let (_, row) = setup::membership_by_collection(c, &principal.partner, collection)?
        .ok_or(ServiceError::NotFound)?;
    let grant = policy::grant_read(principal, &super::membership(&row)?)?;
    if check_due && objects::releases_due(c, grant.community_id(), now)? {
        return Ok(Step::Due(grant.community_id().to_string()));
    }
    Ok(Step::Done(f(c, grant)))
}
