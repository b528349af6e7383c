//! Use cases: each HTTP request is one call here. Authorisation comes from `policy`, data from
//! `storage`; this layer joins them and shapes TAXII results.

pub mod auth;
pub mod deliveries;
pub mod follows;
pub mod import;
pub mod ingest;
pub mod mail;
pub mod operator;
pub mod query;
pub mod receipts;
pub mod tokens;
pub mod web;
pub mod webhooks;

use crate::clock::Clock;
use crate::ids::{CommunityId, PartnerId, UserName};
use crate::policy::{self, DeleteGrant, Denied, Membership, Principal, WriteGrant};
use crate::storage::models::{CommunityRow, MembershipRow};
use crate::storage::{settings, setup, Conn, Storage, StorageError};
use crate::taxii::cursor::CursorKey;
use crate::taxii::query::{Limits, QueryError};

/// Who asks: the credentials an API request sent, checked in the transaction that reads for it
/// (`read_as_caller`), or the user a web page's session signed in (`Cairn::read_as`).
#[derive(Clone, Copy)]
pub enum Asker<'a> {
    Sent(&'a auth::Credentials),
    Page(&'a Principal),
}

/// Errors of the use cases; `http::error` maps each to one TAXII error response.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("authentication required")]
    Unauthorized,
    /// Absent, or present but hidden from the caller: the two must be indistinguishable.
    #[error("not found")]
    NotFound,
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("invalid parameter {0}")]
    BadQuery(#[from] QueryError),
    #[error("invalid next token")]
    BadCursor,
    #[error("body is not JSON: {0}")]
    NotJson(String),
    #[error("body is neither an envelope nor a bundle: {0}")]
    Unprocessable(String),
    #[error("too many objects: {0}")]
    TooManyObjects(String),
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error("internal: {0}")]
    Internal(String),
    /// Too many failed logins, or too many waiting to be verified: retry after that many seconds.
    #[error("throttled: {reason}")]
    Throttled {
        retry_after: u64,
        reason: &'static str,
    },
}

impl From<Denied> for ServiceError {
    fn from(d: Denied) -> Self {
        match d {
            Denied::Hidden => ServiceError::NotFound,
            Denied::Forbidden(why) => ServiceError::Forbidden(why.into()),
        }
    }
}

/// Settings the use cases need, taken from the config once at start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub title: String,
    pub description: Option<String>,
    pub contact: Option<String>,
    pub default_page_size: usize,
    pub max_page_size: usize,
    pub max_page_bytes: usize,
    pub max_content_length: usize,
    pub status_retention: chrono::Duration,
    /// How long receipts are kept (`taxii.receipt_retention`).
    pub receipt_retention: chrono::Duration,
    pub public_url: Option<String>,
}

impl Settings {
    pub fn limits(&self) -> Limits {
        Limits {
            default_page_size: self.default_page_size,
            max_page_size: self.max_page_size,
        }
    }
}

/// Everything a request needs, shared by all workers. Its state is the use cases' own: callers
/// reach storage, the clock and the keys only through its methods.
#[derive(Clone)]
pub struct Cairn {
    storage: Storage,
    clock: Clock,
    settings: Settings,
    cursor: CursorKey,
    auth: auth::Authenticator,
    validator: std::sync::Arc<crate::stix::Validator>,
    /// One envelope validated per core at a time: validation is CPU work, so more at once
    /// gains nothing and holds every envelope's parsed objects in memory together.
    checking: std::sync::Arc<tokio::sync::Semaphore>,
    /// Pull receipts waiting to be written.
    receipts: std::sync::Arc<receipts::Ledger>,
}

impl Cairn {
    /// The use cases over `storage`, with the server's secret (for `next` tokens and login
    /// throttling keys) and its login limits.
    pub fn new(
        storage: Storage,
        clock: Clock,
        settings: Settings,
        secret: &[u8],
        limits: auth::Limits,
    ) -> Result<Cairn, crate::stix::schema::SchemaError> {
        Ok(Cairn {
            auth: auth::Authenticator::new(limits, clock.clone(), secret),
            storage,
            clock,
            settings,
            cursor: CursorKey::new(secret),
            validator: std::sync::Arc::new(crate::stix::Validator::new()?),
            checking: per_core_gate(),
            receipts: Default::default(),
        })
    }

    /// The settings requests are answered with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The metrics storage and the server record.
    pub fn metrics(&self) -> std::sync::Arc<crate::metrics::Metrics> {
        std::sync::Arc::clone(self.storage.metrics())
    }
}

/// The collections of `principal`'s partner under `api_root`, with what it may do in each.
fn collections_in(
    c: &mut Conn,
    principal: &Principal,
    api_root: &str,
) -> Result<Vec<CollectionView>, ServiceError> {
    Cairn::check_api_root(principal, api_root)?;
    let rows = setup::memberships_of(c, &principal.partner)?;
    rows.into_iter()
        .map(|(community, m)| {
            let (can_read, can_write) = policy::collection_flags(principal, &membership(&m)?);
            Ok(CollectionView {
                community: community.into(),
                can_read,
                can_write,
            })
        })
        .collect()
}

/// `principal`'s membership of collection `key` (id or alias) under `api_root`.
fn member_in(
    c: &mut Conn,
    principal: &Principal,
    (api_root, key): (&str, &str),
) -> Result<(CommunityRow, Membership), ServiceError> {
    Cairn::check_api_root(principal, api_root)?;
    let (community, row) = setup::membership_by_collection(c, &principal.partner, key)?
        .ok_or(ServiceError::NotFound)?;
    Ok((community, membership(&row)?))
}

/// The collection `key` (id or alias) of `principal`'s partner under `api_root`.
fn collection_in(
    c: &mut Conn,
    principal: &Principal,
    place: (&str, &str),
) -> Result<CollectionView, ServiceError> {
    let (community, m) = member_in(c, principal, place)?;
    let (can_read, can_write) = policy::collection_flags(principal, &m);
    Ok(CollectionView {
        community: community.into(),
        can_read,
        can_write,
    })
}

/// A gate of one permit per core, for CPU-bound work that gains nothing from running wider.
pub fn per_core_gate() -> std::sync::Arc<tokio::sync::Semaphore> {
    std::sync::Arc::new(tokio::sync::Semaphore::new(
        std::thread::available_parallelism().map_or(1, |n| n.get()),
    ))
}

fn membership(row: &MembershipRow) -> Result<Membership, StorageError> {
    Ok(Membership {
        community_id: CommunityId::known(&row.community_id),
        partner: PartnerId::known(&row.partner_id),
        role: settings::member_role(row)?,
    })
}

/// What `user` may read of `community` (its id or collection id) now, granted as a request
/// of that user's would be: what a notification sent in the background checks before it goes.
pub(crate) fn reader_grant(
    c: &mut Conn,
    user: &str,
    community: &str,
) -> Result<Option<policy::ReadGrant>, StorageError> {
    let Some(u) = setup::active_user(c, user)? else {
        return Ok(None);
    };
    let Some((_, row)) = setup::membership_by_collection(c, &u.partner_id, community)? else {
        return Ok(None);
    };
    let principal = Principal {
        user: UserName::known(u.name),
        partner: PartnerId::known(u.partner_id),
        read_only: true,
        token: None,
    };
    Ok(policy::grant_read(&principal, &membership(&row)?).ok())
}

/// The caller's membership of `community`, read again inside the transaction that writes: a
/// change `cairn apply` made since the early check (on any instance) is seen.
fn member_now(
    c: &mut Conn,
    principal: &Principal,
    community: &str,
) -> Result<Result<Membership, ServiceError>, StorageError> {
    let p = principal;
    member_of(
        p,
        setup::caller(c, (&p.user, &p.partner, p.token.as_deref()), community)?,
    )
}

/// The caller's membership as `caller` was read in a writing transaction. A disabled user,
/// partner, community or membership answers 404, as a missing membership does early on; a token
/// revoked while the request was under way (a slow upload) 401. `Ok(Err(_))` is that refusal.
fn member_of(
    principal: &Principal,
    caller: setup::Caller,
) -> Result<Result<Membership, ServiceError>, StorageError> {
    if caller
        .user
        .is_none_or(|u| u.partner_id != principal.partner)
    {
        return Ok(Err(ServiceError::NotFound));
    }
    if caller.token_live == Some(false) {
        return Ok(Err(ServiceError::Unauthorized));
    }
    match caller.membership {
        Some((_, row)) => Ok(Ok(membership(&row)?)),
        None => Ok(Err(ServiceError::NotFound)),
    }
}

/// The write grant of a POST, from its caller as read in the transaction that stores it.
fn write_grant_of(
    principal: &Principal,
    caller: setup::Caller,
) -> Result<Result<WriteGrant, ServiceError>, StorageError> {
    Ok(member_of(principal, caller)?.and_then(|m| Ok(policy::grant_write(principal, &m)?)))
}

/// The delete grant as of the transaction that deletes: 404 before 403, as early on.
fn delete_grant_now(
    c: &mut Conn,
    principal: &Principal,
    community: &str,
) -> Result<Result<DeleteGrant, ServiceError>, StorageError> {
    Ok(member_now(c, principal, community)?.and_then(|m| {
        policy::grant_read(principal, &m)?;
        Ok(policy::grant_delete(principal, &m)?)
    }))
}

/// What the API and the pages show of a community.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Community {
    pub id: String,
    pub collection_id: String,
    pub title: String,
    pub description: Option<String>,
}

impl From<CommunityRow> for Community {
    fn from(row: CommunityRow) -> Community {
        Community {
            id: row.id,
            collection_id: row.collection_id,
            title: row.title,
            description: row.description,
        }
    }
}

/// A community as the caller may see it.
pub struct CollectionView {
    pub community: Community,
    pub can_read: bool,
    pub can_write: bool,
}

impl Cairn {
    /// The metrics in the Prometheus text format, with the gauges read now.
    pub async fn metrics_text(&self) -> Result<String, ServiceError> {
        let pending = self.storage.read(crate::storage::releases_pending).await?;
        let gauges = crate::metrics::Gauges {
            writes_queued: self.storage.writes_queued(),
            releases_pending: pending,
        };
        Ok(self.storage.metrics().render(&gauges))
    }

    /// `/readyz`: the database answers a read and has every migration this build knows.
    pub async fn ready(&self) -> Result<bool, ServiceError> {
        Ok(self.storage.read(crate::storage::migrated).await?)
    }

    /// Verifies credentials on their own (argon2 when not recently verified); requests go
    /// through `read_as_caller`, which uses this only when its transaction could not recall them.
    pub(super) async fn authenticate(
        &self,
        creds: &auth::Credentials,
    ) -> Result<Principal, ServiceError> {
        self.auth.authenticate(&self.storage, creds).await
    }

    /// The caller of a request that reads nothing else (discovery, an API root).
    pub async fn caller(&self, creds: &auth::Credentials) -> Result<Principal, ServiceError> {
        self.read_as_caller(creds, |_, p| Ok(p.clone())).await
    }

    /// Runs `f` in one read transaction for `asker`: for credentials, the one that
    /// authenticates them (`read_as_caller`).
    pub(super) async fn read_as<T, F>(&self, asker: Asker<'_>, f: F) -> Result<T, ServiceError>
    where
        T: Send + 'static,
        F: Fn(&mut Conn, &Principal) -> Result<T, ServiceError> + Send + Sync + 'static,
    {
        match asker {
            Asker::Sent(creds) => self.read_as_caller(creds, f).await,
            Asker::Page(p) => {
                let p = p.clone();
                self.storage.read(move |c| Ok(f(c, &p))).await?
            }
        }
    }

    /// The asker and its membership of collection `key` under `api_root`, read in one
    /// transaction (for credentials, the one that authenticates them).
    pub(super) async fn member(
        &self,
        asker: Asker<'_>,
        api_root: &str,
        key: &str,
    ) -> Result<(Principal, CommunityRow, Membership), ServiceError> {
        let (root, key) = (api_root.to_owned(), key.to_owned());
        self.read_as(asker, move |c, p| {
            let (community, m) = member_in(c, p, (&root, &key))?;
            Ok((p.clone(), community, m))
        })
        .await
    }

    /// The API root is the caller's own partner; any other answers as if it did not exist.
    pub fn check_api_root(principal: &Principal, api_root: &str) -> Result<(), ServiceError> {
        if policy::may_use_api_root(principal, api_root) {
            Ok(())
        } else {
            Err(ServiceError::NotFound)
        }
    }

    /// The collections of the asker's partner under `api_root`.
    pub async fn collections(
        &self,
        asker: Asker<'_>,
        api_root: &str,
    ) -> Result<Vec<CollectionView>, ServiceError> {
        let root = api_root.to_owned();
        self.read_as(asker, move |c, p| collections_in(c, p, &root))
            .await
    }

    /// The signed-in caller's membership of collection `key` (id or alias) under `api_root`.
    pub async fn membership(
        &self,
        principal: &Principal,
        api_root: &str,
        key: &str,
    ) -> Result<(CommunityRow, Membership), ServiceError> {
        let (_, community, m) = self.member(Asker::Page(principal), api_root, key).await?;
        Ok((community, m))
    }

    /// One collection of the asker's partner.
    pub async fn collection(
        &self,
        asker: Asker<'_>,
        api_root: &str,
        key: &str,
    ) -> Result<CollectionView, ServiceError> {
        let (root, key) = (api_root.to_owned(), key.to_owned());
        self.read_as(asker, move |c, p| collection_in(c, p, (&root, &key)))
            .await
    }

    /// A status resource, within the retention, for the user who posted it and the posting
    /// partner's moderators of its community; to anyone else it does not exist.
    /// The caller is authenticated in the transaction that reads the status.
    pub async fn status(
        &self,
        creds: &auth::Credentials,
        api_root: &str,
        id: &str,
    ) -> Result<String, ServiceError> {
        let not_before = self.status_horizon();
        let (id, root) = (id.to_owned(), api_root.to_owned());
        self.read_as_caller(creds, move |c, caller| {
            Self::check_api_root(caller, &root)?;
            let found = crate::storage::statuses::get(c, &id, not_before)?;
            let community = match &found {
                Some((Some(owner), _)) => owner.community_id.as_str(),
                _ => "",
            };
            // Asked whether or not the status exists, so a colleague's status and a missing
            // one take the same reads.
            let role = setup::membership_by_collection(c, &caller.partner, community)?
                .map(|(_, m)| settings::member_role(&m))
                .transpose()?;
            match found {
                Some((Some(owner), body)) if policy::may_read_status(caller, &owner, role) => {
                    Ok(body)
                }
                _ => Err(ServiceError::NotFound),
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// acme with `acme_role` and, when given a role, globex in community `isac`; globex's user
    /// only when `globex_user`.
    fn text(acme_role: &str, globex_role: Option<&str>, globex_user: bool) -> String {
        let hash = auth::hash_password("pw").unwrap();
        let user = |name: &str, partner: &str| {
            format!("[[user]]\nname = \"{name}\"\npartner = \"{partner}\"\npassword_hash = \"{hash}\"\n")
        };
        let member = |partner: &str, role: &str| {
            format!("[[community.member]]\npartner = \"{partner}\"\nrole = \"{role}\"\n")
        };
        let mut text = "[[partner]]\nid = \"acme\"\ntitle = \"ACME\"\n\
                        [[partner]]\nid = \"globex\"\ntitle = \"Globex\"\n"
            .to_string();
        text += &user("acme-soc", "acme");
        if globex_user {
            text += &user("globex-soc", "globex");
        }
        text += "[[community]]\nid = \"isac\"\n\
                 collection = \"2f0e4c8e-6b1a-4c55-9d8e-6f1b7e0a9c11\"\ntitle = \"ISAC\"\n";
        text += &member("acme", acme_role);
        if let Some(role) = globex_role {
            text += &member("globex", role);
        }
        text
    }

    fn apply(storage: &Storage, setup: &str) {
        let parsed = crate::setup::parse("setup.toml", setup).unwrap();
        storage
            .write_now(|c| {
                crate::setup::apply(
                    c,
                    "setup.toml",
                    &parsed,
                    &|_| None,
                    crate::stix::timestamp::Timestamp::EPOCH,
                )
                .map_err(|e| StorageError::Task(e.to_string()))
            })
            .unwrap();
    }

    /// What the write and delete grants of `partner`'s user come to in a write transaction
    /// now: "granted", 403 or 404, and whether the delete grant covers the other's objects.
    fn grants(storage: &Storage, partner: &str) -> (String, String) {
        let principal = Principal {
            user: UserName::known(format!("{partner}-soc")),
            partner: PartnerId::known(partner),
            read_only: false,
            token: None,
        };
        let other = if partner == "acme" { "globex" } else { "acme" };
        let kind = |e: ServiceError| match e {
            ServiceError::NotFound => "404".to_string(),
            ServiceError::Forbidden(_) => "403".to_string(),
            e => e.to_string(),
        };
        storage
            .write_now(|c| {
                let caller = (&*principal.user, &*principal.partner, None);
                let write = match write_grant_of(&principal, setup::caller(c, caller, "isac")?)? {
                    Ok(_) => "granted".to_string(),
                    Err(e) => kind(e),
                };
                let delete = match delete_grant_now(c, &principal, "isac")? {
                    Ok(g) if g.may_delete(other) => "any".to_string(),
                    Ok(_) => "own".to_string(),
                    Err(e) => kind(e),
                };
                Ok((write, delete))
            })
            .unwrap()
    }

    fn pair(write: &str, delete: &str) -> (String, String) {
        (write.into(), delete.into())
    }

    /// The grants a POST or DELETE reads again in its writing transaction follow every change
    /// `cairn apply` makes: a demotion, a removed membership, a disabled user.
    #[test]
    fn grants_in_the_writing_transaction_follow_apply() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("grants.db").display());
        let storage = Storage::open(&url, 2).unwrap();
        apply(&storage, &text("moderator", Some("contributor"), true));
        assert_eq!(grants(&storage, "globex"), pair("granted", "own"));
        assert_eq!(grants(&storage, "acme"), pair("granted", "any"));
        apply(&storage, &text("contributor", Some("contributor"), true));
        assert_eq!(grants(&storage, "acme"), pair("granted", "own"));
        apply(&storage, &text("moderator", Some("reader"), true));
        assert_eq!(grants(&storage, "globex"), pair("403", "403"));
        apply(&storage, &text("moderator", None, true));
        assert_eq!(grants(&storage, "globex"), pair("404", "404"));
        apply(&storage, &text("moderator", Some("moderator"), false));
        assert_eq!(grants(&storage, "globex"), pair("404", "404"));
        apply(&storage, &text("moderator", Some("moderator"), true));
        assert_eq!(grants(&storage, "globex"), pair("granted", "any"));
    }
}
