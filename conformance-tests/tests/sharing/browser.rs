//! The web pages in a real browser: headless Chromium driven through chromedriver (WebDriver),
//! both Debian's, installed by scripts/test. A member signs in, comments on an indicator and
//! follows it; another member signs in and reads the comment; the moderator explains who
//! receives the indicator. Screenshots of the pages stay in
//! `target/tmp/web-screenshots/` as the test's artifacts.

use super::fixture::*;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use cairn_conformance::*;
use serde_json::{json, Value};
use std::time::Duration;

/// WebDriver's key of an element reference (W3C WebDriver, "Elements").
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Driver {
    _process: tokio::process::Child,
    base: String,
    session: String,
    http: reqwest::Client,
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

impl Driver {
    async fn start() -> Driver {
        let port = free_port();
        let process = tokio::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver: scripts/test installs Debian's chromium and chromium-driver");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        for _ in 0..100 {
            let up = http.get(format!("{base}/status")).send().await;
            if up.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                         "--disable-gpu", "--window-size=1200,1000"]
            }
        }}});
        let r: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {r}"))
            .to_owned();
        Driver {
            _process: process,
            base,
            session,
            http,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self.http.request(method, url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r: Value = req.send().await.unwrap().json().await.unwrap();
        assert!(r["value"]["error"].is_null(), "{path}: {r}");
        r["value"].clone()
    }

    async fn go(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    async fn find(&self, css: &str) -> String {
        let by = json!({"using": "css selector", "value": css});
        let found = self.call(reqwest::Method::POST, "/element", Some(by)).await;
        let e = found[ELEMENT].as_str();
        e.unwrap_or_else(|| panic!("{css}: {found}")).to_owned()
    }

    async fn type_in(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        let path = format!("/element/{e}/value");
        self.call(reqwest::Method::POST, &path, Some(json!({ "text": text })))
            .await;
    }

    async fn click(&self, css: &str) {
        let e = self.find(css).await;
        let path = format!("/element/{e}/click");
        self.call(reqwest::Method::POST, &path, Some(json!({})))
            .await;
    }

    async fn source(&self) -> String {
        let v = self.call(reqwest::Method::GET, "/source", None).await;
        v.as_str().unwrap().to_owned()
    }

    /// The page once it contains `text`: a submitted form's answer may still be loading.
    async fn until(&self, text: &str) -> String {
        let mut page = String::new();
        for _ in 0..150 {
            page = self.source().await;
            if page.contains(text) {
                return page;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no '{text}' in the page: {page}");
    }

    /// Saves a screenshot of the page as `{name}.png` among the test's artifacts.
    async fn screenshot(&self, name: &str) {
        let v = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let png = STANDARD.decode(v.as_str().unwrap()).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("web-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    async fn sign_in(&self, server: &str, user: &str) {
        self.go(&format!("{server}/web/")).await;
        self.until("Sign in</h1>").await;
        self.type_in("input[name=user]", user).await;
        self.type_in("input[name=password]", PASSWORD).await;
        self.click("main form button").await;
        self.until("Finance ISAC").await;
    }

    async fn quit(self) {
        let url = format!("{}/session/{}", self.base, self.session);
        self.http.delete(url).send().await.ok();
    }
}

#[tokio::test]
async fn a_member_comments_and_follows_in_a_browser_and_another_reads_it() {
    let s = TestServer::start_with(&isac_setup(""), "").await;
    let indicator = sdo("indicator", 1, Some(GREEN2));
    post(&s, "cert-ops", std::slice::from_ref(&indicator), None).await;
    let object = format!("/web/c/finance-isac/o/{}/", id(&indicator));
    let d = Driver::start().await;

    d.sign_in(&s.base, "acme-soc").await;
    d.click("a[href=\"/web/c/finance-isac/\"]").await;
    d.until("indicator 1").await;
    d.screenshot("feed").await;
    d.click(&format!("a[href=\"{object}\"]")).await;
    d.until("Post comment").await;
    d.type_in(
        "form[action$=\"/comment/\"] textarea",
        "Phishing lure seen at ACME",
    )
    .await;
    d.click("form[action$=\"/comment/\"] option[value=green]")
        .await;
    d.click("form[action$=\"/comment/\"] button").await;
    let page = d.until("Your comment was posted.").await;
    assert!(page.contains("Phishing lure seen at ACME"));
    d.click("form[action$=\"/follow/\"] button").await;
    d.until("Stop following").await;
    d.screenshot("object").await;
    d.click("header form button").await;
    d.until("Sign in</h1>").await;

    d.sign_in(&s.base, "initech-soc").await;
    d.go(&format!("{}{object}", s.base)).await;
    let page = d.until("Phishing lure seen at ACME").await;
    assert!(page.contains("note by acme"));
    d.screenshot("object-as-another-member").await;
    d.click("header form button").await;
    d.until("Sign in</h1>").await;

    // The moderator asks why a member receives the indicator.
    d.sign_in(&s.base, "cert-ops").await;
    d.go(&format!("{}{object}", s.base)).await;
    d.click("a[href$=\"/explain/\"]").await;
    d.until("Who receives this object").await;
    d.click("option[value=initech-soc]").await;
    d.click("main form button").await;
    d.until("for initech-soc (partner initech").await;
    d.screenshot("explain").await;
    d.quit().await;
}
