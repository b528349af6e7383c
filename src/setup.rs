//! The declarative setup file (docs/setup-file.md): partners, users, communities, members and
//! rules. `plan` validates the whole file and computes the rows and the changes; `apply` writes
//! them in one transaction. Entities the file no longer names are disabled, never deleted.

use crate::ids::{CommunityId, PartnerId, UserName};
use crate::policy::Role;
use crate::service::auth::{argon2id_hash_problem, hash_password, verify_password};
use crate::sharing::decision::Unmarked;
use crate::stix::timestamp::Timestamp;
use crate::stix::tlp::Tlp;
use crate::stix::type_name;
use crate::storage::models::*;
use crate::storage::settings;
use crate::storage::setup::{self as store, SetupRows};
use crate::storage::{Conn, StorageError};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{file}: {message}")]
    Syntax { file: String, message: String },
    #[error("{file}: {entry}: {key}: {message}")]
    Entry {
        file: String,
        entry: String,
        key: String,
        message: String,
    },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetupFile {
    #[serde(default)]
    pub partner: Vec<PartnerEntry>,
    #[serde(default)]
    pub user: Vec<UserEntry>,
    #[serde(default)]
    pub community: Vec<CommunityEntry>,
    #[serde(default)]
    pub webhook: Vec<WebhookEntry>,
    #[serde(default)]
    pub mail: Vec<MailEntry>,
}

/// Where a user's notifications, or those of every user of a partner, are mailed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailEntry {
    pub user: Option<String>,
    pub partner: Option<String>,
    pub to: String,
    /// `immediate` or `daily` (the default).
    pub schedule: Option<String>,
    /// The daily digest's time, `HH:MM` UTC; `07:00` by default.
    pub digest_at: Option<String>,
}

/// Where a user's notifications, or those of every user of a partner, are POSTed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookEntry {
    pub user: Option<String>,
    pub partner: Option<String>,
    pub url: String,
    /// `env:VARIABLE`: the HMAC key the receiver checks signatures with.
    pub secret: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerEntry {
    pub id: String,
    pub title: String,
    /// The STIX identity the partner signs with (`identity--<uuid>`); derived when absent.
    pub identity: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserEntry {
    pub name: String,
    pub partner: String,
    pub password: Option<String>,
    pub password_hash: Option<String>,
    pub max_tlp: Option<String>,
    pub types: Option<Vec<String>>,
    pub redistributes: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommunityEntry {
    pub id: String,
    pub collection: String,
    pub title: String,
    pub description: Option<String>,
    pub unmarked: Option<String>,
    pub types: Option<Vec<String>>,
    pub delay: Option<String>,
    pub backlog: Option<bool>,
    pub dangling_refs: Option<String>,
    #[serde(default)]
    pub member: Vec<MemberEntry>,
    #[serde(default)]
    pub rule: Vec<RuleEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberEntry {
    pub partner: String,
    pub role: String,
    pub max_tlp: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleEntry {
    pub producer: String,
    pub exclude: Option<Vec<String>>,
    pub delay: Option<String>,
    pub types: Option<Vec<String>>,
}

/// The rows the file describes and the changes they make to what is stored.
#[derive(Debug, Default)]
pub struct Plan {
    pub changes: Vec<String>,
    rows: SetupRows,
}

struct Ctx<'a> {
    file: &'a str,
}

impl Ctx<'_> {
    fn err(&self, entry: impl Into<String>, key: &str, message: impl Into<String>) -> SetupError {
        SetupError::Entry {
            file: self.file.into(),
            entry: entry.into(),
            key: key.into(),
            message: message.into(),
        }
    }

    fn tlp(
        &self,
        entry: &str,
        key: &str,
        v: Option<&str>,
        default: &'static str,
    ) -> Result<String, SetupError> {
        match v {
            None => Ok(default.into()),
            // Stored as the level's own name (`white`, TLP 1.0's name for `clear`, as `clear`).
            Some(v) => Tlp::parse(v).map(|t| t.as_str().to_owned()).ok_or_else(|| {
                self.err(
                    entry,
                    key,
                    format!(
                        "'{v}' is not a TLP level (clear, white, green, amber, amber+strict, red)"
                    ),
                )
            }),
        }
    }

    fn types(&self, entry: &str, key: &str, v: &Option<Vec<String>>) -> Result<String, SetupError> {
        let list = v.clone().unwrap_or_default();
        for t in &list {
            if let Err(why) = type_name::check(t) {
                let message = format!("'{t}' is not a STIX type name: {why}");
                return Err(self.err(entry, key, message));
            }
        }
        Ok(settings::encode_list(&list))
    }

    fn delay(&self, entry: &str, key: &str, v: &Option<String>) -> Result<i64, SetupError> {
        match v {
            None => Ok(0),
            Some(d) => crate::config::parse_duration(d)
                .map(|d| d.num_seconds())
                .map_err(|m| self.err(entry, key, m)),
        }
    }
}

pub fn parse(file: &str, text: &str) -> Result<SetupFile, SetupError> {
    toml::from_str(text).map_err(|e| SetupError::Syntax {
        file: file.into(),
        message: e.to_string(),
    })
}

/// Validates `setup` against itself and computes the rows to store, comparing with `current`.
/// `env` resolves `password = "env:NAME"`; `now` dates new memberships.
pub fn plan(
    file: &str,
    setup: &SetupFile,
    current: &SetupRows,
    env: &dyn Fn(&str) -> Option<String>,
    now: Timestamp,
) -> Result<Plan, SetupError> {
    let cx = Ctx { file };
    let mut rows = SetupRows {
        partners: partners(&cx, setup)?,
        ..SetupRows::default()
    };
    rows.users = users(&cx, setup, current, &rows, env)?;
    communities(&cx, setup, current, &mut rows, now)?;
    disable_the_rest(current, &mut rows);
    rows.webhooks = webhooks(&cx, setup, &rows, env)?;
    rows.mailboxes = mailboxes(&cx, setup, current, &rows, now)?;
    let changes = diff(current, &rows);
    Ok(Plan { changes, rows })
}

fn partners(cx: &Ctx<'_>, setup: &SetupFile) -> Result<Vec<PartnerRow>, SetupError> {
    let mut rows: Vec<PartnerRow> = vec![];
    let mut partner_ids = BTreeSet::new();
    for p in &setup.partner {
        let entry = format!("[[partner]] '{}'", p.id);
        if let Err(e) = PartnerId::parse(&p.id) {
            return Err(cx.err(entry, "id", format!("must be {}", e.rule)));
        }
        if matches!(p.id.as_str(), "taxii2" | "healthz" | "readyz" | "web") {
            return Err(cx.err(
                entry,
                "id",
                format!(
                    "'{}' is a path of its own (discovery, health checks, web pages) and cannot be an API root",
                    p.id
                ),
            ));
        }
        if !partner_ids.insert(p.id.clone()) {
            return Err(cx.err(entry, "id", "named twice"));
        }
        if p.title.trim().is_empty() {
            return Err(cx.err(entry, "title", "must not be empty"));
        }
        if let Some(identity) = &p.identity {
            if !crate::policy::identity::is_identity_id(identity) {
                return Err(cx.err(entry, "identity", "must be identity--<UUID>, in lower case"));
            }
        }
        rows.push(PartnerRow {
            id: p.id.clone(),
            title: p.title.clone(),
            enabled: true,
            identity: p.identity.clone(),
        });
    }
    Ok(rows)
}

/// The ids of the partners the file declares.
fn declared(rows: &SetupRows) -> BTreeSet<String> {
    rows.partners.iter().map(|p| p.id.clone()).collect()
}

fn users(
    cx: &Ctx<'_>,
    setup: &SetupFile,
    current: &SetupRows,
    rows: &SetupRows,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<UserRow>, SetupError> {
    let partner_ids = declared(rows);
    let mut out: Vec<UserRow> = vec![];
    let mut user_names = BTreeSet::new();
    for u in &setup.user {
        let entry = format!("[[user]] '{}'", u.name);
        if let Err(e) = UserName::parse(&u.name) {
            return Err(cx.err(entry, "name", format!("must be {}", e.rule)));
        }
        if !user_names.insert(u.name.clone()) {
            return Err(cx.err(entry, "name", "named twice"));
        }
        if !partner_ids.contains(&u.partner) {
            return Err(cx.err(entry, "partner", format!("unknown partner '{}'", u.partner)));
        }
        let existing = current.users.iter().find(|r| r.name == u.name);
        let password_hash = password_hash(cx, &entry, u, existing, env)?;
        out.push(UserRow {
            name: u.name.clone(),
            partner_id: u.partner.clone(),
            password_hash,
            max_tlp: cx.tlp(&entry, "max_tlp", u.max_tlp.as_deref(), "red")?,
            types: cx.types(&entry, "types", &u.types)?,
            redistributes: u.redistributes.unwrap_or(false),
            enabled: true,
        });
    }
    Ok(out)
}

/// A user's stored hash: of `password` (from the environment; the stored hash is kept when it
/// still matches, so that apply stays idempotent), or `password_hash` as given.
fn password_hash(
    cx: &Ctx<'_>,
    entry: &str,
    u: &UserEntry,
    existing: Option<&UserRow>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, SetupError> {
    Ok(match (&u.password, &u.password_hash) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(cx.err(
                entry,
                "password",
                "give exactly one of password and password_hash",
            ))
        }
        (Some(pw), None) => {
            let var = pw.strip_prefix("env:").ok_or_else(|| {
                cx.err(entry, "password", "must be \"env:VARIABLE\" (plain passwords are not kept in setup files); or use password_hash")
            })?;
            let secret = env(var).ok_or_else(|| {
                cx.err(
                    entry,
                    "password",
                    format!("environment variable {var} is not set"),
                )
            })?;
            if secret.is_empty() {
                return Err(cx.err(
                    entry,
                    "password",
                    format!("environment variable {var} is empty"),
                ));
            }
            match existing {
                // Same password: keep the stored hash so that apply stays idempotent.
                Some(r) if verify_password(&r.password_hash, &secret) => r.password_hash.clone(),
                _ => hash_password(&secret).map_err(|m| cx.err(entry, "password", m))?,
            }
        }
        (None, Some(h)) => {
            if let Some(why) = argon2id_hash_problem(h) {
                return Err(cx.err(
                    entry,
                    "password_hash",
                    format!("must be an argon2id PHC string ($argon2id$v=19$...): it {why}"),
                ));
            }
            h.clone()
        }
    })
}

fn communities(
    cx: &Ctx<'_>,
    setup: &SetupFile,
    current: &SetupRows,
    rows: &mut SetupRows,
    now: Timestamp,
) -> Result<(), SetupError> {
    let partner_ids = declared(rows);
    let mut community_ids = BTreeSet::new();
    let mut collection_ids = BTreeSet::new();
    for c in &setup.community {
        let entry = format!("[[community]] '{}'", c.id);
        if let Err(e) = CommunityId::parse(&c.id) {
            return Err(cx.err(entry, "id", format!("must be {}", e.rule)));
        }
        if !community_ids.insert(c.id.clone()) {
            return Err(cx.err(entry, "id", "named twice"));
        }
        // A collection is reached by its UUID or by its community's id: an id shaped like a UUID
        // could name another community's collection.
        if uuid::Uuid::parse_str(&c.id).is_ok() {
            return Err(cx.err(
                entry,
                "id",
                "must not have the form of a UUID (collection ids have it)",
            ));
        }
        let collection = collection_of(cx, c, &entry, current)?;
        if !collection_ids.insert(collection.clone()) {
            return Err(cx.err(entry, "collection", "used by another community"));
        }
        rows.communities
            .push(community_row(cx, c, &entry, collection)?);
        let members = members(cx, (c, &entry), &partner_ids, current, rows, now)?;
        community_rules(cx, (c, &entry), &partner_ids, &members, rows)?;
    }
    Ok(())
}

/// The community's collection id, a UUIDv4, stable and not another community's.
fn collection_of(
    cx: &Ctx<'_>,
    c: &CommunityEntry,
    entry: &str,
    current: &SetupRows,
) -> Result<String, SetupError> {
    let uuid = uuid::Uuid::parse_str(&c.collection)
        .ok()
        .filter(|u| u.get_version_num() == 4 && c.collection.len() == 36)
        .ok_or_else(|| {
            cx.err(
                entry,
                "collection",
                format!("'{}' is not a UUIDv4", c.collection),
            )
        })?;
    let collection = uuid.hyphenated().to_string();
    if let Some(other) = current
        .communities
        .iter()
        .find(|r| r.id == c.id && r.collection_id != collection)
    {
        return Err(cx.err(
            entry,
            "collection",
            format!(
                "the collection id of a community is stable; it is {}",
                other.collection_id
            ),
        ));
    }
    if current
        .communities
        .iter()
        .any(|r| r.collection_id == collection && r.id != c.id)
    {
        return Err(cx.err(
            entry,
            "collection",
            "belongs to another community (possibly disabled)",
        ));
    }
    Ok(collection)
}

fn community_row(
    cx: &Ctx<'_>,
    c: &CommunityEntry,
    entry: &str,
    collection: String,
) -> Result<CommunityRow, SetupError> {
    if c.title.trim().is_empty() {
        return Err(cx.err(entry, "title", "must not be empty"));
    }
    let unmarked = match c.unmarked.as_deref() {
        Some("reject") => settings::encode_unmarked(Unmarked::Reject),
        other => cx.tlp(entry, "unmarked", other, "amber")?,
    };
    let dangling = c.dangling_refs.as_deref().unwrap_or("hide");
    let Some(dangling) = settings::parse_dangling_allowed(dangling) else {
        return Err(cx.err(entry, "dangling_refs", "must be \"hide\" or \"allow\""));
    };
    Ok(CommunityRow {
        id: c.id.clone(),
        collection_id: collection,
        title: c.title.clone(),
        description: c.description.clone(),
        unmarked,
        types: cx.types(entry, "types", &c.types)?,
        delay_secs: cx.delay(entry, "delay", &c.delay)?,
        backlog: c.backlog.unwrap_or(true),
        dangling_refs: settings::encode_dangling_allowed(dangling),
        enabled: true,
    })
}

/// The members of community `c`; returns their partner ids.
fn members(
    cx: &Ctx<'_>,
    (c, entry): (&CommunityEntry, &str),
    partner_ids: &BTreeSet<String>,
    current: &SetupRows,
    rows: &mut SetupRows,
    now: Timestamp,
) -> Result<BTreeSet<String>, SetupError> {
    let mut members = BTreeSet::new();
    for m in &c.member {
        let mentry = format!("{entry} [[community.member]] '{}'", m.partner);
        if !partner_ids.contains(&m.partner) {
            return Err(cx.err(
                mentry,
                "partner",
                format!("unknown partner '{}'", m.partner),
            ));
        }
        if !members.insert(m.partner.clone()) {
            return Err(cx.err(mentry, "partner", "named twice in this community"));
        }
        let role = Role::parse(&m.role).ok_or_else(|| {
            cx.err(
                &mentry,
                "role",
                format!("'{}' is not moderator, contributor or reader", m.role),
            )
        })?;
        let previous = current
            .memberships
            .iter()
            .find(|r| r.community_id == c.id && r.partner_id == m.partner && r.enabled);
        rows.memberships.push(MembershipRow {
            community_id: c.id.clone(),
            partner_id: m.partner.clone(),
            role: role.as_str().into(),
            max_tlp: cx.tlp(&mentry, "max_tlp", m.max_tlp.as_deref(), "amber+strict")?,
            joined_at: previous.map_or(now.micros(), |p| p.joined_at),
            enabled: true,
        });
    }
    Ok(members)
}

fn community_rules(
    cx: &Ctx<'_>,
    (c, entry): (&CommunityEntry, &str),
    partner_ids: &BTreeSet<String>,
    members: &BTreeSet<String>,
    rows: &mut SetupRows,
) -> Result<(), SetupError> {
    let mut producers = BTreeSet::new();
    for r in &c.rule {
        let rentry = format!("{entry} [[community.rule]] '{}'", r.producer);
        if !members.contains(&r.producer) {
            return Err(cx.err(
                rentry,
                "producer",
                format!("'{}' is not a member of this community", r.producer),
            ));
        }
        if !producers.insert(r.producer.clone()) {
            return Err(cx.err(rentry, "producer", "has two rules in this community"));
        }
        let exclude = r.exclude.clone().unwrap_or_default();
        for x in &exclude {
            if !partner_ids.contains(x) {
                return Err(cx.err(&rentry, "exclude", format!("unknown partner '{x}'")));
            }
        }
        rows.rules.push(RuleRow {
            community_id: c.id.clone(),
            producer_id: r.producer.clone(),
            exclude: settings::encode_list(&exclude),
            delay_secs: cx.delay(&rentry, "delay", &r.delay)?,
            types: cx.types(&rentry, "types", &r.types)?,
        });
    }
    Ok(())
}

/// What the file no longer names stays stored but disabled.
fn disable_the_rest(current: &SetupRows, rows: &mut SetupRows) {
    let partner_ids = declared(rows);
    let user_names: BTreeSet<String> = rows.users.iter().map(|u| u.name.clone()).collect();
    let community_ids: BTreeSet<String> = rows.communities.iter().map(|c| c.id.clone()).collect();
    for p in &current.partners {
        if !partner_ids.contains(&p.id) {
            rows.partners.push(PartnerRow {
                enabled: false,
                ..p.clone()
            });
        }
    }
    for u in &current.users {
        if !user_names.contains(&u.name) {
            rows.users.push(UserRow {
                enabled: false,
                ..u.clone()
            });
        }
    }
    for c in &current.communities {
        if !community_ids.contains(&c.id) {
            rows.communities.push(CommunityRow {
                enabled: false,
                ..c.clone()
            });
        }
    }
    for m in &current.memberships {
        if !rows
            .memberships
            .iter()
            .any(|r| r.community_id == m.community_id && r.partner_id == m.partner_id)
        {
            rows.memberships.push(MembershipRow {
                enabled: false,
                ..m.clone()
            });
        }
    }
}

fn webhooks(
    cx: &Ctx<'_>,
    setup: &SetupFile,
    rows: &SetupRows,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<WebhookRow>, SetupError> {
    let mut out: Vec<WebhookRow> = vec![];
    for w in &setup.webhook {
        let entry = format!("[[webhook]] '{}'", w.url);
        let owner = owner(cx, &entry, (&w.user, &w.partner), rows)?;
        let url = reqwest::Url::parse(&w.url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| cx.err(&entry, "url", "must be an http:// or https:// URL"))?;
        let var = w.secret.strip_prefix("env:").ok_or_else(|| {
            cx.err(
                &entry,
                "secret",
                "must be \"env:VARIABLE\" (secrets are not kept in setup files)",
            )
        })?;
        let secret = env(var).filter(|s| s.len() >= 16).ok_or_else(|| {
            cx.err(
                &entry,
                "secret",
                format!("the environment variable {var} must hold at least 16 characters"),
            )
        })?;
        let id = format!("{owner} {}", shown_url(&url));
        if out.iter().any(|o| o.id == id) {
            return Err(cx.err(entry, "url", "named twice for the same owner"));
        }
        out.push(WebhookRow {
            id,
            owner,
            url: url.to_string(),
            secret,
        });
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// A webhook URL as it may be printed: scheme, host and port, and a digest of the whole, since
/// receivers often carry a credential in the user part, the path or the query.
fn shown_url(url: &reqwest::Url) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(url.as_str().as_bytes());
    let tag = crate::service::auth::token::hex(&digest[..4]);
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let host = url.host_str().unwrap_or("");
    format!("{}://{host}{port}/... ({tag})", url.scheme())
}

/// `user:NAME` or `partner:ID` of a webhook or mailbox: exactly one, declared in the file.
fn owner(
    cx: &Ctx<'_>,
    entry: &str,
    named: (&Option<String>, &Option<String>),
    rows: &SetupRows,
) -> Result<String, SetupError> {
    match named {
        (Some(u), None) if rows.users.iter().any(|r| &r.name == u) => Ok(format!("user:{u}")),
        (None, Some(p)) if rows.partners.iter().any(|r| &r.id == p) => Ok(format!("partner:{p}")),
        (Some(_), None) => Err(cx.err(entry, "user", "names no [[user]] of this file")),
        (None, Some(_)) => Err(cx.err(entry, "partner", "names no [[partner]] of this file")),
        _ => Err(cx.err(entry, "user", "give exactly one of user and partner")),
    }
}

fn mailboxes(
    cx: &Ctx<'_>,
    setup: &SetupFile,
    current: &SetupRows,
    rows: &SetupRows,
    now: Timestamp,
) -> Result<Vec<MailboxRow>, SetupError> {
    let mut out: Vec<MailboxRow> = vec![];
    for m in &setup.mail {
        let entry = format!("[[mail]] '{}'", m.to);
        let owner = owner(cx, &entry, (&m.user, &m.partner), rows)?;
        let address =
            m.to.parse::<lettre::message::Mailbox>()
                .map_err(|e| cx.err(&entry, "to", format!("is not a mail address: {e}")))?;
        let schedule = match m.schedule.as_deref().unwrap_or("daily") {
            s @ ("immediate" | "daily") => s.to_owned(),
            other => {
                let why = format!("'{other}' is not immediate or daily");
                return Err(cx.err(&entry, "schedule", why));
            }
        };
        let digest_minute = digest_minute(m.digest_at.as_deref().unwrap_or("07:00"))
            .ok_or_else(|| cx.err(&entry, "digest_at", "must be HH:MM (UTC), like 07:00"))?;
        let id = format!("{owner} {}", address.email);
        if overlaps(&out, (&owner, address.email.as_ref()), rows) {
            return Err(cx.err(
                entry,
                "to",
                "already receives these users' mail (named for the same user, or for the user and its partner)",
            ));
        }
        let created_at = current
            .mailboxes
            .iter()
            .find(|c| c.id == id)
            .map_or(now.micros(), |c| c.created_at);
        out.push(MailboxRow {
            id,
            owner,
            address: address.to_string(),
            schedule,
            digest_minute,
            created_at,
        });
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// Whether a mailbox of `out` already receives the mail of `owner`'s users at `email`: one
/// address hears of each user's entry once, not as the user's and again as its partner's.
fn overlaps(out: &[MailboxRow], (owner, email): (&str, &str), rows: &SetupRows) -> bool {
    let partner_of = |owner: &str| match owner.split_once(':') {
        Some(("user", name)) => rows
            .users
            .iter()
            .find(|u| u.name == name)
            .map(|u| u.partner_id.clone()),
        Some((_, partner)) => Some(partner.to_owned()),
        None => None,
    };
    let is_partner = |o: &str| o.starts_with("partner:");
    out.iter().any(|o| {
        o.id.ends_with(&format!(" {email}"))
            && (o.owner == owner
                || (is_partner(&o.owner) != is_partner(owner)
                    && partner_of(&o.owner) == partner_of(owner)))
    })
}

/// `HH:MM` as minutes after midnight.
fn digest_minute(text: &str) -> Option<i64> {
    let (h, m) = text.split_once(':')?;
    let ok = |t: &str, max: i64| {
        let v: i64 = t.parse().ok().filter(|_| t.len() == 2)?;
        (0..max).contains(&v).then_some(v)
    };
    Some(ok(h, 24)? * 60 + ok(m, 60)?)
}

fn describe<K: Ord + Clone, R: PartialEq>(
    kind: &str,
    old: &[R],
    new: &[R],
    key: impl Fn(&R) -> K,
    label: impl Fn(&K) -> String,
    enabled: impl Fn(&R) -> bool,
    out: &mut Vec<String>,
) {
    let old_map: BTreeMap<K, &R> = old.iter().map(|r| (key(r), r)).collect();
    for r in new {
        let k = key(r);
        let what = match old_map.get(&k) {
            None => "added",
            Some(o) if *o == r => continue,
            Some(o) if enabled(o) && !enabled(r) => "disabled",
            Some(o) if !enabled(o) && enabled(r) => "enabled again",
            Some(_) => "changed",
        };
        out.push(format!("{kind} {}: {what}", label(&k)));
    }
}

/// The changes of entries replaced as a whole on apply (webhooks, mail): added, changed,
/// removed, by id.
fn replaced<R: PartialEq>(
    kind: &str,
    old: &[R],
    new: &[R],
    id: impl Fn(&R) -> &String,
    out: &mut Vec<String>,
) {
    describe(
        kind,
        old,
        new,
        |r| id(r).clone(),
        |k| k.clone(),
        |_| true,
        out,
    );
    for r in old {
        if !new.iter().any(|n| id(n) == id(r)) {
            out.push(format!("{kind} {}: removed", id(r)));
        }
    }
}

fn diff(current: &SetupRows, rows: &SetupRows) -> Vec<String> {
    let mut out = vec![];
    describe_switchable(current, rows, &mut out);
    describe(
        "rule",
        &current.rules,
        &rows.rules,
        |r| (r.community_id.clone(), r.producer_id.clone()),
        |(c, p)| format!("of {p} in {c}"),
        |_| true,
        &mut out,
    );
    replaced(
        "webhook",
        &current.webhooks,
        &rows.webhooks,
        |r| &r.id,
        &mut out,
    );
    replaced(
        "mail",
        &current.mailboxes,
        &rows.mailboxes,
        |r| &r.id,
        &mut out,
    );
    removed_rules(current, rows, &mut out);
    out
}

/// The changes of the entries that can be disabled: partners, users, communities, members.
fn describe_switchable(current: &SetupRows, rows: &SetupRows, out: &mut Vec<String>) {
    describe(
        "partner",
        &current.partners,
        &rows.partners,
        |r| r.id.clone(),
        |k| k.clone(),
        |r| r.enabled,
        out,
    );
    describe(
        "user",
        &current.users,
        &rows.users,
        |r| r.name.clone(),
        |k| k.clone(),
        |r| r.enabled,
        out,
    );
    describe(
        "community",
        &current.communities,
        &rows.communities,
        |r| r.id.clone(),
        |k| k.clone(),
        |r| r.enabled,
        out,
    );
    describe(
        "member",
        &current.memberships,
        &rows.memberships,
        |r| (r.community_id.clone(), r.partner_id.clone()),
        |(c, p)| format!("{p} of {c}"),
        |r| r.enabled,
        out,
    );
}

/// The rules of `current` that `rows` no longer has, as removed.
fn removed_rules(current: &SetupRows, rows: &SetupRows, out: &mut Vec<String>) {
    for r in &current.rules {
        if !rows
            .rules
            .iter()
            .any(|n| n.community_id == r.community_id && n.producer_id == r.producer_id)
        {
            out.push(format!(
                "rule of {} in {}: removed",
                r.producer_id, r.community_id
            ));
        }
    }
}

/// Plans and writes in one transaction: all or nothing.
pub fn apply(
    conn: &mut Conn,
    file: &str,
    setup: &SetupFile,
    env: &dyn Fn(&str) -> Option<String>,
    now: Timestamp,
) -> Result<Vec<String>, SetupError> {
    let current = store::load_all(conn)?;
    let plan = plan(file, setup, &current, env, now)?;
    if plan.changes.is_empty() {
        return Ok(vec![]);
    }
    // Parents before children, for the foreign keys.
    for p in &plan.rows.partners {
        store::upsert_partner(conn, p)?;
    }
    for u in &plan.rows.users {
        // A name given to another partner's user starts anew: what it followed and was told
        // as the old partner's user is not the new one's to see.
        let moved = current
            .users
            .iter()
            .any(|c| c.name == u.name && c.partner_id != u.partner_id);
        if moved {
            store::forget_activity(conn, &u.name)?;
        }
        store::upsert_user(conn, u)?;
    }
    for c in &plan.rows.communities {
        store::upsert_community(conn, c)?;
    }
    for m in &plan.rows.memberships {
        store::upsert_membership(conn, m)?;
    }
    store::replace_rules(conn, &plan.rows.rules)?;
    store::replace_webhooks(conn, &plan.rows.webhooks)?;
    store::replace_mailboxes(conn, &plan.rows.mailboxes)?;
    // New members, caps and rules take effect on deliveries in the same transaction.
    crate::service::deliveries::refresh_all(conn, now)?;
    Ok(plan.changes)
}

/// Computes the changes without writing anything.
pub fn check(
    conn: &mut Conn,
    file: &str,
    setup: &SetupFile,
    env: &dyn Fn(&str) -> Option<String>,
    now: Timestamp,
) -> Result<Vec<String>, SetupError> {
    let current = store::load_all(conn)?;
    Ok(plan(file, setup, &current, env, now)?.changes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::settings::*;

    /// The plan of setup `text` against an empty database, at the epoch, without `env:` values.
    fn plan_text(text: &str) -> Result<Plan, SetupError> {
        let file = parse("setup.toml", text).expect("the file parses");
        plan(
            "setup.toml",
            &file,
            &Default::default(),
            &|_| None,
            Timestamp::EPOCH,
        )
    }

    /// What `cairn apply` writes, every parser reads back as the file meant it.
    #[test]
    fn the_setup_file_writes_what_the_parsers_read() {
        let hash = crate::service::auth::hash_password("pw").unwrap();
        let text = format!(
            r#"
[[partner]]
id = "acme"
title = "ACME"
[[partner]]
id = "globex"
title = "Globex"
[[user]]
name = "acme-soc"
partner = "acme"
password_hash = "{hash}"
max_tlp = "WHITE"
types = ["indicator"]
[[user]]
name = "globex-soc"
partner = "globex"
password_hash = "{hash}"
[[community]]
id = "finance-isac"
collection = "2f0e4c8e-6b1a-4c55-9d8e-6f1b7e0a9c11"
title = "Finance ISAC"
unmarked = "Amber+Strict"
types = ["indicator", "malware"]
dangling_refs = "allow"
[[community.member]]
partner = "acme"
role = "moderator"
max_tlp = "red"
[[community.member]]
partner = "globex"
role = "reader"
[[community.rule]]
producer = "acme"
exclude = ["globex"]
types = ["malware"]
[[community]]
id = "club"
collection = "7d1f3a52-9c4e-4b8a-8f2d-3e5b6a7c8d90"
title = "Club"
unmarked = "reject"
"#
        );
        let rows = plan_text(&text).unwrap().rows;
        let [acme, globex] = &rows.users[..] else {
            panic!("{:?}", rows.users)
        };
        assert_eq!(user_max_tlp(acme).unwrap(), Tlp::Clear);
        assert_eq!(user_types(acme).unwrap(), vec!["indicator"]);
        assert_eq!(user_max_tlp(globex).unwrap(), Tlp::Red);
        assert_eq!(user_types(globex).unwrap(), Vec::<String>::new());
        let [isac, club] = &rows.communities[..] else {
            panic!("{:?}", rows.communities)
        };
        let level = Unmarked::Level(Tlp::AmberStrict);
        assert_eq!(community_unmarked(isac).unwrap(), level);
        assert_eq!(community_types(isac).unwrap(), vec!["indicator", "malware"]);
        assert!(community_dangling_allowed(isac).unwrap());
        assert_eq!(community_unmarked(club).unwrap(), Unmarked::Reject);
        assert!(!community_dangling_allowed(club).unwrap());
        let roles: Vec<(Role, Tlp)> = rows
            .memberships
            .iter()
            .map(|m| (member_role(m).unwrap(), member_max_tlp(m).unwrap()))
            .collect();
        assert_eq!(
            roles,
            vec![
                (Role::Moderator, Tlp::Red),
                (Role::Reader, Tlp::AmberStrict)
            ]
        );
        let rule = &rows.rules[0];
        assert_eq!(rule_exclude(rule).unwrap(), vec!["globex"]);
        assert_eq!(rule_types(rule).unwrap(), vec!["malware"]);
    }

    /// A partner id is its API root: paths the server answers itself cannot be one.
    #[test]
    fn partner_ids_that_are_paths_of_their_own_are_refused() {
        for id in ["taxii2", "healthz", "readyz", "web"] {
            let text = format!("[[partner]]\nid = \"{id}\"\ntitle = \"T\"\n");
            let Err(err) = plan_text(&text) else {
                panic!("{id} was taken")
            };
            let err = err.to_string();
            assert!(err.contains("path of its own"), "{id}: {err}");
        }
    }

    /// `types` follow the rule posted objects follow, so a listed type can be one that is stored.
    #[test]
    fn types_are_stix_type_names() {
        let plan_types = |types: &str| {
            let text = format!(
                "[[community]]\nid = \"club\"\ntitle = \"Club\"\n\
                 collection = \"7d1f3a52-9c4e-4b8a-8f2d-3e5b6a7c8d90\"\ntypes = [{types}]\n"
            );
            plan_text(&text).map(|_| ())
        };
        assert!(plan_types(r#""indicator", "x-acme-widget""#).is_ok());
        let refused = [
            ("1-acme", "it must begin with a letter a-z"),
            ("-acme", "it must begin with a letter a-z"),
            ("x--acme", "it must not contain '--'"),
            ("Indicator", "'I' is not allowed"),
            ("ab", "it has 2 characters"),
        ];
        for (name, why) in refused {
            let e = plan_types(&format!("\"{name}\"")).unwrap_err().to_string();
            let start = format!(
                "setup.toml: [[community]] 'club': types: '{name}' is not a STIX type name: {why}"
            );
            assert!(e.starts_with(&start), "{e}");
        }
    }
}
