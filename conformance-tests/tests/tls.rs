//! TLS (TAXII 2.1 section 1.6.1: TLS 1.2 or later): with [tls] the server speaks HTTPS only, over
//! TLS 1.2 and 1.3; plain HTTP on a non-loopback address is refused unless allow_plain_http.

use cairn::config::Config;
use cairn::startup::Application;
use cairn_conformance::*;
use std::path::Path;

struct Tls {
    _dir: tempfile::TempDir,
    cert_pem: String,
    extra: String,
}

fn self_signed() -> Tls {
    let dir = tempfile::tempdir().unwrap();
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    let cert_pem = cert.cert.pem();
    let (c, k) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&c, &cert_pem).unwrap();
    std::fs::write(&k, cert.key_pair.serialize_pem()).unwrap();
    let extra = format!(
        "[tls]\ncert = \"{}\"\nkey = \"{}\"\n",
        c.display(),
        k.display()
    );
    Tls {
        _dir: dir,
        cert_pem,
        extra,
    }
}

fn client(cert_pem: &str, version: reqwest::tls::Version) -> reqwest::Client {
    reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap())
        .min_tls_version(version)
        .max_tls_version(version)
        .build()
        .unwrap()
}

#[tokio::test]
async fn https_serves_tls_1_2_and_1_3() {
    let tls = self_signed();
    let s = TestServer::start_with(&standard_setup(), &tls.extra).await;
    let url = format!("https://localhost:{}/taxii2/", s.port);
    for v in [
        reqwest::tls::Version::TLS_1_2,
        reqwest::tls::Version::TLS_1_3,
    ] {
        let r = client(&tls.cert_pem, v)
            .get(&url)
            .basic_auth("acme-soc", Some(PASSWORD))
            .header("Accept", TAXII)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{v:?}");
        assert_eq!(
            r.json::<serde_json::Value>().await.unwrap()["api_roots"][0],
            format!("https://localhost:{}/acme/", s.port)
        );
    }
    // The same port does not answer plain HTTP.
    let plain = s
        .client
        .get(format!("http://127.0.0.1:{}/taxii2/", s.port))
        .send()
        .await;
    assert!(plain.is_err() || plain.unwrap().status() != 200);
}

fn config(extra_server: &str) -> Config {
    let text = format!("[server]\nbind = \"0.0.0.0:0\"\nworkers = 1\n{extra_server}\n[storage]\nurl = \"sqlite::memory:\"\n");
    Config::from_parts(Path::new("t.toml"), &text, Vec::<(String, String)>::new()).unwrap()
}

#[tokio::test]
async fn plain_http_on_a_public_address_is_refused_unless_allowed() {
    let err = Application::build(config("")).await.err().expect("refused");
    assert!(
        err.to_string()
            .starts_with("refusing plain HTTP on non-loopback address"),
        "{err}"
    );
    let app = Application::build(config("allow_plain_http = true"))
        .await
        .expect("allowed behind a proxy");
    assert_ne!(app.port(), 0);
}
