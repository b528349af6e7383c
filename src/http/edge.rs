//! What the HTTP edge enforces beside the TAXII rules: which peers' forwarding headers are
//! believed, how long a POST body may take, and how many POSTs one user may have in progress.

use super::error::ApiError;
use crate::config::ServerConfig;
use actix_web::HttpRequest;
use ipnet::IpNet;
use std::collections::HashMap;
use std::net::IpAddr;
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
            .is_some_and(|peer| self.is_trusted(peer.ip()))
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(&ip))
    }

    /// The client's address, for counting failed logins: the peer, or behind trusted proxies
    /// the nearest forwarded address that is not one of them (addresses further left are the
    /// client's to write). Without this, every client behind a proxy shared one address.
    pub fn client_ip(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = req.peer_addr()?.ip();
        if !self.is_trusted(peer) {
            return Some(peer);
        }
        let chain = forwarded_for(req);
        Some(
            chain
                .into_iter()
                .rev()
                .find(|ip| !self.is_trusted(*ip))
                .unwrap_or(peer),
        )
    }
}

/// The addresses a request was forwarded for, nearest last: `Forwarded`'s `for=` parameters
/// when present, else `X-Forwarded-For`. Values that are not addresses (obfuscated names,
/// `unknown`) end the chain there, as nothing to their left can be placed.
fn forwarded_for(req: &HttpRequest) -> Vec<IpAddr> {
    let headers = req.headers();
    let forwarded: Vec<&str> = headers
        .get_all("forwarded")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split([',', ';']))
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim().eq_ignore_ascii_case("for").then_some(v.trim())
        })
        .collect();
    let items: Vec<&str> = if forwarded.is_empty() {
        headers
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect()
    } else {
        forwarded
    };
    let parsed: Vec<Option<IpAddr>> = items.iter().map(|i| parse_node(i)).collect();
    let from = parsed
        .iter()
        .rposition(Option::is_none)
        .map_or(0, |i| i + 1);
    parsed[from..].iter().flatten().copied().collect()
}

/// `192.0.2.1`, `"192.0.2.1:443"`, `"[2001:db8::1]:443"` or `2001:db8::1`.
fn parse_node(node: &str) -> Option<IpAddr> {
    let n = node.trim().trim_matches('"');
    if let Ok(ip) = n.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = n.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    n.rsplit_once(':')?.0.parse().ok()
}

#[cfg(test)]
mod forwarding_tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn edge(trusted: &[&str]) -> Edge {
        let server = crate::config::ServerConfig {
            trusted_proxies: trusted.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        Edge::new(&server).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_client_is_the_nearest_untrusted_forwarded_address() {
        let peer = "10.0.0.1:5000".parse().unwrap();
        let req = TestRequest::default()
            .peer_addr(peer)
            .insert_header(("x-forwarded-for", "198.51.100.9, 203.0.113.7, 10.0.0.2"))
            .to_http_request();
        assert_eq!(
            edge(&["10.0.0.0/24"]).client_ip(&req),
            Some(ip("203.0.113.7"))
        );
        // From a peer nobody configured, the headers are ignored.
        assert_eq!(edge(&[]).client_ip(&req), Some(ip("10.0.0.1")));
        let req = TestRequest::default()
            .peer_addr(peer)
            .insert_header((
                "forwarded",
                "for=192.0.2.60;proto=http, for=\"[2001:db8::5]:443\"",
            ))
            .insert_header(("x-forwarded-for", "198.51.100.9"))
            .to_http_request();
        assert_eq!(edge(&["10.0.0.1"]).client_ip(&req), Some(ip("2001:db8::5")));
        // An unplaceable hop stops the walk: the proxy stands for the client.
        let req = TestRequest::default()
            .peer_addr(peer)
            .insert_header(("x-forwarded-for", "unknown"))
            .to_http_request();
        assert_eq!(edge(&["10.0.0.1"]).client_ip(&req), Some(ip("10.0.0.1")));
    }
}
