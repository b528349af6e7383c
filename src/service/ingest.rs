//! POST objects: parse, validate each object on its own, apply the community's acceptance rules
//! (types, unmarked, RED recipients), store the good ones and their deliveries in one
//! transaction, and record a status resource. One bad object never stops the others.

use super::deliveries::{self, Fresh, Scope};
use super::{Asker, Cairn, ServiceError};
use crate::policy::identity;
use crate::policy::{self, Principal, StatusOwner, WriteGrant};
use crate::sharing::decision::{self as decision, ReaderCaps, Recipient, VersionFacts};
use crate::sharing::ownership::{self, Placement};
use crate::stix::identifier::StixId;
use crate::stix::timestamp::Timestamp;
use crate::stix::{self, Checked, UploadError, Validator};
use crate::storage::objects::{self, AddedClock, Known, NewVersion, Nums, Placed};
use crate::storage::posting::{self, PostKeys, PostState, StatusRecord, Versions};
use crate::storage::snapshot::Setting;
use crate::storage::{Conn, StorageError};
use crate::taxii::resources::{Status, StatusDetail};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// One object that passed validation, with its position in the upload.
pub(super) struct Candidate {
    index: usize,
    checked: Checked,
    body: String,
}

impl Candidate {
    pub(super) fn new(index: usize, checked: Checked, body: &str) -> Candidate {
        Candidate {
            index,
            checked,
            body: body.to_owned(),
        }
    }
}

/// How a refusal of the validator shows in a status.
pub(super) fn refusal_detail(r: &crate::stix::Refusal) -> StatusDetail {
    StatusDetail {
        id: r.id.clone(),
        version: r.version.clone(),
        message: Some(r.message()),
    }
}

/// Outcome of one object, in upload order, with the reason metrics count it under.
enum Outcome {
    Stored(&'static str, StatusDetail),
    Refused(&'static str, StatusDetail),
}

/// Objects of one POST by (outcome, reason), for `cairn_objects_total`.
type Tally = std::collections::BTreeMap<(&'static str, &'static str), u64>;

impl Cairn {
    /// Who may write, asked before a POST's body is read (so that a stranger learns nothing
    /// from 413 or 415); the write transaction reads the caller again.
    pub async fn authorize_post(
        &self,
        asker: Asker<'_>,
        api_root: &str,
        collection: &str,
    ) -> Result<(Principal, WriteGrant), ServiceError> {
        let (principal, _, m) = self.member(asker, api_root, collection).await?;
        let grant = policy::grant_write(&principal, &m)?;
        Ok((principal, grant))
    }

    pub async fn add_objects(
        &self,
        principal: &Principal,
        grant: WriteGrant,
        recipients: Option<String>,
        body: String,
    ) -> Result<Status, ServiceError> {
        let checks = self.check_upload(Arc::new(body)).await?;
        let upload = Upload {
            caller: principal.clone(),
            community: grant.community_id().to_string(),
            recipients,
            checks,
            now: self.clock.now(),
            status_id: uuid::Uuid::new_v4().to_string(),
        };
        let keep = self.retention(upload.now);
        let (status, inserted, tally) = self
            .storage
            .write(move |c| commit_upload(c, &upload, keep))
            .await??;
        self.storage.grew(inserted);
        for ((outcome, why), n) in tally.into_iter().filter(|(_, n)| *n > 0) {
            self.storage.metrics().objects.add(&[outcome, why], n);
        }
        tracing::info!(
            status = %status.id,
            partner = %principal.partner,
            total = status.total_count,
            succeeded = status.success_count,
            failed = status.failure_count,
            "objects posted"
        );
        Ok(status)
    }
}

/// Refusal reasons, as metrics label them.
const INVALID: &str = "invalid";
const COMMUNITY_RULES: &str = "community_rules";
const CONFLICT: &str = "conflict";
const NOT_OWNER: &str = "not_owner";
const SPOOFING: &str = "spoofing";

/// An upload, checked, on its way to the transaction that stores it.
pub(super) struct Upload {
    pub caller: Principal,
    pub community: String,
    pub recipients: Option<String>,
    pub checks: Checks,
    pub now: Timestamp,
    pub status_id: String,
}

/// Statuses and receipts from before these times are purged as uploads are stored.
#[derive(Clone, Copy)]
pub struct Keep {
    statuses_from: i64,
    receipts_from: i64,
}

impl Keep {
    /// What to keep at `now`, given how long statuses and receipts are kept.
    pub fn new(now: Timestamp, statuses: chrono::Duration, receipts: chrono::Duration) -> Keep {
        let before = |d: chrono::Duration| now.minus(d).micros();
        Keep {
            statuses_from: before(statuses),
            receipts_from: before(receipts),
        }
    }
}

impl Cairn {
    pub(super) fn retention(&self, now: Timestamp) -> Keep {
        let s = &self.settings;
        Keep::new(now, s.status_retention, s.receipt_retention)
    }

    /// Statuses created before this are no longer kept, nor shown.
    pub(super) fn status_horizon(&self) -> i64 {
        self.retention(self.clock.now()).statuses_from
    }
}

/// What storing an upload did: its status, how many versions it stored, and its objects by
/// (outcome, reason) for the metrics.
pub(super) type Committed = (Status, u64, Tally);

/// Stores an upload in the transaction `c`, as POST does, in one read (`posting::load`), the
/// decisions, the refresh's own read (`snapshot::targets`) and one write (`posting::store`):
/// the write grant again (`cairn apply` may have removed or demoted the membership since it was
/// first checked), the objects, their deliveries, the status and the receipt.
pub(super) fn commit_upload(
    c: &mut Conn,
    up: &Upload,
    keep: Keep,
) -> Result<Result<Committed, ServiceError>, StorageError> {
    let candidates = &up.checks.candidates;
    let named = objects::named(candidates.iter().map(|cand| {
        let ch = &cand.checked;
        (ch.id.as_str(), ch.refs.as_slice())
    }));
    let posted: Vec<&str> = candidates.iter().map(|c| c.checked.id.as_str()).collect();
    let p = &up.caller;
    let keys = PostKeys {
        caller: (&p.user, &p.partner, p.token.as_deref()),
        community: &up.community,
        named: &named,
        posted: &posted,
        now: up.now,
    };
    let (grant, state) = match load(c, up, &keys)? {
        Ok(loaded) => loaded,
        Err(refused) => return Ok(Err(refused)),
    };
    let mut post = Post::new(&grant, up, state);
    let (outcomes, batch) = post.place_all(candidates);
    let seqs: Vec<i64> = (post.next_seq..).take(batch.len()).collect();
    let refresh = post.refresh(c, &batch, &seqs)?;
    let (status, tally) = status_of(up, with_refusals(outcomes, &up.checks));
    let json = serde_json::to_string(&status).expect("status serialises");
    let owner = StatusOwner {
        partner: grant.producer().clone(),
        user: p.user.clone(),
        community_id: grant.community_id().clone(),
    };
    let record = StatusRecord {
        id: &status.id,
        owner: &owner,
        at: up.now.micros(),
        json: &json,
        refused: status.failure_count,
    };
    let versions = Versions {
        producer: grant.producer(),
        placed: &batch,
        seqs: &seqs,
        had: &post.prior.had_versions,
        nums: post.nums,
        clock: post.clock,
    };
    let purge = (keep.statuses_from, keep.receipts_from);
    posting::store(c, grant.community_id(), versions, record, (refresh, purge))?;
    Ok(Ok((status, seqs.len() as u64, tally)))
}

/// The grant and state of a POST as of its transaction, with the releases that came due done
/// first, so "visible to the poster" is current (then read again: rare, and not on the
/// common path).
fn load(
    c: &mut Conn,
    up: &Upload,
    keys: &PostKeys,
) -> Result<Result<(WriteGrant, PostState), ServiceError>, StorageError> {
    let (caller, state) = posting::load(c, keys)?;
    let grant = match super::write_grant_of(&up.caller, caller)? {
        Ok(grant) => grant,
        Err(refused) => return Ok(Err(refused)),
    };
    let vanished = || StorageError::Inconsistent("a membership without its community");
    let state = state.ok_or_else(vanished)?;
    if state.due.is_empty() {
        return Ok(Ok((grant, state)));
    }
    deliveries::refresh_in(c, state.setting, Scope::Ids(state.due), up.now)?;
    let (_, state) = posting::load(c, keys)?;
    Ok(Ok((grant, state.ok_or_else(vanished)?)))
}

/// The outcomes of the stored and repeated objects with the validator's refusals, in upload
/// order.
fn with_refusals(mut outcomes: Vec<(usize, Outcome)>, checks: &Checks) -> Vec<(usize, Outcome)> {
    let refused = checks.refused.iter();
    outcomes.extend(refused.map(|(i, d)| (*i, Outcome::Refused(INVALID, d.clone()))));
    outcomes.sort_by_key(|(i, _)| *i);
    outcomes
}

/// The status resource of an upload's outcomes (in upload order), and their tally.
fn status_of(up: &Upload, outcomes: Vec<(usize, Outcome)>) -> (Status, Tally) {
    let unlisted = up.checks.unlisted;
    let total = (up.checks.candidates.len() + up.checks.refused.len()) as u64 + unlisted;
    let (mut successes, mut failures) = (vec![], vec![]);
    let mut tally = Tally::new();
    *tally.entry(("refused", INVALID)).or_default() += unlisted;
    for (_, o) in outcomes {
        match o {
            Outcome::Stored(why, d) => {
                *tally.entry(("accepted", why)).or_default() += 1;
                successes.push(d)
            }
            Outcome::Refused(why, mut d) => {
                *tally.entry(("refused", why)).or_default() += 1;
                // Without `modified` or `created` there is no version of the object's own: the
                // time of this request stands in (TAXII 2.1 §4.3.1 asks for a value
                // consistent to the server).
                if d.version.is_empty() {
                    d.version = up.now.to_string();
                }
                failures.push(d)
            }
        }
    }
    let failure_count = failures.len() as u64 + unlisted;
    failures.truncate(MAX_LISTED_FAILURES);
    let status = Status {
        id: up.status_id.clone(),
        status: "complete".into(),
        request_timestamp: up.now.to_string(),
        total_count: total,
        success_count: successes.len() as u64,
        successes,
        failure_count,
        failures,
        pending_count: 0,
        pendings: vec![],
    };
    (status, tally)
}

fn refusal(c: &Checked, why: &'static str, message: String) -> Outcome {
    Outcome::Refused(
        why,
        StatusDetail {
            id: c.id.to_string(),
            version: c
                .version
                .as_ref()
                .map(|(_, t)| t.clone())
                .unwrap_or_default(),
            message: Some(message),
        },
    )
}

/// `Cairn-Recipients` checked against the community's readers: every name a member partner, or
/// a user of one. A bad name refuses the RED objects of the POST (a typo must not narrow or
/// widen RED).
fn parse_recipients(
    readers: &[ReaderCaps],
    header: Option<&str>,
) -> Result<Vec<Recipient>, String> {
    let Some(header) = header.filter(|h| !h.trim().is_empty()) else {
        return Ok(vec![]);
    };
    let mut out = vec![];
    for item in header.split(',') {
        let Some(r) = Recipient::parse(item) else {
            return Err(format!(
                "Cairn-Recipients: '{}' is not a partner id or partner/user",
                item.trim()
            ));
        };
        let known = readers.iter().any(|reader| match &r {
            Recipient::Partner(p) => reader.partner == *p,
            Recipient::User { partner, user } => reader.partner == *partner && reader.user == *user,
        });
        if !known {
            return Err(format!("Cairn-Recipients: '{r}' is not a member of this community (or not a user of that partner)"));
        }
        out.push(r);
    }
    Ok(out)
}

/// What every object of a POST is checked against, read once in its transaction.
struct PostContext {
    setting: Setting,
    recipients: Result<Vec<Recipient>, String>,
    /// The identities of the community's partners, present and former: another partner's is
    /// not this poster's to claim, and a partner outside it is not revealed by a refusal.
    identities: HashMap<String, String>,
}

/// (id, version) of a stored version: its version text and body.
type KnownVersions = HashMap<(StixId, Option<Timestamp>), (String, String)>;

/// What is already stored under the posted ids.
#[derive(Default)]
struct Prior {
    /// The earliest copy of each version the poster may be told about.
    known: KnownVersions,
    /// Ids with a stored version.
    had_versions: HashSet<String>,
    /// Every stored version of each posted id, oldest first, for the ownership rule.
    stored: HashMap<String, Vec<ownership::Stored>>,
}

impl Prior {
    fn of(grant: &WriteGrant, stored: Vec<Known>) -> Prior {
        let mut prior = Prior::default();
        for k in stored {
            prior.had_versions.insert(k.key.0.clone());
            prior
                .stored
                .entry(k.key.0.clone())
                .or_default()
                .push(ownership::Stored {
                    producer: k.producer.clone(),
                    private_copy: k.private_copy,
                    delivered: k.delivered,
                    versioned: k.key.1.is_some(),
                });
            if grant.knows_stored(k.producer.as_deref(), k.delivered) {
                let key = (StixId::known(k.key.0), k.key.1);
                prior.known.entry(key).or_insert((k.version_text, k.body));
            }
        }
        prior
    }
}

/// One POST being decided: who posts, what it is checked against, what is stored already, and
/// the numbers and times it hands out.
struct Post<'a> {
    grant: &'a WriteGrant,
    user: &'a str,
    now: Timestamp,
    ctx: PostContext,
    prior: Prior,
    nums: Nums,
    clock: AddedClock,
    next_seq: i64,
}

impl<'a> Post<'a> {
    fn new(grant: &'a WriteGrant, up: &'a Upload, state: PostState) -> Post<'a> {
        let recipients = parse_recipients(&state.setting.readers, up.recipients.as_deref());
        Post {
            grant,
            user: &up.caller.user,
            now: up.now,
            ctx: PostContext {
                setting: state.setting,
                recipients,
                identities: identity::owners(state.identities),
            },
            prior: Prior::of(grant, state.stored),
            nums: state.nums,
            clock: state.clock,
            next_seq: state.next_seq,
        }
    }

    /// Every candidate placed, in upload order: the versions to store, and each one's outcome.
    fn place_all(&mut self, candidates: &[Candidate]) -> (Vec<(usize, Outcome)>, Vec<Placed>) {
        // One insertion time for the whole POST (taken when its first version is stored). A
        // time per object would step once for every object of the POST, hidden ones included,
        // and a reader would read how many it may not see from the versions of SCOs (their
        // version is this time) and from its own date_added values.
        let (clock, now) = (&mut self.clock, self.now);
        let mut post_added: Option<Timestamp> = None;
        let mut added_at = || *post_added.get_or_insert_with(|| clock.next(now));
        let (mut outcomes, mut batch) = (vec![], vec![]);
        let prior = &mut self.prior;
        for cand in candidates {
            let on = (&self.ctx, self.grant, self.user);
            match place(on, &mut prior.known, &prior.stored, cand, &mut added_at) {
                Ok((placed, stored)) => {
                    batch.push(placed);
                    outcomes.push((cand.index, stored));
                }
                Err(refused) => outcomes.push((cand.index, refused)),
            }
        }
        (outcomes, batch)
    }

    /// The deliveries of `batch`, stored under `seqs`: decided as of the insertion time handed
    /// out (POSTs in a burst run ahead of the wall clock by a microsecond each, and their
    /// objects must not look delayed).
    fn refresh(
        &self,
        c: &mut Conn,
        batch: &[Placed],
        seqs: &[i64],
    ) -> Result<Option<posting::Refresh>, StorageError> {
        if batch.is_empty() {
            return Ok(None);
        }
        let settled = self.clock.last().max(self.now);
        let producer = Some(self.grant.producer().as_str());
        let fresh = fresh(batch, seqs, producer, &self.prior.had_versions, &self.nums);
        let setting = &self.ctx.setting;
        let changes = deliveries::decide(c, setting, Scope::Stored(fresh), settled)?;
        Ok(Some((changes, setting.classes.clone(), settled)))
    }
}

/// One object of a POST, placed to be stored (with its status detail), or its outcome: a
/// refusal, or a repeat of a stored version.
fn place(
    (ctx, grant, user): (&PostContext, &WriteGrant, &str),
    known: &mut KnownVersions,
    stored: &HashMap<String, Vec<ownership::Stored>>,
    cand: &Candidate,
    added_at: &mut impl FnMut() -> Timestamp,
) -> Result<(Placed, Outcome), Outcome> {
    let ch = &cand.checked;
    let tlp = decision::marking_tlp(ch.markings.iter().map(String::as_str));
    let builtin = crate::stix::tlp::is_canonical_id(&ch.id);
    let policy = &ctx.setting.policy;
    let named = decision::accept(policy, &ch.stix_type, tlp, builtin, &ctx.recipients)
        .map_err(|why| refusal(ch, COMMUNITY_RULES, why))?;
    let key = (ch.id.clone(), ch.version.as_ref().map(|(v, _)| *v));
    if let Some((version_text, body)) = known.get(&key) {
        return Err(repeat_or_conflict(ch, version_text, body, &cand.body));
    }
    // After the repeat check: re-posting a version already stored, signed by its producer,
    // stores nothing and claims nothing.
    let claimed = ch.created_by.as_deref();
    let spoofed = identity::spoofed(grant.producer(), claimed, &ctx.identities)
        .or_else(|| identity::taken(grant.producer(), &ch.id, &ctx.identities));
    if let Some(why) = spoofed {
        return Err(refusal(ch, SPOOFING, why));
    }
    let prior = stored.get(ch.id.as_str()).map_or(&[][..], Vec::as_slice);
    let private_copy = match ownership::place(grant.producer(), ch.version.is_some(), prior) {
        Placement::Shared => false,
        Placement::PrivateCopy => true,
        Placement::Refused(why) => return Err(refusal(ch, NOT_OWNER, why)),
    };
    let named: Vec<String> = named.iter().map(Recipient::to_string).collect();
    let placed = placed(ctx, grant, user, cand, tlp, named, private_copy, added_at());
    let (_, version_text, _) = placed.version();
    // A later copy in the same envelope is the same version again.
    known.insert(key, (version_text.clone(), placed.item.body.clone()));
    let detail = StatusDetail {
        id: ch.id.to_string(),
        version: version_text,
        message: None,
    };
    Ok((placed, Outcome::Stored("stored", detail)))
}

/// A version posted again: kept once when it is the same object, refused when it differs.
fn repeat_or_conflict(ch: &Checked, version_text: &str, body: &str, posted: &str) -> Outcome {
    if body == posted || same_json(body, posted) {
        return Outcome::Stored(
            "repeat",
            StatusDetail {
                id: ch.id.to_string(),
                version: version_text.to_owned(),
                message: Some("this version was already stored; kept once".into()),
            },
        );
    }
    let why = match ch.version {
        Some(_) => format!(
            "a different object with this id and version ({version_text}) is already stored; \
             a changed object needs a later modified timestamp"
        ),
        None => format!(
            "a different object with this id is already stored (version {version_text}); \
             an object without modified or created has a single version"
        ),
    };
    refusal(ch, CONFLICT, why)
}

/// The version to insert for an accepted object, with its delivery facts.
#[allow(clippy::too_many_arguments)]
fn placed(
    ctx: &PostContext,
    grant: &WriteGrant,
    user: &str,
    cand: &Candidate,
    tlp: Option<crate::stix::tlp::Tlp>,
    named: Vec<String>,
    private_copy: bool,
    added_at: Timestamp,
) -> Placed {
    let ch = &cand.checked;
    let facts = VersionFacts {
        producer: Some(grant.producer().clone()),
        stix_type: ch.stix_type.clone(),
        tlp,
        recipients: vec![],
        added_at,
        private_copy,
    };
    let rule = ctx.setting.rules.get(grant.producer().as_str());
    let release_at = decision::release_at(&ctx.setting.policy, rule, &facts);
    let recipients = recipients_of(grant, user, named, private_copy);
    let item = NewVersion {
        stix_id: ch.id.to_string(),
        stix_type: ch.stix_type.to_string(),
        version: ch.version.clone(),
        spec_version: ch.spec_version.clone(),
        tlp: tlp.map(|t| t.as_str().to_owned()),
        recipients: serde_json::to_string(&recipients).expect("list serialises"),
        refs: ch.refs.clone(),
        body: cand.body.clone(),
    };
    Placed {
        item,
        added_at,
        release_at,
        private_copy,
    }
}

/// The versions about to be stored under `seqs`, as the refresh that delivers them reads them.
fn fresh(
    batch: &[Placed],
    seqs: &[i64],
    producer: Option<&str>,
    had_versions: &HashSet<String>,
    nums: &Nums,
) -> Fresh {
    let mut fresh = Fresh {
        versions: Vec::with_capacity(batch.len()),
        refs: Default::default(),
        new_ids: Default::default(),
        nums: nums.clone(),
    };
    for (p, seq) in batch.iter().zip(seqs.iter().copied()) {
        fresh.versions.push(p.stored(seq, producer));
        let targets = p.ref_targets();
        if !targets.is_empty() {
            fresh
                .refs
                .insert(seq, targets.into_iter().cloned().collect());
        }
        if !had_versions.contains(&p.item.stix_id) {
            fresh.new_ids.insert(p.item.stix_id.clone());
        }
    }
    fresh
}

/// Who a version is stored for: a private copy names its posting user as its one recipient
/// (docs/sharing.md section 6); a RED version the recipients its POST named.
fn recipients_of(grant: &WriteGrant, user: &str, named: Vec<String>, private: bool) -> Vec<String> {
    if private {
        vec![format!("{}/{user}", grant.producer())]
    } else {
        named
    }
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

/// Refused objects listed one by one in a status (the first ones, in upload order); the
/// rest are only counted, so a status never grows past its request in kind.
pub const MAX_LISTED_FAILURES: usize = 1000;
/// Objects are checked in slices of about this many bytes or objects, each slice waiting for a
/// core anew: a heavy POST then takes turns with others instead of holding a core throughout.
const SLICE_BYTES: usize = 256 * 1024;
const SLICE_OBJECTS: usize = 256;

/// What checking an upload found: the objects to store, the refusals listed in the status, and
/// how many more were refused.
#[derive(Default)]
pub(super) struct Checks {
    pub(super) candidates: Vec<Candidate>,
    pub(super) refused: Vec<(usize, StatusDetail)>,
    pub(super) unlisted: u64,
}

impl Cairn {
    /// Parses the body and checks its objects, slice by slice, each on a core of its own turn.
    async fn check_upload(&self, body: Arc<String>) -> Result<Checks, ServiceError> {
        let text = Arc::clone(&body);
        let spans = self.on_core(move || spans_of(&text)).await??;
        let mut checks = Checks::default();
        for slice in slices(&spans) {
            let (body, validator) = (Arc::clone(&body), Arc::clone(&self.validator));
            let slice = slice.to_vec();
            let room = MAX_LISTED_FAILURES.saturating_sub(checks.refused.len());
            let part = self
                .on_core(move || check_slice(&validator, &body, &slice, room))
                .await?;
            checks.candidates.extend(part.candidates);
            checks.refused.extend(part.refused);
            checks.unlisted += part.unlisted;
        }
        Ok(checks)
    }

    /// Runs CPU work off the async workers, once a core is free (first come, first served).
    async fn on_core<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ServiceError> {
        let turn = Arc::clone(&self.checking)
            .acquire_owned()
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        tokio::task::spawn_blocking(move || {
            let _turn = turn;
            work()
        })
        .await
        .map_err(|e| ServiceError::Internal(e.to_string()))
    }
}

/// Each object of the upload: its position and where its bytes lie in the body.
#[derive(Clone)]
struct Span {
    index: usize,
    bytes: std::ops::Range<usize>,
}

fn spans_of(body: &str) -> Result<Vec<Span>, ServiceError> {
    let upload = stix::parse_upload(body).map_err(|e| match e {
        UploadError::NotJson(m) => ServiceError::NotJson(m),
        UploadError::Shape(m) => ServiceError::Unprocessable(m),
        UploadError::TooMany(m) => ServiceError::TooManyObjects(m),
    })?;
    let base = body.as_ptr() as usize;
    Ok(upload
        .objects
        .iter()
        .enumerate()
        .map(|(index, raw)| {
            let start = raw.get().as_ptr() as usize - base;
            Span {
                index,
                bytes: start..start + raw.get().len(),
            }
        })
        .collect())
}

/// Consecutive runs of spans of at most SLICE_OBJECTS objects and about SLICE_BYTES bytes.
fn slices(spans: &[Span]) -> Vec<&[Span]> {
    let mut out = vec![];
    let (mut start, mut bytes) = (0, 0);
    for (i, span) in spans.iter().enumerate() {
        bytes += span.bytes.len();
        if i + 1 - start == SLICE_OBJECTS || bytes >= SLICE_BYTES {
            out.push(&spans[start..=i]);
            (start, bytes) = (i + 1, 0);
        }
    }
    if start < spans.len() {
        out.push(&spans[start..]);
    }
    out
}

/// Checks one slice; refusals past `room` are counted, not kept.
fn check_slice(validator: &Validator, body: &str, slice: &[Span], room: usize) -> Checks {
    let mut checks = Checks::default();
    for span in slice {
        let text = &body[span.bytes.clone()];
        match validator.check(text, span.index) {
            Ok(checked) => checks.candidates.push(Candidate {
                index: span.index,
                checked,
                body: text.to_owned(),
            }),
            Err(_) if checks.refused.len() >= room => checks.unlisted += 1,
            Err(r) => checks.refused.push((span.index, refusal_detail(&r))),
        }
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(sizes: &[usize]) -> Vec<Span> {
        let mut at = 0;
        sizes
            .iter()
            .enumerate()
            .map(|(index, &n)| {
                at += n + 1;
                Span {
                    index,
                    bytes: at - n - 1..at - 1,
                }
            })
            .collect()
    }

    fn lengths(slices: Vec<&[Span]>) -> Vec<usize> {
        slices.iter().map(|s| s.len()).collect()
    }

    #[test]
    fn slices_close_at_their_object_count_or_bytes() {
        assert_eq!(lengths(slices(&spans(&[10; 600]))), vec![256, 256, 88]);
        // Four objects of 100 KiB reach 256 KiB at the third.
        assert_eq!(lengths(slices(&spans(&[100 * 1024; 4]))), vec![3, 1]);
        // An object larger than a slice closes the slice it joins.
        assert_eq!(lengths(slices(&spans(&[10, 300 * 1024, 10]))), vec![2, 1]);
        assert!(slices(&[]).is_empty());
    }

    #[test]
    fn spans_point_at_each_object_of_the_body() {
        let body = r#"{"objects": [ {"a":1} ,{"b":[2]}]}"#;
        let got: Vec<&str> = spans_of(body)
            .unwrap()
            .iter()
            .map(|s| &body[s.bytes.clone()])
            .collect();
        assert_eq!(got, vec![r#"{"a":1}"#, r#"{"b":[2]}"#]);
    }

    fn checked(version: Option<i64>) -> Checked {
        Checked {
            id: "indicator--6f3e8f40-2d8e-4b5c-9a4f-000000000001".into(),
            stix_type: "indicator".into(),
            version: version
                .map(|v| (Timestamp::from_micros(v), "2026-01-01T00:00:00.000Z".into())),
            spec_version: "2.1".into(),
            markings: vec![],
            refs: vec![],
            created_by: None,
        }
    }

    fn said(o: Outcome) -> (&'static str, &'static str, Option<String>) {
        match o {
            Outcome::Stored(why, d) => ("stored", why, d.message),
            Outcome::Refused(why, d) => ("refused", why, d.message),
        }
    }

    #[test]
    fn a_version_posted_again_is_kept_once_when_the_same_json_and_refused_when_not() {
        let stored = r#"{"a":1,"b":[2]}"#;
        let v = "2026-01-01T00:00:00.000Z";
        let same = said(repeat_or_conflict(&checked(Some(1)), v, stored, stored));
        assert_eq!((same.0, same.1), ("stored", "repeat"));
        // The same JSON in other bytes (spacing, key order) is the same version.
        let respaced = said(repeat_or_conflict(
            &checked(Some(1)),
            v,
            stored,
            r#"{ "b": [2], "a": 1 }"#,
        ));
        assert_eq!((respaced.0, respaced.1), ("stored", "repeat"));
        let changed = said(repeat_or_conflict(
            &checked(Some(1)),
            v,
            stored,
            r#"{"a":2,"b":[2]}"#,
        ));
        assert_eq!((changed.0, changed.1), ("refused", CONFLICT));
        assert!(changed
            .2
            .unwrap()
            .contains("needs a later modified timestamp"));
        let unversioned = said(repeat_or_conflict(&checked(None), v, stored, r#"{"a":2}"#));
        assert!(unversioned.2.unwrap().contains("has a single version"));
    }
}
