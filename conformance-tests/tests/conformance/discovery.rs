//! TAXII 2.1 section 4.1 (server discovery) and 4.2 (API root), plus HTTP Basic (section 1.6.5).

use cairn_conformance::*;

#[tokio::test]
async fn discovery_lists_only_the_callers_api_root() {
    let s = TestServer::start().await;
    let r = s.get("acme-soc", "/taxii2/").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type().as_deref(), Some(TAXII));
    let j = r.json();
    let root = format!("{}/acme/", s.base);
    assert_eq!(j["api_roots"], serde_json::json!([root]));
    assert_eq!(j["default"], serde_json::json!(root));
    assert_eq!(j["title"], "Cairn");
}
