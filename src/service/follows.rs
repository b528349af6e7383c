//! Follows and the activity feed (docs/sharing.md section 8): a user follows an object or a
//! whole community it reads, and its feed lists what became deliverable to it and matched.

use super::auth::Credentials;
use super::{Asker, Cairn, ServiceError};
use crate::policy::Principal;
use crate::sharing::plan::holds_objects;
use crate::stix::timestamp::Timestamp;
use crate::storage::follows::{self, FeedRow, FollowRow};
use crate::taxii::cursor::Position;
use serde::{Deserialize, Serialize};

/// A follow as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Follow {
    pub id: String,
    pub collection: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    pub created: String,
}

/// The body of `POST .../follows/`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewFollow {
    pub collection: String,
    pub object: Option<String>,
}

/// One page of the feed: entries after the request's position, and where the next starts.
#[derive(Debug, Clone, Serialize)]
pub struct Feed {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub more: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notifications: Vec<Notification>,
    /// First and last `date_added` of the page (for the headers).
    #[serde(skip)]
    pub dates: Option<(Timestamp, Timestamp)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Notification {
    pub id: String,
    pub date_added: String,
    pub collection: String,
    pub object: NotifiedObject,
    /// What the follow matched: the object's id, an id it references, or `collection`.
    pub because: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct NotifiedObject {
    pub id: String,
    #[serde(rename = "type")]
    pub stix_type: String,
    pub version: String,
    pub producer: Option<String>,
}

/// Follows per user: what a follow listing returns at once, and what a refresh matches.
pub const MAX_FOLLOWS: i64 = 1000;

/// Requests of the feed take at most this many entries.
const MAX_FEED_PAGE: usize = 1000;

impl Cairn {
    /// The asker's follows.
    pub async fn follows(
        &self,
        asker: Asker<'_>,
        api_root: &str,
    ) -> Result<Vec<Follow>, ServiceError> {
        let root = api_root.to_owned();
        self.read_as(asker, move |c, p| follows_in(c, p, &root))
            .await
    }

    /// Adds a follow for a caller already authenticated (`Cairn::caller` before the body was
    /// read, or a web page's session).
    pub async fn follow(
        &self,
        principal: &Principal,
        api_root: &str,
        body: &str,
    ) -> Result<Follow, ServiceError> {
        Self::check_api_root(principal, api_root)?;
        let asked: NewFollow = serde_json::from_str(body)
            .map_err(|e| ServiceError::Unprocessable(format!("a follow is {{\"collection\": \"<id>\", \"object\": \"<STIX id>\"}} with object optional: {e}")))?;
        if principal.read_only {
            return Err(ServiceError::Forbidden(
                "a read-only API token cannot add follows".into(),
            ));
        }
        if let Some(id) = &asked.object {
            crate::stix::rules::parse_identifier(id)
                .map_err(|why| ServiceError::Unprocessable(format!("object: {why}")))?;
        }
        let (community, membership) = self
            .membership(principal, api_root, &asked.collection)
            .await?;
        let grant = crate::policy::grant_read(principal, &membership)?;
        let row = FollowRow {
            id: uuid::Uuid::new_v4().to_string(),
            user_name: principal.user.to_string(),
            community_id: community.id.clone(),
            target: asked.object.clone().unwrap_or_default(),
            created_at: self.clock.now().micros(),
        };
        let kept = self
            .storage
            .write(move |c| {
                let kept = follows::insert(c, &row, MAX_FOLLOWS)?;
                if kept.is_some() && holds_objects(&row.target) {
                    let (held, version) = held_now(c, &grant, &row.target)?;
                    let key = (
                        row.user_name.as_str(),
                        row.community_id.as_str(),
                        row.target.as_str(),
                    );
                    follows::set_holds(c, key, follows::Holds::Version(&held, version))?;
                }
                Ok(kept)
            })
            .await?
            .ok_or_else(|| {
                ServiceError::Unprocessable(format!(
                    "a user has at most {MAX_FOLLOWS} follows: remove some first \
                     (DELETE .../follows/<id>/), or follow the whole collection"
                ))
            })?;
        let collections = [(community.id, community.collection_id)].into();
        Ok(follow_view(&kept, &collections))
    }

    /// Removes a follow of a caller already authenticated (`Cairn::caller`, or a web page's
    /// session): its own bookkeeping, which tells nothing.
    pub async fn unfollow(
        &self,
        principal: &Principal,
        api_root: &str,
        id: &str,
    ) -> Result<(), ServiceError> {
        Self::check_api_root(principal, api_root)?;
        if principal.read_only {
            return Err(ServiceError::Forbidden(
                "a read-only API token cannot remove follows".into(),
            ));
        }
        let (user, id) = (principal.user.clone(), id.to_owned());
        match self
            .storage
            .write(move |c| follows::delete(c, &user, &id))
            .await?
        {
            true => Ok(()),
            false => Err(ServiceError::NotFound),
        }
    }

    /// The caller's feed after `added_after` or the `next` token, at most `limit` entries.
    /// The caller is authenticated once, before the releases due in its communities are
    /// processed; the feed is then read for that principal, as follows are.
    pub async fn feed(
        &self,
        creds: &Credentials,
        api_root: &str,
        params: &[(String, String)],
    ) -> Result<Feed, ServiceError> {
        let principal = self.caller(creds).await?;
        Self::check_api_root(&principal, api_root)?;
        let binding = format!("feed\0{}", principal.user);
        let (after, limit) = self.feed_query(&binding, params)?;
        self.release_due_for(&principal.partner).await?;
        let mut rows = self
            .read_as(Asker::Page(&principal), move |c, p| {
                let window = (after, Timestamp::MAX);
                Ok(follows::feed(c, (&p.user, &p.partner), window, limit + 1)?)
            })
            .await?;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let at = |r: &FeedRow| Timestamp::from_micros(r.at);
        let dates = rows.first().zip(rows.last()).map(|(a, b)| (at(a), at(b)));
        let next = (more).then(|| rows.last()).flatten().map(|r| {
            self.cursor
                .mint(&binding, Position { date_added: at(r) }, "")
        });
        Ok(Feed {
            more: dates.map(|_| more),
            next,
            notifications: rows.into_iter().map(notification).collect(),
            dates,
        })
    }

    /// The caller's newest notifications first (the web pages' list), at most `limit`.
    pub async fn recent_notifications(
        &self,
        principal: &Principal,
        limit: usize,
    ) -> Result<Vec<Notification>, ServiceError> {
        self.release_due_for(&principal.partner).await?;
        let (user, partner) = (principal.user.clone(), principal.partner.clone());
        let limit = limit.min(MAX_FEED_PAGE);
        let rows = self
            .storage
            .read(move |c| follows::newest(c, (&user, &partner), limit))
            .await?;
        Ok(rows.into_iter().map(notification).collect())
    }

    /// Processes the releases that came due in the partner's communities, as a page of one of
    /// them would: what they deliver is in the feed from that moment.
    async fn release_due_for(&self, partner: &str) -> Result<(), ServiceError> {
        let partner = partner.to_owned();
        self.release_due_in(move |c| {
            let rows = crate::storage::setup::memberships_of(c, &partner)?;
            Ok(rows
                .into_iter()
                .map(|(community, _)| community.id)
                .collect())
        })
        .await
    }

    /// Processes the releases that came due in the communities `which` names.
    pub(crate) async fn release_due_in(
        &self,
        which: impl FnOnce(&mut crate::storage::Conn) -> Result<Vec<String>, crate::storage::StorageError>
            + Send
            + 'static,
    ) -> Result<(), ServiceError> {
        let now = self.clock.now();
        let due: Vec<String> = self
            .storage
            .read(move |c| {
                let mut due = vec![];
                for community in which(c)? {
                    if crate::storage::objects::releases_due(c, &community, now)? {
                        due.push(community);
                    }
                }
                Ok(due)
            })
            .await?;
        for community in due {
            self.storage
                .write(move |c| super::deliveries::release_due(c, &community, now))
                .await?;
        }
        Ok(())
    }

    fn feed_query(
        &self,
        binding: &str,
        params: &[(String, String)],
    ) -> Result<(Option<Timestamp>, usize), ServiceError> {
        let bad = |name: &str, why: &str| {
            ServiceError::BadQuery(crate::taxii::query::QueryError {
                param: name.to_owned(),
                problem: why.to_owned(),
            })
        };
        let (mut after, mut limit) = (None, self.settings.default_page_size);
        for (k, v) in params {
            match k.as_str() {
                "added_after" => {
                    let t = Timestamp::parse_rfc3339(v)
                        .ok_or_else(|| bad(k, "an RFC 3339 timestamp"))?;
                    after = after.max(Some(t));
                }
                "limit" => {
                    limit = v
                        .parse::<usize>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| bad(k, "a positive integer"))?
                        .min(MAX_FEED_PAGE);
                }
                "next" => {
                    let (pos, _) = self
                        .cursor
                        .open(binding, v)
                        .map_err(|_| ServiceError::BadCursor)?;
                    after = after.max(Some(pos.date_added));
                }
                _ => return Err(bad(k, "the feed takes added_after, limit and next")),
            }
        }
        Ok((after, limit))
    }
}

/// What `container` holds in the newest version of it delivered to the grant's reader, and
/// that version (nothing and 0 when none is): a follow of it also matches these.
fn held_now(
    c: &mut crate::storage::Conn,
    grant: &crate::policy::ReadGrant,
    container: &str,
) -> Result<(Vec<String>, Timestamp), crate::storage::StorageError> {
    use crate::taxii::query::{SpecVersions, VersionSelector};
    let ids = [crate::stix::identifier::StixId::known(container)];
    let sel = crate::storage::objects::Selection {
        ids: &ids,
        types: &[],
        producers: &[],
        refs: &[],
        about: None,
        versions: &VersionSelector::last(),
        spec_versions: &SpecVersions::Latest,
        added_after: None,
        after: None,
        before: None,
        newest_first: false,
        limit: 1,
    };
    let newest = crate::storage::objects::list_typed(c, grant, &sel)?;
    let Some((seq, _, _)) = newest.into_iter().next() else {
        return Ok((vec![], Timestamp::EPOCH));
    };
    crate::storage::objects::held_by(c, seq)
}

/// After versions of a followed container were deleted: what it holds again for each of its
/// followers, from the newest version of it each still receives.
pub(crate) fn holds_again(
    c: &mut crate::storage::Conn,
    community: &str,
    container: &str,
) -> Result<(), crate::storage::StorageError> {
    for (user, _) in follows::on(c, community, &[container])? {
        let (held, version) = match super::reader_grant(c, &user, community)? {
            Some(grant) => held_now(c, &grant, container)?,
            None => (vec![], Timestamp::EPOCH),
        };
        let key = (user.as_str(), community, container);
        follows::set_holds(c, key, follows::Holds::Again(&held, version))?;
    }
    Ok(())
}

/// `principal`'s follows under `api_root`, with the collection each is in.
fn follows_in(
    c: &mut crate::storage::Conn,
    principal: &Principal,
    api_root: &str,
) -> Result<Vec<Follow>, ServiceError> {
    Cairn::check_api_root(principal, api_root)?;
    let rows = follows::of_user(c, &principal.user)?;
    let collections = crate::storage::setup::collection_ids(c)?;
    Ok(rows.iter().map(|r| follow_view(r, &collections)).collect())
}

fn follow_view(r: &FollowRow, collections: &std::collections::HashMap<String, String>) -> Follow {
    Follow {
        id: r.id.clone(),
        collection: collections
            .get(&r.community_id)
            .cloned()
            .unwrap_or_default(),
        object: (!r.target.is_empty()).then(|| r.target.clone()),
        created: Timestamp::from_micros(r.created_at).to_string(),
    }
}

pub(crate) fn notification(r: FeedRow) -> Notification {
    Notification {
        id: format!("notification--{}", r.id),
        date_added: Timestamp::from_micros(r.at).to_string(),
        because: if r.follow_target.is_empty() {
            "collection".into()
        } else {
            r.follow_target
        },
        collection: r.collection_id,
        object: NotifiedObject {
            id: r.stix_id,
            stix_type: r.stix_type,
            version: r.version_text,
            producer: r.producer_id,
        },
    }
}
