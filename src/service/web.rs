//! The web interface's use cases: sessions and what its forms post. Its pages read through the
//! same `Cairn` methods as the API (`page`, `collections`, `follows`), so the delivery decision
//! is the API's; a session is an API token (`token`) kept in a cookie.

use super::auth::{token, Credentials, Scheme};
use super::{Cairn, ServiceError};
use crate::policy::{identity, Principal};
use crate::stix::tlp::Tlp;
use crate::storage::{setup, tokens};
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

/// A comment from the object page's form: a STIX note about one object.
pub struct Comment {
    pub collection: String,
    pub about: String,
    pub text: String,
    pub tlp: Tlp,
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
        let now = self.clock.now_micros();
        let minted = token::mint(
            token::Request {
                user: principal.user.clone(),
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
        let (id, now) = (id.to_owned(), self.clock.now_micros());
        self.storage
            .write(move |c| tokens::revoke(c, &id, now).map(|_| ()))
            .await?;
        Ok(())
    }

    /// Posts `comment` as a note of the caller's partner, through the same ingest as a POST of
    /// objects; the status tells whether it was kept and why not.
    pub async fn comment(
        &self,
        principal: &Principal,
        comment: Comment,
    ) -> Result<Status, ServiceError> {
        let text = comment.text.trim();
        if text.is_empty() || text.chars().count() > MAX_COMMENT_CHARS {
            return Err(ServiceError::Unprocessable(format!(
                "a comment has 1 to {MAX_COMMENT_CHARS} characters"
            )));
        }
        let root = principal.partner.as_str();
        let (community, _) = self
            .membership(principal, root, &comment.collection)
            .await?;
        let grant = self
            .authorize_post(principal, root, &comment.collection)
            .await?;
        let signer = self.identity_of(&principal.partner, &community.id).await?;
        let now = crate::taxii::timestamp::format_micros(self.clock.now_micros());
        let note = serde_json::json!({
            "type": "note",
            "spec_version": "2.1",
            "id": format!("note--{}", uuid::Uuid::new_v4()),
            "created": now,
            "modified": now,
            "created_by_ref": signer,
            "content": text,
            "object_refs": [comment.about],
            "object_marking_refs": [comment.tlp.marking_id()],
        });
        let envelope = serde_json::json!({ "objects": [note] }).to_string();
        self.add_objects(principal, grant, None, envelope).await
    }

    /// The STIX identity `partner` signs with in `community`.
    async fn identity_of(&self, partner: &str, community: &str) -> Result<String, ServiceError> {
        let signers = self.signers(community).await?;
        let own = signers.into_iter().find(|(_, p)| p == partner);
        Ok(own.map_or_else(|| identity::of(partner, None), |(i, _)| i))
    }

    /// Which partner each identity of a community's partners (past members included) is.
    pub async fn signers(&self, community: &str) -> Result<HashMap<String, String>, ServiceError> {
        let community = community.to_owned();
        let rows = self
            .storage
            .read(move |c| setup::partner_identities(c, &community))
            .await?;
        Ok(identity::owners(rows))
    }
}
