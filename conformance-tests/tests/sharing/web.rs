//! The web interface over real HTTP: sessions, form keys, and pages that show a member only
//! what the delivery decision gives it (a hidden object's page is a missing one's, byte for
//! byte).

use super::fixture::*;
use cairn_conformance::*;
use serde_json::Value;
use std::collections::HashMap;

/// A browser without JavaScript: keeps cookies, follows no redirect.
pub struct Browser {
    base: String,
    client: reqwest::Client,
    cookies: HashMap<String, String>,
}

pub struct Page {
    pub status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> Option<&str> {
        self.headers.get("location").map(|v| v.to_str().unwrap())
    }

    fn set_cookies(&self) -> Vec<String> {
        let all = self.headers.get_all("set-cookie").iter();
        all.map(|v| v.to_str().unwrap().to_owned()).collect()
    }

    /// The form key of the page's forms.
    fn form_key(&self) -> String {
        let start = self
            .body
            .find("name=\"form_key\" value=\"")
            .expect("a form")
            + 23;
        self.body[start..start + 32].to_owned()
    }
}

impl Browser {
    fn new(s: &TestServer) -> Browser {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Browser {
            base: s.base.clone(),
            client,
            cookies: HashMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        let pairs = self.cookies.iter().map(|(k, v)| format!("{k}={v}"));
        pairs.collect::<Vec<_>>().join("; ")
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        let resp = req
            .header("Cookie", self.cookie_header())
            .header("Accept", "text/html")
            .send()
            .await
            .unwrap();
        let page = Page {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            body: resp.text().await.unwrap(),
        };
        for c in page.set_cookies() {
            let (pair, attrs) = c.split_once(';').unwrap_or((&c, ""));
            let (k, v) = pair.split_once('=').unwrap();
            match attrs.contains("Max-Age=0") {
                true => self.cookies.remove(k),
                false => self.cookies.insert(k.to_owned(), v.to_owned()),
            };
        }
        page
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let req = self.client.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let req = self.client.post(format!("{}{path}", self.base)).form(form);
        self.send(req).await
    }

    async fn try_sign_in(&mut self, user: &str, password: &str) -> Page {
        let key = self.get("/web/sign-in/").await.form_key();
        let form = [("form_key", &*key), ("user", user), ("password", password)];
        self.post("/web/sign-in/", &form).await
    }

    pub async fn sign_in(s: &TestServer, user: &str) -> Browser {
        let mut b = Browser::new(s);
        let r = b.try_sign_in(user, PASSWORD).await;
        assert_eq!((r.status, r.location()), (303, Some("/web/")), "{}", r.body);
        b
    }
}

fn object_path(o: &str) -> String {
    format!("/web/c/finance-isac/o/{o}/")
}

/// ACME's RED indicator for Umbrella only, then the CERT, which cannot see it, posting the same
/// id: its private copy (docs/sharing.md section 6). Returns both.
async fn red_and_private_copy(s: &TestServer) -> (Value, Value) {
    let mut acme_red = sdo("indicator", 2, Some(RED2));
    acme_red["description"] = "ACME's".into();
    let one = std::slice::from_ref(&acme_red);
    post(s, "acme-soc", one, Some("umbrella")).await;
    let mut copy = sdo("indicator", 2, Some(GREEN2));
    copy["modified"] = "2026-03-01T00:00:00.000Z".into();
    post(s, "cert-ops", std::slice::from_ref(&copy), None).await;
    (acme_red, copy)
}

/// The link to a listing's next page, if it has one.
pub fn more(p: &Page) -> Option<String> {
    let end = p.body.find("\">More</a>")?;
    let start = p.body[..end].rfind("href=\"")? + 6;
    Some(
        p.body[start..end]
            .replace("&#38;", "&")
            .replace("&amp;", "&"),
    )
}

/// Every page of a listing, following its links to more.
pub async fn all_pages(b: &mut Browser, first: &str) -> Vec<Page> {
    let mut pages = vec![b.get(first).await];
    while let Some(next) = more(pages.last().unwrap()) {
        pages.push(b.get(&next).await);
        assert!(pages.len() < 1000, "a listing that never ends");
    }
    pages
}

/// The page with its form keys blanked, to compare two answers.
pub fn keyless(p: &Page) -> (u16, String) {
    let mut body = p.body.clone();
    while let Some(i) = body.find("name=\"form_key\" value=\"") {
        body.replace_range(i..i + 23 + 32, "KEY");
    }
    (p.status, body)
}

#[tokio::test]
async fn signing_in_opens_a_strict_cookie_session_and_signing_out_ends_it() {
    let s = TestServer::start_with(&isac_setup(""), "").await;
    let mut b = Browser::new(&s);
    let r = b.get("/web/").await;
    assert_eq!((r.status, r.location()), (303, Some("/web/sign-in/")));
    // An unknown name and a wrong password get the same page.
    let wrong = b.try_sign_in("acme-soc", "not the password").await;
    let unknown = b.try_sign_in("nobody", "not the password").await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("Unknown user name or wrong password."));
    assert_eq!(keyless(&wrong), keyless(&unknown));
    // A form without its sign-in cookie is refused.
    let mut other = Browser::new(&s);
    let key = b.get("/web/sign-in/").await.form_key();
    let form = [
        ("form_key", &*key),
        ("user", "acme-soc"),
        ("password", PASSWORD),
    ];
    assert_eq!(other.post("/web/sign-in/", &form).await.status, 403);

    let r = b.try_sign_in("acme-soc", PASSWORD).await;
    assert_eq!((r.status, r.location()), (303, Some("/web/")));
    let session = r
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("cairn_session="))
        .unwrap();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/web/"] {
        assert!(session.contains(attr), "{session}");
    }
    let home = b.get("/web/").await;
    assert_eq!(home.status, 200, "{}", home.body);
    assert!(home.body.contains("acme-soc (acme)") && home.body.contains("Finance ISAC"));
    let policy = home.headers["content-security-policy"].to_str().unwrap();
    assert!(policy.starts_with("default-src 'none'"), "{policy}");
    assert_eq!(home.headers["cache-control"], "private, no-store");

    // Signing out needs the page's key; afterwards the old cookie opens nothing.
    let stolen = b.cookies.clone();
    let key = home.form_key();
    assert_eq!(
        b.post("/web/sign-out/", &[("form_key", "0".repeat(32).as_str())])
            .await
            .status,
        403
    );
    let r = b.post("/web/sign-out/", &[("form_key", &key)]).await;
    assert_eq!((r.status, r.location()), (303, Some("/web/sign-in/")));
    assert!(!b.cookies.contains_key("cairn_session"));
    b.cookies = stolen;
    assert_eq!(b.get("/web/").await.location(), Some("/web/sign-in/"));
}

#[tokio::test]
async fn a_session_ends_when_apply_disables_its_user_and_tokens_are_not_passwords() {
    let s = TestServer::start_with(&isac_setup(""), "").await;
    let mut b = Browser::sign_in(&s, "initech-soc").await;
    assert_eq!(b.get("/web/").await.status, 200);
    let renamed = isac_setup("").replace("name = \"initech-soc\"", "name = \"initech-ops\"");
    s.apply(&renamed).await;
    assert_eq!(b.get("/web/").await.location(), Some("/web/sign-in/"));
    // An API token signs nothing in: a session from it could outlive it.
    let (_, token) = s.token("acme-soc", false, None).await;
    let r = Browser::new(&s).try_sign_in("acme-soc", &token).await;
    assert_eq!(r.status, 401);
    // Nor is an API token a session cookie, read-only or not.
    let (_, read_only) = s.token("acme-soc", true, None).await;
    for t in [token, read_only] {
        let mut b = Browser::new(&s);
        b.cookies.insert("cairn_session".into(), t);
        let r = b.get("/web/").await;
        assert_eq!(r.location(), Some("/web/sign-in/"));
        assert!(
            !b.cookies.contains_key("cairn_session"),
            "the dead cookie is removed"
        );
    }
}

#[tokio::test]
async fn pages_show_a_member_only_what_it_may_read() {
    let s = TestServer::start_with(&isac_setup(""), "").await;
    let mut green = sdo("indicator", 1, Some(GREEN2));
    green["created_by_ref"] = cairn::policy::identity::of("cert", None).into();
    let amber = sdo("malware", 2, Some(AMBER2));
    post(&s, "cert-ops", &[green.clone(), amber.clone()], None).await;
    let missing = "malware--00000000-0000-4000-8000-000000000000";

    let mut initech = Browser::sign_in(&s, "initech-soc").await;
    let feed = initech.get("/web/c/finance-isac/").await;
    assert_eq!(feed.status, 200, "{}", feed.body);
    assert!(feed.body.contains(&id(&green)) && feed.body.contains("TLP:GREEN"));
    assert!(!feed.body.contains(&id(&amber)) && !feed.body.contains("malware 2"));
    let page = initech.get(&object_path(&id(&green))).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("indicator 1") && page.body.contains("198.51.100.7"));
    // Every property, RED not offered in the forms (it needs recipients).
    assert!(page
        .body
        .contains("<th>valid_from</th><td class=\"id\">2026-01-01T00:00:00Z</td>"));
    assert!(!page.body.contains("<option value=\"red\">"));
    assert!(page.body.contains("Producer: cert "), "{}", page.body);
    let hidden = initech.get(&object_path(&id(&amber))).await;
    let absent = initech.get(&object_path(missing)).await;
    assert_eq!(hidden.status, 404);
    assert_eq!(keyless(&hidden), keyless(&absent));
    // Forms about it answer like forms about nothing.
    let key = page.form_key();
    for action in ["comment/", "follow/"] {
        let form = [
            ("form_key", &*key),
            ("text", "x"),
            ("tlp", "green"),
            ("action", "follow"),
        ];
        let on_hidden = initech
            .post(&format!("{}{action}", object_path(&id(&amber))), &form)
            .await;
        let on_absent = initech
            .post(&format!("{}{action}", object_path(missing)), &form)
            .await;
        assert_eq!(on_hidden.status, 404, "{action}");
        assert_eq!(keyless(&on_hidden), keyless(&on_absent), "{action}");
    }
    // A type filter, and a community the partner is not in.
    let only = initech.get("/web/c/finance-isac/?type=malware").await;
    assert!(!only.body.contains(&id(&green)));
    assert_eq!(initech.get("/web/c/elsewhere/").await.status, 404);

    let mut acme = Browser::sign_in(&s, "acme-soc").await;
    let feed = acme.get("/web/c/finance-isac/").await;
    assert!(feed.body.contains(&id(&green)) && feed.body.contains(&id(&amber)));
    assert!(feed.body.contains("TLP:AMBER"));
}

#[tokio::test]
async fn members_comment_and_follow_from_the_object_page() {
    let s = TestServer::start_with(&isac_setup(""), "").await;
    let indicator = sdo("indicator", 1, Some(GREEN2));
    post(&s, "cert-ops", std::slice::from_ref(&indicator), None).await;
    let path = object_path(&id(&indicator));

    let mut acme = Browser::sign_in(&s, "acme-soc").await;
    let key = acme.get(&path).await.form_key();
    let text = "Seen in our mail gateway <script>alert(1)</script>";
    let forged = [
        ("form_key", "f".repeat(32)),
        ("text", text.into()),
        ("tlp", "green".into()),
    ];
    let forged: Vec<(&str, &str)> = forged.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(
        acme.post(&format!("{path}comment/"), &forged).await.status,
        403
    );
    let form = [("form_key", &*key), ("text", text), ("tlp", "green")];
    let r = acme.post(&format!("{path}comment/"), &form).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location(), Some(format!("{path}?done=comment").as_str()));
    let page = acme.get(&format!("{path}?done=comment")).await;
    assert!(page.body.contains("Your comment was posted."));
    assert!(
        page.body
            .contains("Seen in our mail gateway &#60;script&#62;")
            || page.body.contains("&lt;script&gt;"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("<script>"));

    // The note is the partner's, in the thread of every member who may read it.
    let notes = visible(&s, "initech-soc").await;
    let note: Vec<&String> = notes.iter().filter(|i| i.starts_with("note--")).collect();
    assert_eq!(note.len(), 1, "{notes:?}");
    let api = s
        .get(
            "initech-soc",
            &TestServer::coll("initech", ISAC, &format!("objects/{}/", note[0])),
        )
        .await
        .json();
    let stored: &Value = &api["objects"][0];
    assert_eq!(stored["object_refs"][0], id(&indicator).as_str());
    assert_eq!(stored["object_marking_refs"][0], GREEN2);
    let mut initech = Browser::sign_in(&s, "initech-soc").await;
    let theirs = initech.get(&path).await;
    assert!(
        theirs.body.contains("Seen in our mail gateway"),
        "{}",
        theirs.body
    );
    assert!(theirs.body.contains("note by acme"), "{}", theirs.body);

    // Follow, then stop following: the API sees the same follows.
    let follows = |s: &TestServer| {
        let s = s.http.clone();
        async move { s.get("acme-soc", "/acme/follows/").await.json()["follows"].clone() }
    };
    let r = acme
        .post(
            &format!("{path}follow/"),
            &[("form_key", &*key), ("action", "follow")],
        )
        .await;
    assert_eq!(r.location(), Some(format!("{path}?done=follow").as_str()));
    let listed = follows(&s).await;
    assert_eq!(listed[0]["object"], id(&indicator).as_str(), "{listed}");
    assert!(acme.get(&path).await.body.contains("Stop following"));
    let r = acme
        .post(
            &format!("{path}follow/"),
            &[("form_key", &*key), ("action", "unfollow")],
        )
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(follows(&s).await.as_array().map(Vec::len), Some(0));
}

#[tokio::test]
async fn a_community_lists_newest_first_in_pages() {
    let s = TestServer::start_with(&isac_setup(""), "").await;
    // Posted one by one, oldest first: 60 indicators, then (late joiner's view) more.
    let all: Vec<Value> = (1..=60)
        .map(|n| sdo("indicator", n, Some(GREEN2)))
        .collect();
    for chunk in all.chunks(20) {
        post(&s, "cert-ops", chunk, None).await;
    }
    let mut b = Browser::sign_in(&s, "initech-soc").await;
    let first = b.get("/web/c/finance-isac/?type=indicator").await;
    assert_eq!(first.status, 200, "{}", first.body);
    let at = |p: &Page, n: u32| p.body.find(&format!(">indicator {n}<"));
    // The newest 50, newest first.
    assert!(at(&first, 60).unwrap() < at(&first, 59).unwrap());
    assert!(at(&first, 11).is_some() && at(&first, 10).is_none());
    let second = b.get(&more(&first).expect("a link to more")).await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert!(at(&second, 10).unwrap() < at(&second, 1).unwrap());
    assert!(at(&second, 11).is_none() && more(&second).is_none());
    // By producer: what Cairn recorded at POST, whatever the body claims.
    let mut acme_own = sdo("indicator", 61, Some(GREEN2));
    acme_own["created_by_ref"] = cairn::policy::identity::of("acme", None).into();
    post(&s, "acme-soc", std::slice::from_ref(&acme_own), None).await;
    let by_acme = b.get("/web/c/finance-isac/?producer=acme").await;
    assert!(
        at(&by_acme, 61).is_some() && at(&by_acme, 60).is_none(),
        "{}",
        by_acme.body
    );
    assert!(by_acme.body.contains("?producer=acme\">acme</a>"));
    let by_cert = b
        .get("/web/c/finance-isac/?producer=cert&type=indicator&limit=100")
        .await;
    assert!(at(&by_cert, 61).is_none() && at(&by_cert, 1).is_some());
    assert_eq!(
        b.get("/web/c/finance-isac/?producer=NOT%20ONE")
            .await
            .status,
        400
    );
}

#[tokio::test]
async fn moderators_see_members_and_explain_only_what_they_see_themselves() {
    let s = TestServer::start_with(&isac_setup(""), "").await;
    let amber = sdo("malware", 1, Some(AMBER2));
    post(&s, "cert-ops", std::slice::from_ref(&amber), None).await;
    let (_, copy) = red_and_private_copy(&s).await;
    let red = sdo("malware", 3, Some(RED2));
    post(&s, "acme-soc", std::slice::from_ref(&red), Some("umbrella")).await;

    let mut cert = Browser::sign_in(&s, "cert-ops").await;
    assert!(cert
        .get("/web/c/finance-isac/")
        .await
        .body
        .contains("/members/\">Members<"));
    let members = cert.get("/web/c/finance-isac/members/").await;
    assert_eq!(members.status, 200, "{}", members.body);
    let line = "<td>initech-soc</td><td>initech</td><td>contributor</td>";
    assert!(members.body.contains(line), "{}", members.body);
    assert!(members.body.contains("tlp-green\">TLP:GREEN<"));

    let explain =
        |o: &Value, user: &str| format!("/web/c/finance-isac/o/{}/explain/?user={user}", id(o));
    let page = cert.get(&explain(&amber, "initech-soc")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("not delivered"), "{}", page.body);
    let page = cert.get(&explain(&amber, "acme-soc")).await;
    assert!(page.body.contains("delivered since"), "{}", page.body);
    // Of the indicator, the CERT is told of its own copy only, never of ACME's RED version.
    let page = cert.get(&explain(&copy, "umbrella-soc")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.body.matches("  version ").count(), 1, "{}", page.body);
    assert!(page.body.contains("version 2026-03-01"), "{}", page.body);
    assert!(!page.body.contains("from acme"), "{}", page.body);
    // An object the CERT does not read has no explain page: exactly as one that does not exist.
    let missing = "malware--00000000-0000-4000-8000-000000000000";
    let hidden = cert
        .get(&format!(
            "/web/c/finance-isac/o/{}/explain/?user=umbrella-soc",
            id(&red)
        ))
        .await;
    let absent = cert
        .get(&format!(
            "/web/c/finance-isac/o/{missing}/explain/?user=umbrella-soc"
        ))
        .await;
    assert_eq!(hidden.status, 404);
    assert_eq!(keyless(&hidden), keyless(&absent));

    // Other members have neither page.
    let mut acme = Browser::sign_in(&s, "acme-soc").await;
    assert!(!acme
        .get("/web/c/finance-isac/")
        .await
        .body
        .contains(">Members<"));
    assert_eq!(acme.get("/web/c/finance-isac/members/").await.status, 403);
    assert_eq!(acme.get(&explain(&amber, "initech-soc")).await.status, 403);
}

#[tokio::test]
async fn members_give_opinions_and_report_sightings_in_one_click() {
    let s = TestServer::start_with(&isac_setup(""), "").await;
    let indicator = sdo("indicator", 1, Some(AMBER2));
    post(&s, "cert-ops", std::slice::from_ref(&indicator), None).await;
    let path = object_path(&id(&indicator));
    let mut acme = Browser::sign_in(&s, "acme-soc").await;
    let key = acme.get(&path).await.form_key();
    let r = acme
        .post(
            &format!("{path}sighting/"),
            &[("form_key", &*key), ("tlp", "amber")],
        )
        .await;
    assert_eq!(
        r.location(),
        Some(format!("{path}?done=sighting").as_str()),
        "{}",
        r.body
    );
    let opinion = [
        ("form_key", &*key),
        ("tlp", "green"),
        ("opinion", "strongly-agree"),
        ("text", "blocked at our edge"),
    ];
    let r = acme.post(&format!("{path}opinion/"), &opinion).await;
    assert_eq!(
        r.location(),
        Some(format!("{path}?done=opinion").as_str()),
        "{}",
        r.body
    );
    let bad = [("form_key", &*key), ("tlp", "green"), ("opinion", "meh")];
    let r = acme.post(&format!("{path}opinion/"), &bad).await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("strongly-agree"), "{}", r.body);
    assert_eq!(acme.post(&format!("{path}shout/"), &bad).await.status, 404);

    // Both are ACME's, about the indicator, as the API serves them to the CERT.
    let thread = TestServer::coll(
        "cert",
        ISAC,
        &format!("objects/?match[ref]={}", id(&indicator)),
    );
    let listed = s.get("cert-ops", &thread).await.json()["objects"].clone();
    let by_type = |t: &str| {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["type"] == t)
            .cloned()
            .unwrap()
    };
    let sighting = by_type("sighting");
    assert_eq!(sighting["sighting_of_ref"], id(&indicator).as_str());
    assert_eq!(sighting["count"], 1);
    assert_eq!(sighting["object_marking_refs"][0], AMBER2);
    assert_eq!(
        sighting["created_by_ref"],
        cairn::policy::identity::of("acme", None).as_str()
    );
    let opinion = by_type("opinion");
    assert_eq!(opinion["opinion"], "strongly-agree");
    assert_eq!(opinion["explanation"], "blocked at our edge");
    let page = acme.get(&path).await;
    assert!(page.body.contains("sighting by acme") && page.body.contains("seen once"));
    assert!(page.body.contains("opinion by acme") && page.body.contains("blocked at our edge"));
}

#[tokio::test]
async fn a_member_sees_its_follows_and_newest_notifications_and_stops_following() {
    let s = TestServer::start_with(&isac_setup(""), "").await;
    let indicator = sdo("indicator", 1, Some(GREEN2));
    post(&s, "cert-ops", std::slice::from_ref(&indicator), None).await;
    let path = object_path(&id(&indicator));
    let mut acme = Browser::sign_in(&s, "acme-soc").await;
    let key = acme.get(&path).await.form_key();
    let follow = [("form_key", &*key), ("action", "follow")];
    assert_eq!(
        acme.post(&format!("{path}follow/"), &follow).await.status,
        303
    );
    let mut v2 = indicator.clone();
    v2["modified"] = "2026-02-01T00:00:00.000Z".into();
    post(&s, "cert-ops", &[v2], None).await;
    let rel = relationship(2, &sdo("malware", 3, None), &indicator, GREEN2);
    post(
        &s,
        "cert-ops",
        &[sdo("malware", 3, Some(GREEN2)), rel.clone()],
        None,
    )
    .await;

    let me = acme.get("/web/me/").await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert!(me
        .body
        .contains(&format!("href=\"/web/c/{ISAC}/o/{}/\"", id(&indicator))));
    // Newest first: the relationship, then the indicator's new version.
    let (r, i) = (
        me.body.find(&id(&rel)).unwrap(),
        me.body.rfind(&format!(">{}<", id(&indicator))).unwrap(),
    );
    assert!(r < i, "{}", me.body);
    let start = me.body.find("action=\"/web/me/follows/").unwrap() + 8;
    let end = start + me.body[start..].find('"').unwrap();
    let remove = me.body[start..end].to_owned();
    assert_eq!(
        acme.post(&remove, &[("form_key", "0".repeat(32).as_str())])
            .await
            .status,
        403
    );
    let r = acme.post(&remove, &[("form_key", &*key)]).await;
    assert_eq!(r.location(), Some("/web/me/?done=unfollow"));
    let listed = s.get("acme-soc", "/acme/follows/").await.json();
    assert_eq!(
        listed["follows"].as_array().map(Vec::len),
        Some(0),
        "{listed}"
    );
}

#[tokio::test]
async fn a_member_makes_lists_and_revokes_its_own_tokens() {
    let s = TestServer::start_with(&isac_setup(""), "").await;
    let mut acme = Browser::sign_in(&s, "acme-soc").await;
    let page = acme.get("/web/tokens/").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("web session"));
    let key = page.form_key();
    let form = [
        ("form_key", &*key),
        ("note", "Sentinel"),
        ("days", "30"),
        ("read_only", "yes"),
    ];
    let made = acme.post("/web/tokens/", &form).await;
    assert_eq!(made.status, 200, "{}", made.body);
    let start = made
        .body
        .find("<pre>cairn_")
        .expect("the token, shown once")
        + 5;
    let token = made.body[start..start + made.body[start..].find('<').unwrap()].to_owned();
    assert!(made.body.contains("Sentinel") && made.body.contains("read-only"));
    // It reads through the API, and only reads.
    let bearer = format!("Bearer {token}");
    let headers = [("Authorization", bearer.as_str())];
    let r = s
        .send(reqwest::Method::GET, "/taxii2/", None, &headers, None)
        .await;
    assert_eq!(r.status, 200);
    assert!(
        !acme.get("/web/tokens/").await.body.contains(&token),
        "shown once only"
    );
    // Another user's token cannot be revoked from here: it answers like a missing one.
    let (other, _) = s.token("globex-soc", false, None).await;
    let r = acme
        .post(
            &format!("/web/tokens/{other}/revoke/"),
            &[("form_key", &*key)],
        )
        .await;
    assert_eq!(r.status, 404);
    // The note of sessions is not a token's: such a token would be a session without an end.
    let sneaky = [("form_key", &*key), ("note", "Web Session"), ("days", "0")];
    assert_eq!(acme.post("/web/tokens/", &sneaky).await.status, 422);
    let (id, _) = cairn::service::auth::token::split(&token).unwrap();
    let r = acme
        .post(&format!("/web/tokens/{id}/revoke/"), &[("form_key", &*key)])
        .await;
    assert_eq!(r.location(), Some("/web/tokens/"));
    let r = s
        .send(reqwest::Method::GET, "/taxii2/", None, &headers, None)
        .await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn moderators_see_what_was_refused_in_their_own_partners_pushes() {
    let s = TestServer::start_with(&isac_setup(""), "").await;
    // RED without recipients is refused, the rest of the envelope kept.
    let refused = sdo("malware", 1, Some(RED2));
    let kept = sdo("indicator", 2, Some(GREEN2));
    let st = post(&s, "cert-ops", &[refused.clone(), kept], None).await;
    assert_eq!(st["failure_count"], 1, "{st}");
    let theirs = sdo("malware", 3, Some(RED2));
    post(&s, "acme-soc", std::slice::from_ref(&theirs), None).await;

    let mut cert = Browser::sign_in(&s, "cert-ops").await;
    let page = cert.get("/web/c/finance-isac/refusals/").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains(&id(&refused)) && page.body.contains("recipients"),
        "{}",
        page.body
    );
    assert!(page.body.contains("cert-ops"));
    // Another partner's pushes are its own moderators' to read.
    assert!(!page.body.contains(&id(&theirs)));
    let mut acme = Browser::sign_in(&s, "acme-soc").await;
    assert_eq!(acme.get("/web/c/finance-isac/refusals/").await.status, 403);
}

#[tokio::test]
async fn moderators_see_who_received_the_versions_they_receive_themselves() {
    let s = TestServer::start_with(&isac_setup(""), "").await;
    let indicator = sdo("indicator", 1, Some(GREEN2));
    post(&s, "cert-ops", std::slice::from_ref(&indicator), None).await;
    let (acme_red, copy) = red_and_private_copy(&s).await;
    for user in ["initech-soc", "umbrella-soc"] {
        let r = s
            .get(user, &TestServer::coll(root(user), ISAC, "objects/"))
            .await;
        assert_eq!(r.status, 200);
    }

    let mut cert = Browser::sign_in(&s, "cert-ops").await;
    let path = format!("{}receipts/", object_path(&id(&indicator)));
    // Pull receipts are written just after the answer: wait for them, boundedly.
    let mut page = cert.get(&path).await;
    for _ in 0..100 {
        if page.body.contains("<td>initech-soc</td><td>pull</td>") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        page = cert.get(&path).await;
    }
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("<td>initech-soc</td><td>pull</td>"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("<td>cert-ops</td><td>push</td>"),
        "{}",
        page.body
    );
    // Of the other id, only the CERT's own copy: not ACME's version, nor who pulled it.
    let other = cert
        .get(&format!("{}receipts/", object_path(&id(&copy))))
        .await;
    assert!(
        other.body.contains("<td>cert-ops</td><td>push</td>"),
        "{}",
        other.body
    );
    assert!(
        !other.body.contains("acme-soc") && !other.body.contains("umbrella-soc"),
        "{}",
        other.body
    );
    let missing = "indicator--00000000-0000-4000-8000-000000000000";
    let absent = cert
        .get(&format!("{}receipts/", object_path(missing)))
        .await;
    assert_eq!(absent.status, 404);
    // ACME's push with a refusal: how many were refused is for ACME's moderators.
    let acme_green = sdo("indicator", 4, Some(GREEN2));
    let st = post(
        &s,
        "acme-soc",
        &[acme_green.clone(), sdo("malware", 5, Some(RED2))],
        None,
    )
    .await;
    assert_eq!(st["failure_count"], 1, "{st}");
    let page = cert
        .get(&format!("{}receipts/", object_path(&id(&acme_green))))
        .await;
    assert!(
        page.body.contains("<td>acme-soc</td><td>push</td>"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("refused"), "{}", page.body);
    let mut acme = Browser::sign_in(&s, "acme-soc").await;
    assert_eq!(acme.get(&path).await.status, 403);
    // A RED object has no one-click sighting: its sighting must name recipients.
    let mut umbrella = Browser::sign_in(&s, "umbrella-soc").await;
    let red = umbrella.get(&object_path(&id(&acme_red))).await;
    assert_eq!(red.status, 200, "{}", red.body);
    assert!(red.body.contains("names its recipients") && !red.body.contains("/sighting/\""));
}
