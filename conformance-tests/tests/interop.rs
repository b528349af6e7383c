//! Interoperability with the OASIS reference client `taxii2-client` (PyPI): discovery,
//! collections, add_objects, get_objects, as_pages, manifest, versions and delete, plus a
//! 1,000-object envelope pushed with curl and read back through as_pages(limit=100) exactly once
//! each, in order, byte-identical, and a read-only API token as its TokenAuth and as the Basic
//! password. `scripts/test` creates the virtual environment.

use cairn_conformance::*;
use std::path::PathBuf;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taxii2_client_drives_every_endpoint() {
    let s = TestServer::start().await;
    let (_, token) = s.token("acme-soc", true, None).await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("interop/taxii2_client_interop.py");
    let out = tokio::process::Command::new(python())
        .arg(script)
        .args([
            "--url",
            &s.base,
            "--api-root",
            "acme",
            "--collection-alias",
            "finance-isac",
        ])
        .args([
            "--user",
            "acme-soc",
            "--password",
            PASSWORD,
            "--seed",
            "20261127",
            "--token",
            &token,
        ])
        .output()
        .await
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "interop checks failed:\n{stdout}\n{stderr}"
    );
    let last = stdout.lines().last().unwrap_or_default();
    assert_eq!(last, "10 passed, 0 failed", "{stdout}");
}
