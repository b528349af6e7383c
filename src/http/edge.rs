//! What the HTTP edge enforces beside the TAXII rules: which peers' forwarding headers are
//! believed, how long a POST body may take, and how many POSTs one user may have in progress.

use super::error::ApiError;
use crate::config::ServerConfig;
use actix_web::HttpRequest;
use ipnet::IpNet;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The longest URL (path and query) Cairn reads; longer ones get 414. The usual default of
/// proxies in front of a server (nginx's large_client_header_buffers is 8k).
pub const MAX_URL_BYTES: usize = 8192;

pub struct Edge {
    trusted: Vec<IpNet>,
    pub body_timeout: Duration,
    max_posts: usize,
    /// POSTs in progress per user; an entry exists only while its count is positive, so the
    /// map never holds more entries than there are POSTs in progress.
    posts: Arc<Mutex<HashMap<String, usize>>>,
}

/// One POST in progress; dropping it (response sent, client gone) frees its place.
pub struct PostSlot {
    user: String,
    posts: Arc<Mutex<HashMap<String, usize>>>,
}

impl Drop for PostSlot {
    fn drop(&mut self) {
        let mut posts = self.posts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = posts.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                posts.remove(&self.user);
            }
        }
    }
}

impl Edge {
    pub fn new(server: &ServerConfig) -> anyhow::Result<Edge> {
        Ok(Edge {
            trusted: server.trusted_proxies()?,
            body_timeout: server.body_timeout()?,
            max_posts: server.max_posts_per_user,
            posts: Arc::default(),
        })
    }

    /// A place for one more POST of `user`, or 429 when it has `max_posts_per_user` going.
    pub fn start_post(&self, user: &str) -> Result<PostSlot, ApiError> {
        let mut posts = self.posts.lock().unwrap_or_else(|p| p.into_inner());
        let n = posts.entry(user.to_owned()).or_insert(0);
        if *n >= self.max_posts {
            return Err(ApiError::TooManyPosts(self.max_posts));
        }
        *n += 1;
        Ok(PostSlot {
            user: user.to_owned(),
            posts: self.posts.clone(),
        })
    }

    /// Whether the request's `Forwarded`/`X-Forwarded-*` headers may be believed: the peer it
    /// came from is a configured proxy.
    pub fn trusts_forwarding(&self, req: &HttpRequest) -> bool {
        req.peer_addr()
            .is_some_and(|peer| self.trusted.iter().any(|net| net.contains(&peer.ip())))
    }
}
