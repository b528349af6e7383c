//! One function per endpoint: parse, call the service, render.

use super::edge::Edge;
use super::error::ApiError;
use super::extract::{query_pairs, Basic};
use crate::service::query::{Items, Page, Record};
use crate::service::{Asker, Cairn, CollectionView};
use crate::taxii::media;
use crate::taxii::query::Endpoint;
use crate::taxii::resources::{self, ManifestRecord};
use crate::taxii::{STIX_MEDIA_TYPE, TAXII_MEDIA_TYPE};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;

type Result<T = HttpResponse> = std::result::Result<T, ApiError>;

fn taxii(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, TAXII_MEDIA_TYPE))
        .body(body)
}

fn json<T: serde::Serialize>(value: &T) -> HttpResponse {
    taxii(
        StatusCode::OK,
        serde_json::to_string(value).expect("resources serialise"),
    )
}

/// The base of the URLs discovery gives: `public_url` when configured; else, over HTTPS, the
/// scheme and host the request came to; else nothing, so the URLs are relative. TAXII 2.1 §4.1.1:
/// API root URLs MUST be HTTPS absolute URLs or relative URLs, never plain HTTP ones. The
/// `Forwarded`/`X-Forwarded-*` headers count only from `server.trusted_proxies`: from anyone
/// else they would let a stranger choose the URLs a client is sent to.
fn base_url(req: &HttpRequest, edge: &Edge, public_url: Option<&str>) -> String {
    if let Some(u) = public_url {
        return u.trim_end_matches('/').to_owned();
    }
    let (https, host) = if edge.trusts_forwarding(req) {
        let info = req.connection_info();
        (info.scheme() == "https", info.host().to_owned())
    } else {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri().authority().map(|a| a.as_str()))
            .unwrap_or_else(|| req.app_config().host());
        (req.app_config().secure(), host.to_owned())
    };
    if https {
        format!("https://{host}")
    } else {
        String::new()
    }
}

/// `/healthz`: the process answers (for a load balancer's liveness check; no credentials).
pub async fn healthz() -> HttpResponse {
    plain(StatusCode::OK, "ok")
}

/// `/readyz`: the database is reachable and migrated; 503 otherwise, so a load balancer sends
/// requests elsewhere (no credentials, and nothing of the database's contents).
pub async fn readyz(cairn: web::Data<Cairn>) -> HttpResponse {
    match cairn.ready().await {
        Ok(true) => plain(StatusCode::OK, "ready"),
        Ok(false) => plain(StatusCode::SERVICE_UNAVAILABLE, "database not migrated"),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            plain(StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}

/// `GET /metrics` on `server.metrics_bind`: counts in the Prometheus text format.
pub async fn metrics(cairn: web::Data<Cairn>) -> HttpResponse {
    match cairn.metrics_text().await {
        Ok(text) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4; charset=utf-8")
            .body(text),
        Err(e) => {
            tracing::warn!(error = %e, "metrics could not be read");
            plain(StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}

fn plain(status: StatusCode, text: &'static str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/plain; charset=utf-8")
        .body(text)
}

pub async fn discovery(
    req: HttpRequest,
    cairn: web::Data<Cairn>,
    edge: web::Data<Edge>,
    basic: Basic,
) -> Result {
    let caller = cairn.caller(&basic.0).await?;
    let s = cairn.settings();
    let root = format!(
        "{}/{}/",
        base_url(&req, &edge, cairn.settings().public_url.as_deref()),
        caller.partner
    );
    Ok(json(&resources::Discovery {
        title: s.title.clone(),
        description: s.description.clone(),
        contact: s.contact.clone(),
        default: Some(root.clone()),
        api_roots: vec![root],
    }))
}

pub async fn api_root(cairn: web::Data<Cairn>, basic: Basic, path: web::Path<String>) -> Result {
    let root = path.into_inner();
    Cairn::check_api_root(&cairn.caller(&basic.0).await?, &root)?;
    let s = cairn.settings();
    Ok(json(&resources::ApiRoot {
        title: format!("{} for {}", s.title, root),
        description: s.description.clone(),
        versions: vec![TAXII_MEDIA_TYPE.into()],
        max_content_length: s.max_content_length,
    }))
}

pub async fn status(
    cairn: web::Data<Cairn>,
    basic: Basic,
    path: web::Path<(String, String)>,
) -> Result {
    let (root, id) = path.into_inner();
    let body = cairn.status(&basic.0, &root, &id).await?;
    Ok(taxii(StatusCode::OK, body))
}

fn collection_resource(v: CollectionView) -> resources::Collection {
    resources::Collection {
        id: v.community.collection_id,
        title: v.community.title,
        description: v.community.description,
        alias: v.community.id,
        can_read: v.can_read,
        can_write: v.can_write,
        media_types: vec![STIX_MEDIA_TYPE.into()],
    }
}

pub async fn collections(cairn: web::Data<Cairn>, basic: Basic, path: web::Path<String>) -> Result {
    let views = cairn
        .collections(Asker::Sent(&basic.0), &path.into_inner())
        .await?;
    Ok(json(&resources::Collections {
        collections: views.into_iter().map(collection_resource).collect(),
    }))
}

pub async fn collection(
    cairn: web::Data<Cairn>,
    basic: Basic,
    path: web::Path<(String, String)>,
) -> Result {
    let (root, coll) = path.into_inner();
    let view = cairn
        .collection(Asker::Sent(&basic.0), &root, &coll)
        .await?;
    Ok(json(&collection_resource(view)))
}

/// A page response: `{"more":..,"next":..,"<key>":[items]}` or `{}` when empty, with the
/// `X-TAXII-Date-Added-*` headers on non-empty pages. Bodies go out as stored: nothing is
/// re-serialised.
fn page_response(
    page: &Page,
    key: &str,
    mut record: impl FnMut(&Record, &mut String),
) -> HttpResponse {
    let mut resp = HttpResponse::Ok();
    resp.insert_header((header::CONTENT_TYPE, TAXII_MEDIA_TYPE));
    let (Some(first), Some(last)) = (page.first, page.last) else {
        return resp.body("{}");
    };
    resp.insert_header(("X-TAXII-Date-Added-First", first.to_string()));
    resp.insert_header(("X-TAXII-Date-Added-Last", last.to_string()));
    let size = match &page.items {
        Items::Bodies(b) => b.len(),
        Items::Records(rows) => rows.len() * 160,
        Items::Feedback(items) => items.len() * 120,
    };
    let mut out = String::with_capacity(size + 256);
    out.push_str("{\"more\":");
    out.push_str(if page.more { "true" } else { "false" });
    if let Some(next) = &page.next {
        out.push_str(",\"next\":");
        out.push_str(&serde_json::to_string(next).expect("string serialises"));
    }
    out.push_str(",\"");
    out.push_str(key);
    out.push_str("\":[");
    match &page.items {
        Items::Bodies(b) => out.push_str(b),
        Items::Records(rows) => {
            for (i, row) in rows.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                record(row, &mut out);
            }
        }
        Items::Feedback(items) => {
            let text = serde_json::to_string(items).expect("feedback serialises");
            out.push_str(&text[1..text.len() - 1]);
        }
    }
    out.push_str("]}");
    resp.body(out)
}

/// Objects and object pages carry the stored bodies (`Items::Bodies`), never records.
fn envelope(page: &Page) -> HttpResponse {
    page_response(page, "objects", |_, _| {})
}

/// The collection, and object when there is one, that a listing's path names.
struct Listed(String, String, Option<String>);

impl From<(String, String)> for Listed {
    fn from((root, coll): (String, String)) -> Self {
        Listed(root, coll, None)
    }
}

impl From<(String, String, String)> for Listed {
    fn from((root, coll, id): (String, String, String)) -> Self {
        Listed(root, coll, Some(id))
    }
}

/// One page of `endpoint` for what the path names, with the request's query.
async fn page_of(
    req: &HttpRequest,
    cairn: &Cairn,
    basic: &Basic,
    path: impl Into<Listed>,
    endpoint: Endpoint,
) -> std::result::Result<Page, crate::service::ServiceError> {
    let Listed(root, coll, object) = path.into();
    let pairs = query_pairs(req);
    cairn
        .page(&basic.0, &root, &coll, endpoint, object.as_deref(), &pairs)
        .await
}

/// `GET /{root}/collections/{coll}/feedback/` (Cairn's): per object of the caller's partner,
/// how many notes, opinions and sightings of the page reference it, paged like a manifest.
pub async fn feedback(
    req: HttpRequest,
    cairn: web::Data<Cairn>,
    basic: Basic,
    path: web::Path<(String, String)>,
) -> Result {
    let page = page_of(&req, &cairn, &basic, path.into_inner(), Endpoint::Feedback).await?;
    Ok(page_response(&page, "objects", |_, _| {}))
}

pub async fn get_objects(
    req: HttpRequest,
    cairn: web::Data<Cairn>,
    basic: Basic,
    path: web::Path<(String, String)>,
) -> Result {
    let page = page_of(&req, &cairn, &basic, path.into_inner(), Endpoint::Objects).await?;
    Ok(envelope(&page))
}

pub async fn manifest(
    req: HttpRequest,
    cairn: web::Data<Cairn>,
    basic: Basic,
    path: web::Path<(String, String)>,
) -> Result {
    let page = page_of(&req, &cairn, &basic, path.into_inner(), Endpoint::Manifest).await?;
    Ok(page_response(&page, "objects", |row, out| {
        let record = ManifestRecord {
            id: row.id.clone(),
            date_added: row.date_added.to_string(),
            version: row.version.clone(),
            media_type: STIX_MEDIA_TYPE.into(),
        };
        out.push_str(&serde_json::to_string(&record).expect("record serialises"));
    }))
}

pub async fn get_object(
    req: HttpRequest,
    cairn: web::Data<Cairn>,
    basic: Basic,
    path: web::Path<(String, String, String)>,
) -> Result {
    let page = page_of(&req, &cairn, &basic, path.into_inner(), Endpoint::Object).await?;
    Ok(envelope(&page))
}

pub async fn versions(
    req: HttpRequest,
    cairn: web::Data<Cairn>,
    basic: Basic,
    path: web::Path<(String, String, String)>,
) -> Result {
    let page = page_of(&req, &cairn, &basic, path.into_inner(), Endpoint::Versions).await?;
    Ok(page_response(&page, "versions", |row, out| {
        out.push_str(&serde_json::to_string(&row.version).expect("string serialises"));
    }))
}

pub async fn delete_object(
    req: HttpRequest,
    cairn: web::Data<Cairn>,
    basic: Basic,
    path: web::Path<(String, String, String)>,
) -> Result {
    let (root, coll, id) = path.into_inner();
    let n = cairn
        .delete_object(&basic.0, &root, &coll, &id, &query_pairs(&req))
        .await?;
    tracing::info!(partner = %root, object = %id, versions = n, "object deleted");
    Ok(taxii(StatusCode::OK, String::new()))
}

/// POST objects (section 5.4): Content-Type and size are checked before the body is read, and
/// the body must arrive within `server.body_timeout`, one of `server.max_posts_per_user` places.
pub async fn add_objects(
    req: HttpRequest,
    cairn: web::Data<Cairn>,
    edge: web::Data<Edge>,
    basic: Basic,
    path: web::Path<(String, String)>,
    mut payload: web::Payload,
) -> Result {
    let (root, coll) = path.into_inner();
    // Who may write is checked first, so that a stranger learns nothing from 415 or 413.
    let (caller, grant) = cairn
        .authorize_post(Asker::Sent(&basic.0), &root, &coll)
        .await?;
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if !media::is_taxii_content_type(content_type) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let max = cairn.settings().max_content_length;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(ApiError::PayloadTooLarge(max, ENVELOPE_ADVICE));
    }
    // Held until the POST is answered, ingest included.
    let _slot = edge.start_post(&caller.user)?;
    let limit = (max, ENVELOPE_ADVICE);
    let body = read_body(&edge, &mut payload, declared, limit).await?;
    let text = String::from_utf8(body).map_err(|_| {
        ApiError::Service(crate::service::ServiceError::NotJson(
            "the body is not UTF-8".into(),
        ))
    })?;
    let recipients = match req.headers().get("Cairn-Recipients") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .map_err(|_| ApiError::BadRequest("Cairn-Recipients must be ASCII: partner ids and partner/user names, comma-separated".into()))?
                .to_owned(),
        ),
    };
    let status = cairn.add_objects(&caller, grant, recipients, text).await?;
    Ok(taxii(
        StatusCode::ACCEPTED,
        serde_json::to_string(&status).expect("status serialises"),
    ))
}

/// Reads the whole body, refusing it (413) as soon as it passes `max` bytes.
/// What a POST of objects larger than `max_content_length` is told.
const ENVELOPE_ADVICE: &str =
    "That is the server's max_content_length: split the objects into smaller envelopes.";

/// Reads a body of at most `limit.0` bytes (`limit.1` says what to do instead) within the
/// server's body timeout.
async fn read_body(
    edge: &Edge,
    payload: &mut web::Payload,
    declared: Option<usize>,
    (max, advice): (usize, &'static str),
) -> Result<Vec<u8>> {
    let read = async {
        let mut body = Vec::with_capacity(declared.unwrap_or(0).min(max));
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| {
                ApiError::BadRequest(format!("the request body could not be read: {e}"))
            })?;
            if body.len() + chunk.len() > max {
                return Err(ApiError::PayloadTooLarge(max, advice));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    tokio::time::timeout(edge.body_timeout, read)
        .await
        .map_err(|_| ApiError::BodyTimeout(edge.body_timeout))?
}

/// `GET /{root}/follows/` (Cairn's): the caller's follows.
pub async fn list_follows(
    cairn: web::Data<Cairn>,
    basic: Basic,
    path: web::Path<String>,
) -> Result {
    let follows = cairn
        .follows(Asker::Sent(&basic.0), &path.into_inner())
        .await?;
    Ok(json(&serde_json::json!({ "follows": follows })))
}

/// A follow is a collection id and an object id: a few hundred bytes.
const MAX_FOLLOW_BODY: usize = 16 * 1024;
const FOLLOW_ADVICE: &str = "A follow is {\"collection\": ID, \"object\": STIX-ID}.";

/// `POST /{root}/follows/` (Cairn's): `{"collection": ID, "object": STIX-ID}`, object optional.
/// The caller is authenticated before its body is looked at, so a stranger learns nothing from
/// 415, 413 or 422.
pub async fn add_follow(
    req: HttpRequest,
    cairn: web::Data<Cairn>,
    edge: web::Data<Edge>,
    basic: Basic,
    path: web::Path<String>,
    mut payload: web::Payload,
) -> Result {
    let root = path.into_inner();
    let caller = cairn.caller(&basic.0).await?;
    Cairn::check_api_root(&caller, &root)?;
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if essence != "application/json" && !media::is_taxii_content_type(Some(content_type)) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let body = read_body(&edge, &mut payload, None, (MAX_FOLLOW_BODY, FOLLOW_ADVICE)).await?;
    let text = std::str::from_utf8(&body).map_err(|_| {
        ApiError::Service(crate::service::ServiceError::NotJson(
            "the body is not UTF-8".into(),
        ))
    })?;
    let follow = cairn.follow(&caller, &root, text).await?;
    Ok(taxii(
        StatusCode::CREATED,
        serde_json::to_string(&follow).expect("follows serialise"),
    ))
}

/// `DELETE /{root}/follows/{id}/` (Cairn's).
pub async fn delete_follow(
    cairn: web::Data<Cairn>,
    basic: Basic,
    path: web::Path<(String, String)>,
) -> Result {
    let (root, id) = path.into_inner();
    let caller = cairn.caller(&basic.0).await?;
    cairn.unfollow(&caller, &root, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /{root}/notifications/` (Cairn's): the caller's activity feed, paged like a TAXII
/// listing (`added_after`, `limit`, `next`, `X-TAXII-Date-Added-*`).
pub async fn notifications(
    req: HttpRequest,
    cairn: web::Data<Cairn>,
    basic: Basic,
    path: web::Path<String>,
) -> Result {
    let feed = cairn
        .feed(&basic.0, &path.into_inner(), &query_pairs(&req))
        .await?;
    let mut resp = HttpResponse::Ok();
    resp.insert_header((header::CONTENT_TYPE, TAXII_MEDIA_TYPE));
    if let Some((first, last)) = feed.dates {
        resp.insert_header(("X-TAXII-Date-Added-First", first.to_string()));
        resp.insert_header(("X-TAXII-Date-Added-Last", last.to_string()));
    }
    Ok(resp.body(serde_json::to_string(&feed).expect("feeds serialise")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stix::timestamp::Timestamp;

    fn page(items: Items, dates: Option<(i64, i64)>, next: Option<&str>) -> Page {
        Page {
            items,
            first: dates.map(|d| Timestamp::from_micros(d.0)),
            last: dates.map(|d| Timestamp::from_micros(d.1)),
            more: next.is_some(),
            next: next.map(str::to_owned),
            producers: vec![],
        }
    }

    async fn body(resp: HttpResponse) -> String {
        let bytes = actix_web::body::to_bytes(resp.into_body()).await.unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    fn header<'r>(resp: &'r HttpResponse, name: &str) -> Option<&'r str> {
        resp.headers().get(name).map(|v| v.to_str().unwrap())
    }

    #[actix_web::test]
    async fn a_versions_page_has_its_dates_in_headers_and_its_next_token() {
        let record = |v: &str, d| Record {
            id: "indicator--6f3e8f40-2d8e-4b5c-9a4f-000000000001".into(),
            version: v.into(),
            date_added: Timestamp::from_micros(d),
        };
        let records = vec![
            record("2026-01-01T00:00:00.000Z", 1_000_000),
            record("2026-02-01T00:00:00.000Z", 2_000_000),
        ];
        let p = page(
            Items::Records(records),
            Some((1_000_000, 2_000_000)),
            Some("t"),
        );
        let resp = page_response(&p, "versions", |row, out| {
            out.push_str(&serde_json::to_string(&row.version).unwrap());
        });
        assert_eq!(
            header(&resp, "X-TAXII-Date-Added-First"),
            Some("1970-01-01T00:00:01.000000Z")
        );
        assert_eq!(
            header(&resp, "X-TAXII-Date-Added-Last"),
            Some("1970-01-01T00:00:02.000000Z")
        );
        assert_eq!(
            body(resp).await,
            r#"{"more":true,"next":"t","versions":["2026-01-01T00:00:00.000Z","2026-02-01T00:00:00.000Z"]}"#
        );
    }

    #[actix_web::test]
    async fn an_empty_page_is_an_empty_object_without_date_headers() {
        let p = page(Items::Records(vec![]), None, None);
        let resp = page_response(&p, "objects", |_, _| unreachable!("no rows"));
        assert_eq!(header(&resp, "X-TAXII-Date-Added-First"), None);
        assert_eq!(header(&resp, "Content-Type"), Some(TAXII_MEDIA_TYPE));
        assert_eq!(body(resp).await, "{}");
    }
}
