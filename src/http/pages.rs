//! The web interface under `/web/`: server-rendered pages for analysts and moderators. Every
//! page reads through the same use cases as the API (`Cairn::page`, `collections`, `follows`),
//! so what a page shows is what the delivery decision gives its user. A session is a cookie
//! (HttpOnly, SameSite=Strict, Secure under TLS); every form carries the session's form key.

use super::extract::{client_ip, query_pairs};
use crate::policy::Principal;
use crate::service::query::{Items, Page};
use crate::service::web::{self as uc, Comment, Said};
use crate::service::{Asker, Cairn, ServiceError};
use crate::stix::tlp::{self, Tlp};
use crate::taxii::query::Endpoint;
use actix_web::cookie::{time::Duration, Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde_json::Value;

const SESSION_COOKIE: &str = "cairn_session";
const SIGN_IN_COOKIE: &str = "cairn_sign_in";
const FEED_PAGE: &str = "50";
const THREAD_PAGE: &str = "200";
/// Pages and the resources they may load: nothing from elsewhere, no script at all.
const POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
                      frame-ancestors 'none'; base-uri 'none'";

/// The `/web/` routes; they must precede the API's `/{root}/...` patterns.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/web/", web::get().to(home))
        .route("/web/sign-in/", web::get().to(sign_in_form))
        .route("/web/sign-in/", web::post().to(sign_in))
        .route("/web/sign-out/", web::post().to(sign_out))
        .route("/web/c/{coll}/", web::get().to(feed))
        .route("/web/c/{coll}/o/{id}/", web::get().to(object))
        .route("/web/c/{coll}/o/{id}/follow/", web::post().to(follow))
        .route("/web/c/{coll}/o/{id}/{said}/", web::post().to(comment))
        .route("/web/c/{coll}/members/", web::get().to(members))
        .route("/web/c/{coll}/refusals/", web::get().to(refusals))
        .route("/web/c/{coll}/o/{id}/receipts/", web::get().to(receipts))
        .route("/web/me/", web::get().to(me))
        .route(
            "/web/me/follows/{id}/remove/",
            web::post().to(remove_follow),
        )
        .route("/web/tokens/", web::get().to(tokens))
        .route("/web/tokens/", web::post().to(create_token))
        .route("/web/tokens/{id}/revoke/", web::post().to(revoke_token))
        .route("/web/c/{coll}/o/{id}/explain/", web::get().to(explain));
}

/// True for the paths of the web interface, which answer HTML rather than TAXII.
pub fn is_web(path: &str) -> bool {
    path == "/web" || path.starts_with("/web/")
}

/// What every page's frame shows: who is signed in, and the form key of sign-out.
struct Frame {
    signed_in_as: String,
    form_key: String,
}

/// A signed-in request: the session and who it acts as.
struct Signed {
    token: String,
    principal: Principal,
    client: Option<std::net::IpAddr>,
}

impl Signed {
    fn frame(&self) -> Frame {
        Frame {
            signed_in_as: format!("{} ({})", self.principal.user, self.principal.partner),
            form_key: uc::form_key(&self.token),
        }
    }

    fn root(&self) -> &str {
        &self.principal.partner
    }

    /// Whether a form came from one of this session's pages.
    fn sent(&self, form_key: &str) -> bool {
        same(form_key, &uc::form_key(&self.token))
    }
}

#[derive(Template)]
#[template(path = "web/sign_in.html")]
struct SignInPage {
    signed_in_as: String,
    form_key: String,
    problem: String,
}

#[derive(Template)]
#[template(path = "web/message.html")]
struct MessagePage {
    signed_in_as: String,
    form_key: String,
    heading: String,
    text: String,
}

#[derive(Template)]
#[template(path = "web/home.html")]
struct HomePage {
    signed_in_as: String,
    form_key: String,
    partner: String,
    communities: Vec<CommunityLine>,
}

struct CommunityLine {
    id: String,
    title: String,
    collection: String,
    role: &'static str,
    can_read: bool,
}

#[derive(Template)]
#[template(path = "web/feed.html")]
struct FeedPage {
    signed_in_as: String,
    form_key: String,
    community: String,
    title: String,
    moderator: bool,
    type_filter: String,
    producer: String,
    items: Vec<Item>,
    next: String,
}

#[derive(Template)]
#[template(path = "web/object.html")]
struct ObjectPage {
    signed_in_as: String,
    form_key: String,
    community: String,
    community_title: String,
    moderator: bool,
    o: Item,
    versions: Vec<String>,
    refs: Vec<String>,
    thread: Vec<Entry>,
    following: bool,
    levels: Vec<(&'static str, &'static str)>,
    opinions: [&'static str; 5],
    /// The object's own TLP level: a sighting of it is marked the same (none for RED).
    own_level: &'static str,
    /// Every top-level property of the latest version, as compact JSON values.
    fields: Vec<(String, String)>,
    notice: String,
    problem: String,
}

#[derive(Template)]
#[template(path = "web/members.html")]
struct MembersPage {
    signed_in_as: String,
    form_key: String,
    community: String,
    title: String,
    members: Vec<MemberRow>,
}

struct MemberRow {
    user: String,
    partner: String,
    role: &'static str,
    cap: &'static str,
    cap_class: &'static str,
}

#[derive(Template)]
#[template(path = "web/explain.html")]
struct ExplainPage {
    signed_in_as: String,
    form_key: String,
    community: String,
    object: String,
    users: Vec<String>,
    user: String,
    lines: Vec<String>,
}

/// One object as a line of a page.
struct Item {
    id: String,
    stix_type: String,
    name: String,
    tlp: &'static str,
    tlp_class: &'static str,
    /// Who produced it, as shown; `producer_id` is empty for a built-in.
    producer: String,
    producer_id: String,
    when: String,
    text: String,
}

/// One entry of a thread; a reply is about another entry.
struct Entry {
    item: Item,
    reply: bool,
}

fn html(status: StatusCode, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header(("Content-Security-Policy", POLICY))
            .insert_header(("X-Content-Type-Options", "nosniff"))
            .insert_header(("Referrer-Policy", "same-origin"))
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "a web page did not render");
            HttpResponse::InternalServerError().body("internal error")
        }
    }
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

fn message(frame: Frame, status: StatusCode, heading: &str, text: String) -> HttpResponse {
    html(
        status,
        &MessagePage {
            signed_in_as: frame.signed_in_as,
            form_key: frame.form_key,
            heading: heading.into(),
            text,
        },
    )
}

fn no_frame() -> Frame {
    Frame {
        signed_in_as: String::new(),
        form_key: String::new(),
    }
}

/// The page of a use case's error. Hidden and missing answer the same page.
fn failure(frame: Frame, e: ServiceError) -> HttpResponse {
    use ServiceError as E;
    let (status, heading, text) = match e {
        E::Unauthorized => return see_other("/web/sign-in/"),
        E::NotFound => (
            StatusCode::NOT_FOUND,
            "Not found",
            "There is no such page here.".to_owned(),
        ),
        E::Forbidden(why) => (StatusCode::FORBIDDEN, "Not allowed", why),
        E::BadQuery(q) => (StatusCode::BAD_REQUEST, "Bad request", q.to_string()),
        E::BadCursor => (
            StatusCode::BAD_REQUEST,
            "Bad request",
            "This page link is no longer valid; start from the first page.".into(),
        ),
        E::Unprocessable(why) | E::NotJson(why) | E::TooManyObjects(why) => {
            (StatusCode::UNPROCESSABLE_ENTITY, "Not accepted", why)
        }
        E::Throttled {
            retry_after,
            reason,
        } => {
            let mut r = message(
                frame,
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts",
                format!("{reason}; try again in {retry_after} s."),
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, retry_after.into());
            return r;
        }
        E::Storage(_) | E::Internal(_) => {
            tracing::error!(error = %e, "a web page failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "The server could not answer; try again.".into(),
            )
        }
    };
    message(frame, status, heading, text)
}

/// The answer to a request without a live session: to sign in, or an error page. Taken once,
/// when actix renders it.
#[derive(Debug)]
struct NoSession(std::cell::RefCell<Option<HttpResponse>>);

impl std::fmt::Display for NoSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no session")
    }
}

impl actix_web::ResponseError for NoSession {
    fn error_response(&self) -> HttpResponse {
        let taken = self.0.borrow_mut().take();
        taken.unwrap_or_else(|| see_other("/web/sign-in/"))
    }
}

/// A handler that takes `Signed` runs only for a live session.
impl actix_web::FromRequest for Signed {
    type Error = actix_web::Error;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let Some(cairn) = req.app_data::<web::Data<Cairn>>() else {
                let e = ServiceError::Internal("no app state".into());
                return Err(NoSession(Some(failure(no_frame(), e)).into()).into());
            };
            signed(&req, cairn)
                .await
                .map_err(|r| NoSession(Some(r).into()).into())
        })
    }
}

/// The signed-in user of a request, or the response to send instead (to sign in).
async fn signed(req: &HttpRequest, cairn: &Cairn) -> Result<Signed, HttpResponse> {
    let Some(token) = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned()) else {
        return Err(see_other("/web/sign-in/"));
    };
    let client = client_ip(req);
    match cairn.session(&token, client).await {
        Ok(principal) => Ok(Signed {
            token,
            principal,
            client,
        }),
        // A session that ended: its cookie goes too.
        Err(ServiceError::Unauthorized) => {
            let mut resp = see_other("/web/sign-in/");
            let gone = cookie(req, SESSION_COOKIE, String::new(), "/web/");
            resp.add_removal_cookie(&gone).ok();
            Err(resp)
        }
        Err(e) => Err(failure(no_frame(), e)),
    }
}

/// Whether the browser reached the server over TLS: on this listener, or as a trusted proxy
/// says (a forwarded scheme from anyone else is not believed).
fn over_tls(req: &HttpRequest) -> bool {
    let edge = req.app_data::<web::Data<super::edge::Edge>>();
    let trusted = edge.is_some_and(|e| e.trusts_forwarding(req));
    req.app_config().secure() || (trusted && req.connection_info().scheme() == "https")
}

fn cookie(req: &HttpRequest, name: &str, value: String, path: &str) -> Cookie<'static> {
    let mut c = Cookie::build(name.to_owned(), value)
        .path(path.to_owned())
        .http_only(true)
        .same_site(SameSite::Strict)
        .finish();
    c.set_secure(over_tls(req));
    c
}

/// Compares without stopping at the first difference.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

#[derive(serde::Deserialize)]
struct SignInForm {
    form_key: String,
    user: String,
    password: String,
}

#[derive(serde::Deserialize)]
struct KeyForm {
    form_key: String,
}

/// A note's, opinion's or sighting's form; each sends the fields it has.
#[derive(serde::Deserialize)]
struct CommentForm {
    form_key: String,
    tlp: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    opinion: String,
}

#[derive(serde::Deserialize)]
struct FollowForm {
    form_key: String,
    action: String,
}

fn sign_in_page(key: String, problem: &str, status: StatusCode) -> HttpResponse {
    html(
        status,
        &SignInPage {
            signed_in_as: String::new(),
            form_key: key,
            problem: problem.into(),
        },
    )
}

/// The sign-in form. Its key is also a cookie, so a page of another site cannot sign a
/// browser in as someone else.
async fn sign_in_form(req: HttpRequest) -> HttpResponse {
    let key = uuid::Uuid::new_v4().simple().to_string();
    let mut resp = sign_in_page(key.clone(), "", StatusCode::OK);
    let c = cookie(&req, SIGN_IN_COOKIE, key, "/web/sign-in/");
    resp.add_cookie(&c).ok();
    resp
}

async fn sign_in(
    req: HttpRequest,
    cairn: web::Data<Cairn>,
    form: web::Form<SignInForm>,
) -> HttpResponse {
    let sent = req.cookie(SIGN_IN_COOKIE).map(|c| c.value().to_owned());
    if !sent.is_some_and(|k| k.len() == 32 && same(&k, &form.form_key)) {
        let text = "The sign-in form has expired; open it again.".into();
        return message(no_frame(), StatusCode::FORBIDDEN, "Not allowed", text);
    }
    let creds = crate::service::auth::Credentials {
        user: form.user.clone(),
        password: form.password.clone(),
        client: client_ip(&req),
        scheme: crate::service::auth::Scheme::Basic,
    };
    match cairn.sign_in(&creds).await {
        Ok(session) => {
            let mut resp = see_other("/web/");
            let mut c = cookie(&req, SESSION_COOKIE, session.token, "/web/");
            c.set_max_age(Duration::microseconds(uc::SESSION_MICROS));
            resp.add_cookie(&c).ok();
            let used = cookie(&req, SIGN_IN_COOKIE, String::new(), "/web/sign-in/");
            resp.add_removal_cookie(&used).ok();
            resp
        }
        // The same answer for an unknown name and a wrong password, as the API gives.
        Err(ServiceError::Unauthorized) => sign_in_page(
            form.form_key.clone(),
            "Unknown user name or wrong password.",
            StatusCode::UNAUTHORIZED,
        ),
        Err(e) => failure(no_frame(), e),
    }
}

async fn sign_out(
    req: HttpRequest,
    cairn: web::Data<Cairn>,
    s: Signed,
    form: web::Form<KeyForm>,
) -> HttpResponse {
    if !s.sent(&form.form_key) {
        return forged(s.frame());
    }
    if let Err(e) = cairn.sign_out(&s.token).await {
        return failure(s.frame(), e);
    }
    let mut resp = see_other("/web/sign-in/");
    resp.add_removal_cookie(&cookie(&req, SESSION_COOKIE, String::new(), "/web/"))
        .ok();
    resp
}

fn forged(frame: Frame) -> HttpResponse {
    let text = "This form did not come from one of your pages; open the page again.".into();
    message(frame, StatusCode::FORBIDDEN, "Not allowed", text)
}

/// The communities of the user's partner.
async fn home(cairn: web::Data<Cairn>, s: Signed) -> HttpResponse {
    let views = match cairn.collections(Asker::Page(&s.principal), s.root()).await {
        Ok(v) => v,
        Err(e) => return failure(s.frame(), e),
    };
    let communities = views
        .into_iter()
        .map(|v| CommunityLine {
            id: v.community.id,
            title: v.community.title,
            collection: v.community.collection_id,
            role: match (v.can_read, v.can_write) {
                (true, true) => "reads and contributes",
                (true, false) => "reads",
                (false, true) => "contributes",
                (false, false) => "none",
            },
            can_read: v.can_read,
        })
        .collect();
    let f = s.frame();
    html(
        StatusCode::OK,
        &HomePage {
            signed_in_as: f.signed_in_as,
            form_key: f.form_key,
            partner: s.principal.partner.to_string(),
            communities,
        },
    )
}

/// One listed version: its stored body, and the partner Cairn recorded as its producer when
/// it was posted (empty for a built-in); never what the body claims in `created_by_ref`.
type Listed = (Value, String);

/// The objects of a page, parsed from the stored bodies it carries, with their producers.
fn bodies(page: &Page) -> Vec<Listed> {
    let Items::Bodies(joined) = &page.items else {
        return vec![];
    };
    let parsed = serde_json::from_str::<Vec<Value>>(&format!("[{joined}]")).unwrap_or_default();
    let producers = page
        .producers
        .iter()
        .cloned()
        .chain(std::iter::repeat(String::new()));
    parsed.into_iter().zip(producers).collect()
}

/// One page of `endpoint` of the collection, as the API would answer the session's user.
async fn listing(
    cairn: &Cairn,
    s: &Signed,
    coll: &str,
    endpoint: Endpoint,
    object: Option<&str>,
    pairs: &[(String, String)],
) -> Result<crate::service::query::Page, ServiceError> {
    let creds = uc::session_credentials(&s.token, s.client);
    cairn
        .page(&creds, s.root(), coll, endpoint, object, pairs)
        .await
}

fn pair(k: &str, v: &str) -> (String, String) {
    (k.to_owned(), v.to_owned())
}

/// A community's objects, filtered by type, paged like the objects endpoint.
async fn feed(
    req: HttpRequest,
    cairn: web::Data<Cairn>,
    s: Signed,
    path: web::Path<String>,
) -> HttpResponse {
    let coll = path.into_inner();
    match feed_page(&req, &cairn, &s, &coll).await {
        Ok(page) => html(StatusCode::OK, &page),
        Err(e) => failure(s.frame(), e),
    }
}

async fn feed_page(
    req: &HttpRequest,
    cairn: &Cairn,
    s: &Signed,
    coll: &str,
) -> Result<FeedPage, ServiceError> {
    let (community, member) = cairn.membership(&s.principal, s.root(), coll).await?;
    let query = FeedQuery::from_pairs(&query_pairs(req));
    let pairs = query.api_pairs();
    let page = listing(cairn, s, coll, Endpoint::Recent, None, &pairs).await?;
    let (title, community) = (community.title, community.id);
    let next = match &page.next {
        Some(n) => query.next_link(&community, n),
        None => String::new(),
    };
    let f = s.frame();
    Ok(FeedPage {
        signed_in_as: f.signed_in_as,
        form_key: f.form_key,
        title,
        moderator: crate::policy::grant_moderate(&s.principal, &member).is_ok(),
        items: bodies(&page).iter().map(item).collect(),
        community,
        type_filter: query.type_filter,
        producer: query.producer,
        next,
    })
}

/// What a feed page asks for: its type and producer filters, page size and page token.
struct FeedQuery {
    type_filter: String,
    producer: String,
    limit: Option<String>,
    next: Option<String>,
}

impl FeedQuery {
    /// The feed's parameters among the query's pairs (the first of each name).
    fn from_pairs(asked: &[(String, String)]) -> Self {
        let first = |name: &str| asked.iter().find(|(k, _)| k == name).map(|(_, v)| v);
        let trimmed = |name: &str| first(name).map(|v| v.trim().to_owned());
        FeedQuery {
            type_filter: trimmed("type").unwrap_or_default(),
            producer: trimmed("producer").unwrap_or_default(),
            limit: first("limit").cloned(),
            next: first("next").cloned(),
        }
    }

    /// The query pairs of the API request for this page.
    fn api_pairs(&self) -> Vec<(String, String)> {
        let mut pairs = vec![pair("limit", self.limit.as_deref().unwrap_or(FEED_PAGE))];
        if !self.type_filter.is_empty() {
            pairs.push(pair("match[type]", &self.type_filter));
        }
        if !self.producer.is_empty() {
            pairs.push(pair("match[producer]", &self.producer));
        }
        if let Some(n) = &self.next {
            pairs.push(pair("next", n));
        }
        pairs
    }

    /// The link to the next page of `community`'s feed, whose API token is `token`.
    fn next_link(&self, community: &str, token: &str) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        if !self.type_filter.is_empty() {
            q.append_pair("type", &self.type_filter);
        }
        if !self.producer.is_empty() {
            q.append_pair("producer", &self.producer);
        }
        if let Some(l) = &self.limit {
            q.append_pair("limit", l);
        }
        q.append_pair("next", token);
        format!("/web/c/{community}/?{}", q.finish())
    }
}

/// An object: its latest version, its versions, what it references and its thread.
async fn object(
    req: HttpRequest,
    cairn: web::Data<Cairn>,
    s: Signed,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (coll, id) = path.into_inner();
    let notice = match query_pairs(&req).iter().find(|(k, _)| k == "done") {
        Some((_, v)) if v == "comment" => "Your comment was posted.",
        Some((_, v)) if v == "opinion" => "Your opinion was posted.",
        Some((_, v)) if v == "sighting" => "Your sighting was reported.",
        Some((_, v)) if v == "follow" => "You follow this object.",
        Some((_, v)) if v == "unfollow" => "You no longer follow this object.",
        _ => "",
    };
    match object_page(&cairn, &s, &coll, &id).await {
        Ok(mut page) => {
            page.notice = notice.into();
            html(StatusCode::OK, &page)
        }
        Err(e) => failure(s.frame(), e),
    }
}

/// Every version of `id` delivered to the session's user, oldest first; none: not found.
async fn versions_of(
    cairn: &Cairn,
    s: &Signed,
    coll: &str,
    id: &str,
) -> Result<Vec<Listed>, ServiceError> {
    let pairs = [pair("match[version]", "all"), pair("limit", THREAD_PAGE)];
    let page = listing(cairn, s, coll, Endpoint::Object, Some(id), &pairs).await?;
    let found = bodies(&page);
    match found.is_empty() {
        true => Err(ServiceError::NotFound),
        false => Ok(found),
    }
}

async fn object_page(
    cairn: &Cairn,
    s: &Signed,
    coll: &str,
    id: &str,
) -> Result<ObjectPage, ServiceError> {
    let (community, member) = cairn.membership(&s.principal, s.root(), coll).await?;
    let mut versions = versions_of(cairn, s, coll, id).await?;
    versions.sort_by(|a, b| version_of(&a.0).cmp(version_of(&b.0)));
    let latest = versions.last().cloned().unwrap_or_default();
    let thread = thread_of(cairn, s, coll, id).await?;
    let following = cairn
        .follows(Asker::Page(&s.principal), s.root())
        .await?
        .iter()
        .any(|f| f.object.as_deref() == Some(id) && f.collection == community.collection_id);
    let f = s.frame();
    Ok(ObjectPage {
        signed_in_as: f.signed_in_as,
        form_key: f.form_key,
        community: community.id,
        community_title: community.title,
        moderator: crate::policy::grant_moderate(&s.principal, &member).is_ok(),
        o: item(&latest),
        versions: versions
            .iter()
            .map(|v| version_of(&v.0).to_owned())
            .collect(),
        refs: references(&latest.0),
        thread,
        following,
        // RED needs recipients, which these forms do not name: the API does.
        levels: Tlp::ALL
            .iter()
            .filter(|l| **l != Tlp::Red)
            .map(|l| (l.as_str(), l.label()))
            .collect(),
        fields: fields_of(&latest.0),
        opinions: uc::OPINIONS,
        own_level: match level_of(&latest.0).unwrap_or(Tlp::Amber) {
            Tlp::Red => "",
            l => l.as_str(),
        },
        notice: String::new(),
        problem: String::new(),
    })
}

/// What references `id` (notes, opinions, sightings, relationships), each followed by the
/// replies to it: what references the entries in turn, one level deep.
async fn thread_of(
    cairn: &Cairn,
    s: &Signed,
    coll: &str,
    id: &str,
) -> Result<Vec<Entry>, ServiceError> {
    let about = |ids: String| vec![pair("match[ref]", &ids), pair("limit", THREAD_PAGE)];
    let page = listing(cairn, s, coll, Endpoint::Objects, None, &about(id.into())).await?;
    let first = bodies(&page);
    let ids: Vec<&str> = first.iter().filter_map(|o| o.0["id"].as_str()).collect();
    let replies = match ids.is_empty() {
        true => vec![],
        false => {
            let pairs = about(ids.join(","));
            let page = listing(cairn, s, coll, Endpoint::Objects, None, &pairs).await?;
            bodies(&page)
        }
    };
    let mut out = vec![];
    for o in &first {
        out.push(Entry {
            item: item(o),
            reply: false,
        });
        let this = o.0["id"].as_str().unwrap_or_default();
        for r in replies
            .iter()
            .filter(|r| references(&r.0).iter().any(|x| x == this))
        {
            out.push(Entry {
                item: item(r),
                reply: true,
            });
        }
    }
    Ok(out)
}

/// Comments on an object, gives an opinion of it or reports a sighting: a STIX note,
/// opinion or sighting of the user's partner, posted as a POST would be.
async fn comment(
    cairn: web::Data<Cairn>,
    s: Signed,
    edge: web::Data<super::edge::Edge>,
    path: web::Path<(String, String, String)>,
    form: web::Form<CommentForm>,
) -> HttpResponse {
    if !s.sent(&form.form_key) {
        return forged(s.frame());
    }
    let (coll, id, kind) = path.into_inner();
    let said = match kind.as_str() {
        "comment" => Said::Note(form.text.clone()),
        "opinion" => Said::Opinion(form.opinion.clone(), form.text.clone()),
        "sighting" => Said::Sighting,
        _ => return failure(s.frame(), ServiceError::NotFound),
    };
    let Some(tlp) = Tlp::parse(&form.tlp) else {
        let text = format!("'{}' is not a TLP level", form.tlp);
        return failure(s.frame(), ServiceError::Unprocessable(text));
    };
    // Only about what the user sees: a hidden object answers like a missing one.
    if let Err(e) = versions_of(&cairn, &s, &coll, &id).await {
        return failure(s.frame(), e);
    }
    // A comment is a POST: it takes one of the user's places, as the API's do.
    let Ok(_slot) = edge.start_post(&s.principal.user) else {
        let text = "Too many of your posts are under way; try again in a moment.".into();
        return message(s.frame(), StatusCode::TOO_MANY_REQUESTS, "Busy", text);
    };
    let asked = Comment {
        collection: coll.clone(),
        about: id.clone(),
        said,
        tlp,
    };
    match cairn.comment(&s.principal, asked).await {
        Ok(st) if st.failure_count == 0 => see_other(&format!("/web/c/{coll}/o/{id}/?done={kind}")),
        Ok(st) => {
            let why = st.failures.first().and_then(|f| f.message.clone());
            let text = why.unwrap_or_else(|| "The community did not accept it.".into());
            message(
                s.frame(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "Not posted",
                text,
            )
        }
        Err(e) => failure(s.frame(), e),
    }
}

/// Follows an object, or stops following it.
async fn follow(
    cairn: web::Data<Cairn>,
    s: Signed,
    path: web::Path<(String, String)>,
    form: web::Form<FollowForm>,
) -> HttpResponse {
    if !s.sent(&form.form_key) {
        return forged(s.frame());
    }
    let (coll, id) = path.into_inner();
    if crate::stix::identifier::StixId::parse_filter(&id).is_err() {
        return failure(s.frame(), ServiceError::NotFound);
    }
    let done = match form.action.as_str() {
        "follow" => start_following(&cairn, &s, &coll, &id).await,
        "unfollow" => stop_following(&cairn, &s, &coll, &id).await,
        other => Err(ServiceError::Unprocessable(format!(
            "'{other}' is neither follow nor unfollow"
        ))),
    };
    match done {
        Ok(()) => see_other(&format!("/web/c/{coll}/o/{id}/?done={}", form.action)),
        Err(e) => failure(s.frame(), e),
    }
}

async fn start_following(
    cairn: &Cairn,
    s: &Signed,
    coll: &str,
    id: &str,
) -> Result<(), ServiceError> {
    versions_of(cairn, s, coll, id).await?;
    let view = cairn
        .collection(Asker::Page(&s.principal), s.root(), coll)
        .await?;
    let body = serde_json::json!({ "collection": view.community.collection_id, "object": id });
    cairn
        .follow(&s.principal, s.root(), &body.to_string())
        .await?;
    Ok(())
}

async fn stop_following(
    cairn: &Cairn,
    s: &Signed,
    coll: &str,
    id: &str,
) -> Result<(), ServiceError> {
    let view = cairn
        .collection(Asker::Page(&s.principal), s.root(), coll)
        .await?;
    let follows = cairn.follows(Asker::Page(&s.principal), s.root()).await?;
    let found = follows.iter().filter(|f| {
        f.object.as_deref() == Some(id) && f.collection == view.community.collection_id
    });
    for f in found {
        cairn.unfollow(&s.principal, s.root(), &f.id).await?;
    }
    Ok(())
}

fn version_of(o: &Value) -> &str {
    o["modified"]
        .as_str()
        .or_else(|| o["created"].as_str())
        .unwrap_or("")
}

/// The ids an object names in its top-level `*_ref` and `*_refs` properties.
fn references(o: &Value) -> Vec<String> {
    let Some(map) = o.as_object() else {
        return vec![];
    };
    let mut out = vec![];
    for (k, v) in map {
        if k == "object_marking_refs" || k == "created_by_ref" {
            continue;
        }
        if k.ends_with("_ref") {
            out.extend(v.as_str().map(str::to_owned));
        } else if k.ends_with("_refs") {
            let list = v.as_array().into_iter().flatten();
            out.extend(list.filter_map(|x| x.as_str().map(str::to_owned)));
        }
    }
    out
}

/// The most restrictive TLP level an object is marked with.
fn level_of(o: &Value) -> Option<Tlp> {
    let marks = o["object_marking_refs"].as_array().into_iter().flatten();
    marks
        .filter_map(|m| m.as_str().and_then(tlp::tlp_of_marking_id))
        .max()
}

/// The TLP badge of an object: its label and CSS class.
fn badge(o: &Value) -> (&'static str, &'static str) {
    match level_of(o) {
        Some(l) => (l.label(), tlp_class(l)),
        None => ("no TLP", "none"),
    }
}

/// Every property of an object: the name, and the value as text (strings bare, the rest as
/// compact JSON), in the body's order.
fn fields_of(o: &Value) -> Vec<(String, String)> {
    let Some(map) = o.as_object() else {
        return vec![];
    };
    let shown = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    map.iter().map(|(k, v)| (k.clone(), shown(v))).collect()
}

/// The CSS class of a TLP badge.
fn tlp_class(level: Tlp) -> &'static str {
    match level {
        Tlp::AmberStrict => "amber-strict",
        l => l.as_str(),
    }
}

/// The text a page shows of an object: what analysts read in it.
fn text_of(o: &Value) -> String {
    let parts = [
        "description",
        "pattern",
        "content",
        "opinion",
        "explanation",
    ];
    let mut out: Vec<&str> = parts.iter().filter_map(|k| o[*k].as_str()).collect();
    let count = match o["count"].as_i64() {
        Some(1) => Some("seen once".to_owned()),
        Some(n) => Some(format!("seen {n} times")),
        None => None,
    };
    out.extend(count.as_deref());
    out.join("\n")
}

fn item((o, producer): &Listed) -> Item {
    let id = o["id"].as_str().unwrap_or_default().to_owned();
    let name = ["name", "abstract", "value"]
        .iter()
        .find_map(|k| o[*k].as_str())
        .map(|n| n.chars().take(120).collect())
        .unwrap_or_else(|| id.clone());
    let producer_id = producer.clone();
    let producer = match producer.is_empty() {
        true => "built-in".to_owned(),
        false => producer.clone(),
    };
    let (tlp, tlp_class) = badge(o);
    Item {
        stix_type: o["type"].as_str().unwrap_or_default().to_owned(),
        name,
        tlp,
        tlp_class,
        producer,
        producer_id,
        when: version_of(o).get(..16).unwrap_or("").replace('T', " "),
        text: text_of(o),
        id,
    }
}

/// The community's members with their roles and caps, for its moderators.
async fn members(cairn: web::Data<Cairn>, s: Signed, path: web::Path<String>) -> HttpResponse {
    let m = match cairn.members(&s.principal, &path.into_inner()).await {
        Ok(m) => m,
        Err(e) => return failure(s.frame(), e),
    };
    let rows = m.members.into_iter().map(|l| {
        let cap = l.member_cap.min(l.user_cap);
        MemberRow {
            user: l.user,
            partner: l.partner,
            role: l.role.as_str(),
            cap: cap.label(),
            cap_class: tlp_class(cap),
        }
    });
    let f = s.frame();
    html(
        StatusCode::OK,
        &MembersPage {
            signed_in_as: f.signed_in_as,
            form_key: f.form_key,
            community: m.community,
            title: m.title,
            members: rows.collect(),
        },
    )
}

/// Why a member receives, or does not receive, each version of an object the moderator sees.
async fn explain(
    req: HttpRequest,
    cairn: web::Data<Cairn>,
    s: Signed,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (coll, id) = path.into_inner();
    let user = query_pairs(&req).into_iter().find(|(k, _)| k == "user");
    let user = user.map(|(_, v)| v).unwrap_or_default();
    match explain_page(&cairn, &s, &coll, (&id, &user)).await {
        Ok(page) => html(StatusCode::OK, &page),
        Err(e) => failure(s.frame(), e),
    }
}

async fn explain_page(
    cairn: &Cairn,
    s: &Signed,
    coll: &str,
    (id, user): (&str, &str),
) -> Result<ExplainPage, ServiceError> {
    // Only what the moderator sees itself: a hidden object answers like a missing one.
    versions_of(cairn, s, coll, id).await?;
    let m = cairn.members(&s.principal, coll).await?;
    let lines = match user.is_empty() {
        true => vec![],
        false => cairn.explain_for(&s.principal, coll, (user, id)).await?,
    };
    let f = s.frame();
    Ok(ExplainPage {
        signed_in_as: f.signed_in_as,
        form_key: f.form_key,
        community: m.community,
        object: id.to_owned(),
        users: m.members.into_iter().map(|l| l.user).collect(),
        user: user.to_owned(),
        lines,
    })
}

#[derive(Template)]
#[template(path = "web/me.html")]
struct MePage {
    signed_in_as: String,
    form_key: String,
    notice: &'static str,
    follows: Vec<FollowLine>,
    notifications: Vec<NotificationLine>,
}

struct FollowLine {
    id: String,
    what: String,
    link: String,
    since: String,
}

struct NotificationLine {
    when: String,
    stix_type: String,
    id: String,
    link: String,
    producer: String,
    because: String,
}

#[derive(Template)]
#[template(path = "web/tokens.html")]
struct TokensPage {
    signed_in_as: String,
    form_key: String,
    tokens: Vec<uc::TokenView>,
    /// A token just made, shown this once.
    created: String,
}

/// The newest notifications the follows page lists.
const RECENT: usize = 50;

/// A timestamp as pages show it: to the minute.
fn minute(t: &str) -> String {
    t.get(..16).unwrap_or("").replace('T', " ")
}

/// The user's follows and its newest notifications.
async fn me(req: HttpRequest, cairn: web::Data<Cairn>, s: Signed) -> HttpResponse {
    let notice = match query_pairs(&req)
        .iter()
        .any(|(k, v)| k == "done" && v == "unfollow")
    {
        true => "You no longer follow it.",
        false => "",
    };
    match me_page(&cairn, &s, notice).await {
        Ok(page) => html(StatusCode::OK, &page),
        Err(e) => failure(s.frame(), e),
    }
}

async fn me_page(cairn: &Cairn, s: &Signed, notice: &'static str) -> Result<MePage, ServiceError> {
    let follows = cairn.follows(Asker::Page(&s.principal), s.root()).await?;
    let follows = follows.into_iter().map(|f| {
        let (what, link) = match &f.object {
            Some(o) => (o.clone(), format!("/web/c/{}/o/{o}/", f.collection)),
            None => (
                format!("the whole collection {}", f.collection),
                format!("/web/c/{}/", f.collection),
            ),
        };
        FollowLine {
            id: f.id,
            what,
            link,
            since: minute(&f.created),
        }
    });
    let told = cairn.recent_notifications(&s.principal, RECENT).await?;
    let notifications = told.into_iter().map(|n| NotificationLine {
        when: minute(&n.date_added),
        link: format!("/web/c/{}/o/{}/", n.collection, n.object.id),
        stix_type: n.object.stix_type,
        id: n.object.id,
        producer: n.object.producer.unwrap_or_else(|| "built-in".into()),
        because: n.because,
    });
    let f = s.frame();
    Ok(MePage {
        signed_in_as: f.signed_in_as,
        form_key: f.form_key,
        notice,
        follows: follows.collect(),
        notifications: notifications.collect(),
    })
}

async fn remove_follow(
    cairn: web::Data<Cairn>,
    s: Signed,
    path: web::Path<String>,
    form: web::Form<KeyForm>,
) -> HttpResponse {
    if !s.sent(&form.form_key) {
        return forged(s.frame());
    }
    match cairn
        .unfollow(&s.principal, s.root(), &path.into_inner())
        .await
    {
        Ok(()) => see_other("/web/me/?done=unfollow"),
        Err(e) => failure(s.frame(), e),
    }
}

#[derive(serde::Deserialize)]
struct TokenForm {
    form_key: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    days: String,
    /// Present (any value) when the box is ticked.
    read_only: Option<String>,
}

/// The user's API tokens, and a form to make one.
async fn tokens(cairn: web::Data<Cairn>, s: Signed) -> HttpResponse {
    tokens_page(&cairn, &s, String::new()).await
}

async fn tokens_page(cairn: &Cairn, s: &Signed, created: String) -> HttpResponse {
    let tokens = match cairn.my_tokens(&s.principal).await {
        Ok(t) => t,
        Err(e) => return failure(s.frame(), e),
    };
    let f = s.frame();
    let page = TokensPage {
        signed_in_as: f.signed_in_as,
        form_key: f.form_key,
        tokens,
        created,
    };
    html(StatusCode::OK, &page)
}

/// Makes a token and shows it once, on the tokens page itself (never in a URL).
async fn create_token(
    cairn: web::Data<Cairn>,
    s: Signed,
    form: web::Form<TokenForm>,
) -> HttpResponse {
    if !s.sent(&form.form_key) {
        return forged(s.frame());
    }
    let days = match form.days.trim() {
        "" => Ok(0),
        d => d.parse::<u32>(),
    };
    let Ok(days) = days else {
        let why = format!("'{}' is not a number of days", form.days);
        return failure(s.frame(), ServiceError::Unprocessable(why));
    };
    let asked = (form.note.trim().to_owned(), form.read_only.is_some(), days);
    match cairn.create_token(&s.principal, asked).await {
        Ok(token) => tokens_page(&cairn, &s, token).await,
        Err(e) => failure(s.frame(), e),
    }
}

async fn revoke_token(
    cairn: web::Data<Cairn>,
    s: Signed,
    path: web::Path<String>,
    form: web::Form<KeyForm>,
) -> HttpResponse {
    if !s.sent(&form.form_key) {
        return forged(s.frame());
    }
    match cairn
        .revoke_my_token(&s.principal, &path.into_inner())
        .await
    {
        Ok(()) => see_other("/web/tokens/"),
        Err(e) => failure(s.frame(), e),
    }
}

#[derive(Template)]
#[template(path = "web/refusals.html")]
struct RefusalsPage {
    signed_in_as: String,
    form_key: String,
    community: String,
    title: String,
    refusals: Vec<uc::Refusal>,
}

/// What the community refused in the recent pushes of the moderator's partner.
async fn refusals(cairn: web::Data<Cairn>, s: Signed, path: web::Path<String>) -> HttpResponse {
    let (m, refusals) = match cairn.refusals(&s.principal, &path.into_inner()).await {
        Ok(found) => found,
        Err(e) => return failure(s.frame(), e),
    };
    let f = s.frame();
    let page = RefusalsPage {
        signed_in_as: f.signed_in_as,
        form_key: f.form_key,
        community: m.0,
        title: m.1,
        refusals,
    };
    html(StatusCode::OK, &page)
}

#[derive(Template)]
#[template(path = "web/receipts.html")]
struct ReceiptsPage {
    signed_in_as: String,
    form_key: String,
    community: String,
    object: String,
    receipts: Vec<uc::ReceiptLine>,
    read: i64,
}

/// Who received or posted the versions of an object that the moderator receives itself.
async fn receipts(
    cairn: web::Data<Cairn>,
    s: Signed,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (coll, id) = path.into_inner();
    // Only what the moderator sees itself: a hidden object answers like a missing one.
    if let Err(e) = versions_of(&cairn, &s, &coll, &id).await {
        return failure(s.frame(), e);
    }
    let (m, receipts) = match cairn.receipts_of(&s.principal, &coll, &id).await {
        Ok(found) => found,
        Err(e) => return failure(s.frame(), e),
    };
    let f = s.frame();
    let page = ReceiptsPage {
        signed_in_as: f.signed_in_as,
        form_key: f.form_key,
        community: m,
        object: id,
        receipts,
        read: uc::RECEIPTS_READ,
    };
    html(StatusCode::OK, &page)
}
