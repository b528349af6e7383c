//! The web interface's use cases: sessions and what its forms post. Its pages read through the
//! same `Cairn` methods as the API (`page`, `collections`, `follows`), so the delivery decision
//! is the API's; a session is an API token (`token`) kept in a cookie.

use super::auth::{token, Credentials, Scheme};
use super::{Asker, Cairn, ServiceError};
use crate::ids::{CommunityId, PartnerId, UserName};
use crate::policy::{self, identity, Principal, Role, StatusOwner};
use crate::stix::timestamp::Timestamp;
use crate::stix::tlp::Tlp;
use crate::storage::{settings, setup, tokens};
use crate::taxii::resources::Status;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::IpAddr;

/// How long a web session lasts after signing in.
pub const SESSION_MICROS: i64 = 12 * 3600 * 1_000_000;
/// The note of a web session in the token list (`cairn token list` shows and revokes them).
pub const SESSION_NOTE: &str = "web session";
/// The longest comment a form takes, in characters.
pub const MAX_COMMENT_CHARS: usize = 10_000;

/// A session just opened: the token for the cookie, and who it acts as.
pub struct Session {
    pub token: String,
    pub principal: Principal,
}

/// What a member says about one object from its page: a STIX note, opinion or sighting.
pub struct Comment {
    pub collection: String,
    pub about: String,
    pub said: Said,
    pub tlp: Tlp,
}

pub enum Said {
    Note(String),
    /// One of STIX's five opinion values, and an explanation (may be empty).
    Opinion(String, String),
    /// "We saw this", once, now.
    Sighting,
}

/// The opinion values of STIX 2.1 (opinion-enum).
pub const OPINIONS: [&str; 5] = [
    "strongly-disagree",
    "disagree",
    "neutral",
    "agree",
    "strongly-agree",
];

/// The properties of what was said, beyond those every reaction has; or why it cannot be.
fn said_properties(said: &Said, about: &str, now: &str) -> Result<serde_json::Value, String> {
    let bounded = |t: &str| t.chars().count() <= MAX_COMMENT_CHARS;
    Ok(match said {
        Said::Note(text) if text.trim().is_empty() || !bounded(text) => {
            return Err(format!("a comment has 1 to {MAX_COMMENT_CHARS} characters"))
        }
        Said::Note(text) => serde_json::json!({
            "type": "note", "content": text.trim(), "object_refs": [about],
        }),
        Said::Opinion(value, _) if !OPINIONS.contains(&value.as_str()) => {
            return Err(format!("an opinion is one of {}", OPINIONS.join(", ")))
        }
        Said::Opinion(_, why) if !bounded(why) => {
            return Err(format!(
                "an explanation has at most {MAX_COMMENT_CHARS} characters"
            ))
        }
        Said::Opinion(value, why) => {
            let mut o = serde_json::json!({
                "type": "opinion", "opinion": value, "object_refs": [about],
            });
            if !why.trim().is_empty() {
                o["explanation"] = why.trim().into();
            }
            o
        }
        Said::Sighting => serde_json::json!({
            "type": "sighting", "sighting_of_ref": about, "count": 1,
            "first_seen": now, "last_seen": now,
        }),
    })
}

/// A community as its moderators manage it: its members' users, with their roles and caps.
pub struct Moderated {
    pub community: String,
    pub title: String,
    pub members: Vec<MemberLine>,
}

/// One user of a member partner.
pub struct MemberLine {
    pub user: String,
    pub partner: String,
    pub role: Role,
    pub member_cap: Tlp,
    pub user_cap: Tlp,
}

/// One of a user's API tokens as its owner sees it; never its secret.
pub struct TokenView {
    pub id: String,
    pub created: String,
    pub expires: String,
    pub last_used: String,
    pub state: &'static str,
    pub note: String,
}

/// One object refused in a recent push of the moderator's partner.
pub struct Refusal {
    pub when: String,
    pub user: String,
    pub id: String,
    pub version: String,
    pub message: String,
}

/// One user's receipt of a version of an object.
pub struct ReceiptLine {
    pub when: String,
    pub user: String,
    pub kind: String,
    pub version: String,
}

/// How many of the community's newest receipts the receipts page reads: a page must not read
/// a year of them (`cairn receipts` reads them all, for the operator).
pub const RECEIPTS_READ: i64 = 5_000;

/// How many recent statuses the refusals page reads.
const RECENT_PUSHES: i64 = 200;

/// Live tokens (sessions included) a user may have before the web pages make no more.
pub const MAX_LIVE_TOKENS: usize = 100;

/// The longest a token made on the web pages may live, in days (0: no end).
pub const MAX_TOKEN_DAYS: u32 = 3650;

/// The receipts of the versions of `object` delivered to `asker`, newest first.
fn receipt_lines(
    c: &mut crate::storage::Conn,
    asker: &Principal,
    community: &str,
    object: &str,
) -> Result<Vec<ReceiptLine>, crate::storage::StorageError> {
    let stored = crate::storage::objects::versions_of(c, community, Some(&[object.to_owned()]))?;
    let seqs: Vec<i64> = stored.iter().map(|v| v.seq).collect();
    let seen = super::deliveries::delivered_to(c, &asker.user, community, &seqs)?;
    let shown: HashMap<i64, i64> = stored
        .iter()
        .filter(|v| seen.contains_key(&v.seq))
        .map(|v| (v.seq, v.version))
        .collect();
    let Some(first) = stored
        .iter()
        .filter(|v| shown.contains_key(&v.seq))
        .map(|v| v.added_at)
        .min()
    else {
        return Ok(vec![]);
    };
    let format = |at: i64| Timestamp::from_micros(at).to_string();
    let mut out = vec![];
    // Each reader's partner, read once for the page (not once per user listed).
    let partners: HashMap<String, String> = setup::readers_of(c, community)?
        .into_iter()
        .map(|(u, _)| (u.name, u.partner_id))
        .collect();
    for r in crate::storage::receipts::newest_in(c, community, first, RECEIPTS_READ)? {
        // How many a push had refused is status information: for whom its status is.
        let owner = partners.get(&r.user).map(|partner| StatusOwner {
            partner: PartnerId::known(partner),
            user: UserName::known(&r.user),
            community_id: CommunityId::known(community),
        });
        let told = owner.is_some_and(|o| policy::may_read_status(asker, &o, Some(Role::Moderator)));
        let kind = match (told, r.kind) {
            (false, crate::storage::receipts::Kind::Push) => "push".to_owned(),
            _ => super::receipts::kind(&r),
        };
        for version in r.seqs.iter().filter_map(|s| shown.get(s)) {
            out.push(ReceiptLine {
                when: format(r.at),
                user: r.user.clone(),
                kind: kind.clone(),
                version: format(*version),
            });
        }
    }
    Ok(out)
}

fn token_view(r: &tokens::TokenRow, now: i64) -> TokenView {
    let when = |t: Option<i64>| {
        t.map_or_else(|| "-".to_owned(), |t| Timestamp::from_micros(t).to_string())
    };
    TokenView {
        id: r.id.clone(),
        created: when(Some(r.created_at)),
        expires: when(r.expires_at),
        last_used: when(r.last_used_at),
        state: super::tokens::state(r, now),
        note: r.note.clone(),
    }
}

/// The credentials a session cookie stands for.
pub fn session_credentials(token: &str, client: Option<IpAddr>) -> Credentials {
    Credentials {
        user: String::new(),
        password: token.to_owned(),
        client,
        scheme: Scheme::Bearer,
    }
}

/// The value every form of a session carries: derived from the session's secret, so a page of
/// another site, which cannot read the cookie, cannot produce it.
pub fn form_key(session_token: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"cairn-web-form\0");
    h.update(session_token.as_bytes());
    token::hex(&h.finalize()[..16])
}

impl Cairn {
    /// Checks a user's password as the API does (same throttling, same failures) and opens a
    /// session. An API token is not a password: a session from one could outlive it.
    pub async fn sign_in(&self, creds: &Credentials) -> Result<Session, ServiceError> {
        if creds.scheme != Scheme::Basic || token::split(&creds.password).is_some() {
            return Err(ServiceError::Unauthorized);
        }
        let principal = self.authenticate(creds).await?;
        let now = self.clock.now().micros();
        let minted = token::mint(
            token::Request {
                user: principal.user.to_string(),
                expires_at: Some(now + SESSION_MICROS),
                read_only: false,
                note: SESSION_NOTE.into(),
            },
            now,
        );
        let row = minted.row;
        self.storage
            .write(move |c| {
                tokens::purge_expired(c, &row.user_name, SESSION_NOTE, now)?;
                tokens::insert(c, &row)
            })
            .await?;
        Ok(Session {
            token: minted.token,
            principal,
        })
    }

    /// Who a session cookie acts as: a live web session's user. Other API tokens, which may
    /// be read-only or never expire, open no session.
    pub async fn session(
        &self,
        session_token: &str,
        client: Option<IpAddr>,
    ) -> Result<Principal, ServiceError> {
        let principal = self
            .authenticate(&session_credentials(session_token, client))
            .await?;
        let id = principal.token.clone().unwrap_or_default();
        let row = self.storage.read(move |c| tokens::find(c, &id)).await?;
        match row {
            Some(r) if r.note == SESSION_NOTE && !r.read_only => Ok(principal),
            _ => Err(ServiceError::Unauthorized),
        }
    }

    /// Ends a session that `session` admitted.
    pub async fn sign_out(&self, session_token: &str) -> Result<(), ServiceError> {
        let Some((id, _)) = token::split(session_token) else {
            return Ok(());
        };
        let (id, now) = (id.to_owned(), self.clock.now().micros());
        self.storage
            .write(move |c| tokens::revoke(c, &id, now).map(|_| ()))
            .await?;
        Ok(())
    }

    /// Posts `comment` as a note, opinion or sighting of the caller's partner, through the same
    /// ingest as a POST of objects; the status tells whether it was kept and why not.
    pub async fn comment(
        &self,
        principal: &Principal,
        comment: Comment,
    ) -> Result<Status, ServiceError> {
        let now = self.clock.now().to_string();
        let mut object = said_properties(&comment.said, &comment.about, &now)
            .map_err(ServiceError::Unprocessable)?;
        let root = principal.partner.as_str();
        let (_, grant) = self
            .authorize_post(Asker::Page(principal), root, &comment.collection)
            .await?;
        let signer = self
            .identity_of(&principal.partner, grant.community_id())
            .await?;
        let kind = object["type"].as_str().unwrap_or_default().to_owned();
        object["id"] = format!("{kind}--{}", uuid::Uuid::new_v4()).into();
        object["spec_version"] = "2.1".into();
        object["created"] = now.clone().into();
        object["modified"] = now.into();
        object["created_by_ref"] = signer.into();
        object["object_marking_refs"] = serde_json::json!([comment.tlp.marking_id()]);
        let envelope = serde_json::json!({ "objects": [object] }).to_string();
        self.add_objects(principal, grant, None, envelope).await
    }

    /// The community's members, for its moderators; 403 for anyone else who belongs to it.
    pub async fn members(
        &self,
        principal: &Principal,
        collection: &str,
    ) -> Result<Moderated, ServiceError> {
        let (community, title) = self.moderated(principal, collection).await?;
        let id = community.clone();
        let rows = self
            .storage
            .read(move |c| setup::readers_of(c, &id))
            .await?;
        let members = rows
            .iter()
            .map(|(u, m)| {
                Ok(MemberLine {
                    user: u.name.clone(),
                    partner: u.partner_id.clone(),
                    role: settings::member_role(m)?,
                    member_cap: settings::member_max_tlp(m)?,
                    user_cap: settings::user_max_tlp(u)?,
                })
            })
            .collect::<Result<_, crate::storage::StorageError>>()?;
        Ok(Moderated {
            community,
            title,
            members,
        })
    }

    /// The id and title of a community the caller moderates (`policy::grant_moderate`).
    pub async fn moderated(
        &self,
        principal: &Principal,
        collection: &str,
    ) -> Result<(String, String), ServiceError> {
        let (community, m) = self
            .membership(principal, &principal.partner, collection)
            .await?;
        policy::grant_moderate(principal, &m)?;
        Ok((community.id, community.title))
    }

    /// `cairn explain` of `object` for `user`, asked by a moderator: only the versions
    /// delivered to the moderator are explained.
    pub async fn explain_for(
        &self,
        principal: &Principal,
        collection: &str,
        (user, object): (&str, &str),
    ) -> Result<Vec<String>, ServiceError> {
        let (community, _) = self.moderated(principal, collection).await?;
        let asker = principal.user.clone();
        let (user, object, now) = (user.to_owned(), object.to_owned(), self.clock.now());
        let lines = self
            .storage
            .read(move |c| {
                let who = (user.as_str(), Some(asker.as_str()));
                super::deliveries::explain(c, who, &community, &object, now)
            })
            .await?;
        Ok(lines)
    }

    /// What the community refused in the recent pushes of the caller's partner, newest first:
    /// the statuses its moderators may read (docs/sharing.md section 4), within retention.
    pub async fn refusals(
        &self,
        principal: &Principal,
        collection: &str,
    ) -> Result<((String, String), Vec<Refusal>), ServiceError> {
        let moderated = self.moderated(principal, collection).await?;
        let not_before = self.status_horizon();
        let key = (principal.partner.clone(), moderated.0.clone());
        let asked = key.clone();
        let rows = self
            .storage
            .read(move |c| {
                let key = &asked;
                crate::storage::statuses::recent(c, (&key.0, &key.1), not_before, RECENT_PUSHES)
            })
            .await?;
        let readable = rows.into_iter().filter_map(|(user, at, body)| {
            let owner = StatusOwner {
                partner: key.0.clone(),
                user: UserName::known(user?),
                community_id: CommunityId::known(&key.1),
            };
            let may = policy::may_read_status(principal, &owner, Some(Role::Moderator));
            may.then_some((owner.user, at, body))
        });
        let refused = readable.flat_map(|(user, at, body)| {
            let status: Option<Status> = serde_json::from_str(&body).ok();
            let failures = status.map(|s| s.failures).unwrap_or_default();
            failures.into_iter().map(move |f| Refusal {
                when: Timestamp::from_micros(at).to_string(),
                user: user.to_string(),
                id: f.id,
                version: f.version,
                message: f.message.unwrap_or_default(),
            })
        });
        Ok((moderated, refused.collect()))
    }

    /// Who received or posted the versions of `object` that the moderator receives itself,
    /// newest first, among the community's newest `RECEIPTS_READ` receipts.
    pub async fn receipts_of(
        &self,
        principal: &Principal,
        collection: &str,
        object: &str,
    ) -> Result<(String, Vec<ReceiptLine>), ServiceError> {
        let (community, _) = self.moderated(principal, collection).await?;
        let (asker, object, id) = (principal.clone(), object.to_owned(), community.clone());
        let lines = self
            .storage
            .read(move |c| receipt_lines(c, &asker, &id, &object))
            .await?;
        Ok((community, lines))
    }

    /// The caller's own API tokens (web sessions included), oldest first.
    pub async fn my_tokens(&self, principal: &Principal) -> Result<Vec<TokenView>, ServiceError> {
        let (user, now) = (principal.user.clone(), self.clock.now().micros());
        let rows = self
            .storage
            .read(move |c| tokens::list(c, Some(&user)))
            .await?;
        Ok(rows.iter().map(|r| token_view(r, now)).collect())
    }

    /// A new API token of the caller's, for a SIEM or script: shown once. `days` 0: no end.
    pub async fn create_token(
        &self,
        principal: &Principal,
        (note, read_only, days): (String, bool, u32),
    ) -> Result<String, ServiceError> {
        let reserved = note.trim().eq_ignore_ascii_case(SESSION_NOTE);
        if principal.read_only || days > MAX_TOKEN_DAYS || note.chars().count() > 200 || reserved {
            return Err(ServiceError::Unprocessable(format!(
                "a token lives 0 (no end) to {MAX_TOKEN_DAYS} days, its note has at most 200 \
                 characters and is not '{SESSION_NOTE}', and a read-only token makes none"
            )));
        }
        let live = self.my_tokens(principal).await?;
        let live = live
            .iter()
            .filter(|t| matches!(t.state, "active" | "read-only"));
        if live.count() >= MAX_LIVE_TOKENS {
            return Err(ServiceError::Unprocessable(format!(
                "a user has at most {MAX_LIVE_TOKENS} live tokens: revoke some first"
            )));
        }
        let now = self.clock.now().micros();
        let expires_at = (days > 0).then(|| now + i64::from(days) * 86_400_000_000);
        let user = principal.user.clone();
        let made = self
            .storage
            .write(move |c| {
                let req = token::Request {
                    user: user.to_string(),
                    expires_at,
                    read_only,
                    note: note.clone(),
                };
                super::tokens::create(c, req, now)
            })
            .await?;
        made.map(|m| m.token)
            .map_err(|e| ServiceError::Forbidden(e.to_string()))
    }

    /// Revokes one of the caller's tokens; another user's answers like a missing one.
    pub async fn revoke_my_token(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<(), ServiceError> {
        let (user, id, now) = (
            principal.user.clone(),
            id.to_owned(),
            self.clock.now().micros(),
        );
        let done = self
            .storage
            .write(move |c| match tokens::find(c, &id)? {
                Some(r) if r.user_name == user => tokens::revoke(c, &id, now),
                _ => Ok(false),
            })
            .await?;
        done.then_some(()).ok_or(ServiceError::NotFound)
    }

    /// The STIX identity `partner` signs with in `community`.
    async fn identity_of(&self, partner: &str, community: &str) -> Result<String, ServiceError> {
        let signers = self.signers(community).await?;
        let own = signers.into_iter().find(|(_, p)| p == partner);
        Ok(own.map_or_else(|| identity::of(partner, None), |(i, _)| i))
    }

    /// Which partner each identity of a community's partners (past members included) is.
    async fn signers(&self, community: &str) -> Result<HashMap<String, String>, ServiceError> {
        let community = community.to_owned();
        let rows = self
            .storage
            .read(move |c| setup::partner_identities(c, &community))
            .await?;
        Ok(identity::owners(rows))
    }
}
