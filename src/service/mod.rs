//! Use cases: each HTTP request is one call here. Authorisation comes from `policy`, data from
//! `storage`; this layer joins them and shapes TAXII results.

pub mod auth;
pub mod deliveries;
pub mod ingest;
pub mod query;

use crate::clock::Clock;
use crate::policy::{self, Denied, Membership, Principal};
use crate::storage::models::{CommunityRow, MembershipRow};
use crate::storage::{settings, setup, Storage, StorageError};
use crate::taxii::cursor::CursorKey;
use crate::taxii::query::{Limits, QueryError};

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

/// Everything a request needs, shared by all workers.
#[derive(Clone)]
pub struct Cairn {
    pub storage: Storage,
    pub clock: Clock,
    pub settings: Settings,
    pub cursor: CursorKey,
    pub auth: auth::Authenticator,
    pub validator: std::sync::Arc<crate::stix::Validator>,
    /// One envelope validated per core at a time: validation is CPU work, so more at once
    /// gains nothing and holds every envelope's parsed objects in memory together.
    pub checking: std::sync::Arc<tokio::sync::Semaphore>,
}

/// A gate of one permit per core, for CPU-bound work that gains nothing from running wider.
pub fn per_core_gate() -> std::sync::Arc<tokio::sync::Semaphore> {
    std::sync::Arc::new(tokio::sync::Semaphore::new(
        std::thread::available_parallelism().map_or(1, |n| n.get()),
    ))
}

fn membership(row: &MembershipRow) -> Result<Membership, StorageError> {
    Ok(Membership {
        community_id: row.community_id.clone(),
        partner: row.partner_id.clone(),
        role: settings::member_role(row)?,
    })
}

/// A community as the caller may see it.
pub struct CollectionView {
    pub community: CommunityRow,
    pub can_read: bool,
    pub can_write: bool,
}

impl Cairn {
    pub async fn authenticate(&self, creds: &auth::Credentials) -> Result<Principal, ServiceError> {
        self.auth.authenticate(&self.storage, creds).await
    }

    /// The API root is the caller's own partner; any other answers as if it did not exist.
    pub fn check_api_root(principal: &Principal, api_root: &str) -> Result<(), ServiceError> {
        if policy::may_use_api_root(principal, api_root) {
            Ok(())
        } else {
            Err(ServiceError::NotFound)
        }
    }

    pub async fn collections(
        &self,
        principal: &Principal,
        api_root: &str,
    ) -> Result<Vec<CollectionView>, ServiceError> {
        Self::check_api_root(principal, api_root)?;
        let partner = principal.partner.clone();
        let rows = self
            .storage
            .read(move |c| setup::memberships_of(c, &partner))
            .await?;
        rows.into_iter()
            .map(|(community, m)| {
                let (can_read, can_write) = policy::collection_flags(principal, &membership(&m)?);
                Ok(CollectionView {
                    community,
                    can_read,
                    can_write,
                })
            })
            .collect()
    }

    /// The caller's membership of collection `key` (id or alias) under `api_root`.
    pub async fn membership(
        &self,
        principal: &Principal,
        api_root: &str,
        key: &str,
    ) -> Result<(CommunityRow, Membership), ServiceError> {
        Self::check_api_root(principal, api_root)?;
        let (partner, key) = (principal.partner.clone(), key.to_owned());
        let found = self
            .storage
            .read(move |c| setup::membership_by_collection(c, &partner, &key))
            .await?
            .ok_or(ServiceError::NotFound)?;
        let m = membership(&found.1)?;
        Ok((found.0, m))
    }

    pub async fn collection(
        &self,
        principal: &Principal,
        api_root: &str,
        key: &str,
    ) -> Result<CollectionView, ServiceError> {
        let (community, m) = self.membership(principal, api_root, key).await?;
        let (can_read, can_write) = policy::collection_flags(principal, &m);
        Ok(CollectionView {
            community,
            can_read,
            can_write,
        })
    }

    /// A status resource, within the retention, for the user who posted it and the posting
    /// partner's moderators of its community; to anyone else it does not exist.
    pub async fn status(
        &self,
        principal: &Principal,
        api_root: &str,
        id: &str,
    ) -> Result<String, ServiceError> {
        Self::check_api_root(principal, api_root)?;
        let not_before = (self.clock.now() - self.settings.status_retention).timestamp_micros();
        let (id, caller) = (id.to_owned(), principal.clone());
        self.storage
            .read(move |c| {
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
                Ok(match found {
                    Some((Some(owner), body)) if policy::may_read_status(&caller, &owner, role) => {
                        Ok(body)
                    }
                    _ => Err(ServiceError::NotFound),
                })
            })
            .await?
    }
}
