//! Extractors: the caller's credentials and the decoded query pairs.

use super::error::ApiError;
use crate::service::auth::{Credentials, Scheme};
use crate::service::ServiceError;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// Credentials (Basic, or an API token), checked by the use case in the transaction that serves
/// the request (`Cairn::read_as_caller`); missing or malformed ones are refused here.
pub struct Basic(pub Credentials);

impl FromRequest for Basic {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(
            credentials(req)
                .map(Basic)
                .ok_or(ApiError::Service(ServiceError::Unauthorized)),
        )
    }
}

/// The Basic credentials and the client address they came from (failed logins are counted per
/// address): the peer, or behind a configured proxy what it forwarded (`Edge::client_ip`).
fn credentials(req: &HttpRequest) -> Option<Credentials> {
    let (user, password, scheme) = sent_credentials(req)?;
    let client = client_ip(req);
    Some(Credentials {
        user,
        password,
        client,
        scheme,
    })
}

/// The client's address: the peer, or behind a configured proxy what it forwarded.
pub(super) fn client_ip(req: &HttpRequest) -> Option<std::net::IpAddr> {
    match req.app_data::<web::Data<super::edge::Edge>>() {
        Some(edge) => edge.client_ip(req),
        None => req.peer_addr().map(|a| a.ip()),
    }
}

/// `Basic` user and password, or an API token as `Bearer` (RFC 6750) or `Token` (what
/// taxii2-client and medallion send).
fn sent_credentials(req: &HttpRequest) -> Option<(String, String, Scheme)> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.trim().split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token") {
        return (!rest.is_empty()).then(|| (String::new(), rest.to_owned(), Scheme::Bearer));
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(rest).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned(), Scheme::Basic))
}

/// Query parameters as decoded (name, value) pairs, in order.
pub fn query_pairs(req: &HttpRequest) -> Vec<(String, String)> {
    form_urlencoded::parse(req.query_string().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}
