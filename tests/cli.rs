//! The `cairn` binary as an operator uses it: `check`, `apply` (passwords from the environment,
//! idempotent), and `serve` on the shipped config/cairn.toml creating its data directory.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_cairn");

fn cairn(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir).args(args).env_remove("RUST_BACKTRACE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("cairn runs")
}

/// A working directory with the example setup applied.
fn applied_workdir() -> tempfile::TempDir {
    let dir = workdir();
    let apply = cairn(
        dir.path(),
        &["apply", "config/example-setup.toml"],
        &PASSWORDS,
    );
    assert!(apply.status.success(), "{}", stderr(&apply));
    dir
}

/// A copy of the shipped config directory in a fresh working directory.
fn workdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir(dir.path().join("config")).unwrap();
    for f in ["cairn.toml", "example-setup.toml"] {
        std::fs::copy(
            root.join("config").join(f),
            dir.path().join("config").join(f),
        )
        .unwrap();
    }
    dir
}

const PASSWORDS: [(&str, &str); 6] = [
    ("CERT_OPS_PASSWORD", "cert pw"),
    ("ACME_SOC_PASSWORD", "acme pw"),
    ("GLOBEX_SOC_PASSWORD", "globex pw"),
    ("INITECH_SOC_PASSWORD", "initech pw"),
    ("UMBRELLA_SOC_PASSWORD", "umbrella pw"),
    ("MSSP_FEED_PASSWORD", "mssp pw"),
];

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn example_setup_checks_applies_and_reapplies_with_no_changes() {
    let dir = workdir();
    let check = cairn(
        dir.path(),
        &["check", "config/example-setup.toml"],
        &PASSWORDS,
    );
    assert!(check.status.success(), "{}", stderr(&check));
    assert!(
        stdout(&check).contains("would apply: partner acme: added"),
        "{}",
        stdout(&check)
    );
    assert!(
        !dir.path().join("data").exists(),
        "check must not create the database"
    );

    let apply = cairn(
        dir.path(),
        &["apply", "config/example-setup.toml"],
        &PASSWORDS,
    );
    assert!(apply.status.success(), "{}", stderr(&apply));
    let out = stdout(&apply);
    assert!(out.contains("community finance-isac: added"), "{out}");
    assert!(out.contains("rule of acme in finance-isac: added"), "{out}");
    assert!(dir.path().join("data/cairn.db").exists());

    let again = cairn(
        dir.path(),
        &["apply", "config/example-setup.toml"],
        &PASSWORDS,
    );
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(stdout(&again), "no changes\n");
    let check = cairn(
        dir.path(),
        &["check", "config/example-setup.toml"],
        &PASSWORDS,
    );
    assert_eq!(stdout(&check), "no changes\n");
}

#[test]
fn apply_without_the_password_variable_names_file_entry_and_key_and_changes_nothing() {
    let dir = workdir();
    let env: Vec<(&str, &str)> = PASSWORDS
        .iter()
        .copied()
        .filter(|(k, _)| *k != "GLOBEX_SOC_PASSWORD")
        .collect();
    let out = cairn(dir.path(), &["apply", "config/example-setup.toml"], &env);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("config/example-setup.toml: [[user]] 'globex-soc': password: environment variable GLOBEX_SOC_PASSWORD is not set"),
        "{err}"
    );
    // All or nothing: a later full apply still adds everything.
    let ok = cairn(
        dir.path(),
        &["apply", "config/example-setup.toml"],
        &PASSWORDS,
    );
    assert!(
        stdout(&ok).contains("partner acme: added"),
        "{}",
        stdout(&ok)
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `authorization` is the whole header value (`Basic ...`, `Bearer ...`).
fn http_get(port: u16, path: &str, authorization: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: {authorization}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

#[test]
fn serve_on_the_shipped_config_creates_its_database_and_answers_discovery() {
    use base64::Engine;
    let dir = applied_workdir();
    std::fs::remove_dir_all(dir.path().join("data")).unwrap();
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("acme-soc:acme pw")
    );
    let (mut child, _, answer) = serve(dir.path(), &auth, &[], Stdio::null());
    let _ = child.kill();
    let _ = child.wait();
    let answer = answer.expect("server answered");
    // A fresh database (data/ was removed) has no users yet: the schema exists, login fails.
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(dir.path().join("data/cairn.db").exists());
}

#[test]
fn validate_prints_one_line_per_problem_and_fails_on_any() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle.json");
    std::fs::write(
        &bundle,
        r#"{"type":"bundle","id":"bundle--6f3e8f40-2d8e-4b5c-9a4f-000000000001","objects":[
        {"type":"malware","spec_version":"2.1","id":"malware--6f3e8f40-2d8e-4b5c-9a4f-000000000002",
         "created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","name":"m","is_family":false},
        {"type":"indicator","spec_version":"2.1","id":"indicator--6f3e8f40-2d8e-4b5c-9a4f-000000000003",
         "created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z",
         "pattern":"[ipv4-addr:value = '198.51.100.1']","pattern_type":"stix",
         "valid_from":"2024-01-01T00:00:00Z","valid_until":"2023-01-01T00:00:00Z"}]}"#,
    )
    .unwrap();
    let out = cairn(dir.path(), &["validate", "bundle.json"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out),
        "bundle.json: indicator--6f3e8f40-2d8e-4b5c-9a4f-000000000003: /valid_until: must be later than valid_from (2024-01-01T00:00:00Z)\n1 valid, 1 invalid\n"
    );
    let good = dir.path().join("good.json");
    std::fs::write(&good, r#"{"objects":[]}"#).unwrap();
    let out = cairn(dir.path(), &["validate", "good.json"], &[]);
    assert!(out.status.success());
    assert_eq!(stdout(&out), "0 valid, 0 invalid\n");
}

/// Entries that would apply but do harm are refused with the file, the entry and the key: a
/// password hash nothing can match (or that makes every login costly), a community id shaped
/// like a collection UUID, and a delay past a century (which once overflowed).
#[test]
fn harmful_entries_are_refused_naming_file_entry_and_key() {
    let dir = workdir();
    let base = "[[partner]]\nid = \"cert\"\ntitle = \"CERT\"\n";
    let cases = [
        (
            "[[user]]\nname = \"ops\"\npartner = \"cert\"\npassword_hash = \"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ\"\n",
            "[[user]] 'ops': password_hash: must be an argon2id PHC string ($argon2id$v=19$...): it has no salt or no hash: nothing could ever match it",
        ),
        (
            "[[user]]\nname = \"ops\"\npartner = \"cert\"\npassword_hash = \"$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA\"\n",
            "[[user]] 'ops': password_hash: must be an argon2id PHC string ($argon2id$v=19$...): it asks m=4194304, t=2, p=1 of every login: at most m=262144, t=10, p=8",
        ),
        (
            "[[community]]\nid = \"2f0e4c8e-6b1a-4c55-9d8e-6f1b7e0a9c11\"\ncollection = \"3f0e4c8e-6b1a-4c55-9d8e-6f1b7e0a9c11\"\ntitle = \"x\"\n",
            "[[community]] '2f0e4c8e-6b1a-4c55-9d8e-6f1b7e0a9c11': id: must not have the form of a UUID (collection ids have it)",
        ),
        (
            "[[community]]\nid = \"isac\"\ncollection = \"3f0e4c8e-6b1a-4c55-9d8e-6f1b7e0a9c11\"\ntitle = \"x\"\ndelay = \"144115188075855872d\"\n",
            "'144115188075855872d' is longer than 36500d",
        ),
    ];
    for (i, (entry, wanted)) in cases.iter().enumerate() {
        let file = format!("config/bad-{i}.toml");
        std::fs::write(dir.path().join(&file), format!("{base}{entry}")).unwrap();
        let out = cairn(dir.path(), &["apply", &file], &[]);
        assert_eq!(out.status.code(), Some(1), "{file}: {}", stdout(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!("{file}: ")) && err.contains(wanted),
            "{file}: {err}"
        );
    }
    // Nothing was applied: the good partner of those files is still new.
    std::fs::write(dir.path().join("config/good.toml"), base).unwrap();
    let ok = cairn(dir.path(), &["apply", "config/good.toml"], &[]);
    assert_eq!(stdout(&ok), "partner cert: added\n", "{}", stderr(&ok));
}

/// Starts `cairn serve` in `dir` on a free port with `env`, its stderr as `stderr`; returns the
/// child, its port and the first answer to `GET /taxii2/` with `authorization`, once it answers.
fn serve(
    dir: &Path,
    authorization: &str,
    env: &[(&str, &str)],
    stderr: Stdio,
) -> (std::process::Child, u16, Option<String>) {
    let port = free_port();
    let child = Command::new(BIN)
        .current_dir(dir)
        .args(["serve"])
        .env("CAIRN_SERVER__BIND", format!("127.0.0.1:{port}"))
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    // Readiness is the listener accepting; give it up to 30 s on a loaded machine.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut answer = None;
    while Instant::now() < deadline && answer.is_none() {
        answer = http_get(port, "/taxii2/", authorization);
        // Polling a child process for readiness, not timing an assertion.
        #[allow(clippy::disallowed_methods)]
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, port, answer)
}

#[test]
fn token_create_prints_it_once_list_hides_it_and_revoke_stops_a_running_server() {
    let dir = applied_workdir();
    let create = cairn(
        dir.path(),
        &[
            "token",
            "create",
            "--user",
            "acme-soc",
            "--note",
            "Sentinel prod",
            "--expires",
            "90d",
        ],
        &[],
    );
    assert!(create.status.success(), "{}", stderr(&create));
    let out = stdout(&create);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    let id = lines[0].strip_prefix("id ").expect("id line");
    let token = lines[1].strip_prefix("token ").expect("token line");
    let list = stdout(&cairn(
        dir.path(),
        &["token", "list", "--user", "acme-soc"],
        &[],
    ));
    assert!(
        list.contains(id) && list.contains("Sentinel prod") && list.contains("\tactive\t"),
        "{list}"
    );
    assert!(!list.contains(&token[23..]), "{list}");
    let unknown = cairn(dir.path(), &["token", "create", "--user", "nobody"], &[]);
    assert!(!unknown.status.success());
    assert!(
        stderr(&unknown).contains("no enabled user 'nobody'"),
        "{}",
        stderr(&unknown)
    );

    let bearer = format!("Bearer {token}");
    let (mut child, port, _) = serve(dir.path(), &bearer, &[], Stdio::null());
    let before = http_get(port, "/taxii2/", &bearer).unwrap_or_default();
    let revoke = cairn(dir.path(), &["token", "revoke", id], &[]);
    let after = http_get(port, "/taxii2/", &bearer).unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    assert!(before.starts_with("HTTP/1.1 200"), "{before}");
    assert_eq!(stdout(&revoke).trim(), format!("revoked {id}"));
    assert!(after.starts_with("HTTP/1.1 401"), "{after}");
}

#[test]
fn json_logs_carry_the_error_id_a_taxii_error_shows_the_client() {
    let dir = workdir();
    let env = [("CAIRN_SERVER__LOG_FORMAT", "json"), ("RUST_LOG", "info")];
    let nobody = "Basic bm9ib2R5Om5vdGhpbmc=";
    let (mut child, _, answer) = serve(dir.path(), nobody, &env, Stdio::piped());
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let answer = answer.expect("server answered");
    let body = &answer[answer.find("\r\n\r\n").unwrap() + 4..];
    let body = body.trim_start_matches(|c: char| c.is_ascii_hexdigit() || c.is_whitespace());
    let error_id = body
        .split("\"error_id\":\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let log = stderr(&out);
    let logged = log.lines().any(|line| {
        let v: serde_json::Value = serde_json::from_str(line).expect("every line is JSON");
        v["fields"]["error_id"] == error_id && v["level"] == "INFO"
    });
    assert!(logged, "{error_id} not in:\n{log}");
}

#[test]
fn receipts_name_an_object_or_a_user() {
    let dir = applied_workdir();
    let neither = cairn(dir.path(), &["receipts"], &[]);
    assert!(!neither.status.success());
    assert!(
        stderr(&neither).contains("name an OBJECT_ID, or --user USER"),
        "{}",
        stderr(&neither)
    );
    let bad = cairn(
        dir.path(),
        &["receipts", "--user", "acme-soc", "--since", "yesterday"],
        &[],
    );
    assert!(
        stderr(&bad).contains("--since: 'yesterday'"),
        "{}",
        stderr(&bad)
    );
    let none = cairn(
        dir.path(),
        &[
            "receipts",
            "--user",
            "acme-soc",
            "--since",
            "2026-01-01T00:00:00Z",
        ],
        &[],
    );
    assert_eq!(stdout(&none), "when\tcommunity\tkind\tobject\tversion\n");
    let object = cairn(
        dir.path(),
        &[
            "receipts",
            "indicator--6f3e8f40-2d8e-4b5c-9a4f-000000000001",
        ],
        &[],
    );
    assert_eq!(stdout(&object), "when\tuser\tkind\tcommunity\tversion\n");
}

fn import_indicator(n: u32) -> serde_json::Value {
    serde_json::json!({
        "type": "indicator", "spec_version": "2.1",
        "id": format!("indicator--6f3e8f40-2d8e-4b5c-9a4f-{n:012x}"),
        "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
        "pattern": "[ipv4-addr:value = '198.51.100.7']", "pattern_type": "stix",
        "valid_from": "2026-01-01T00:00:00Z",
        "object_marking_refs": ["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"],
    })
}

#[test]
fn import_streams_bundles_and_json_lines_and_lists_each_refusal() {
    let dir = applied_workdir();
    let mut objects: Vec<serde_json::Value> = (1..=2500).map(import_indicator).collect();
    objects[10]["pattern"] = serde_json::json!("[not a pattern");
    objects[2000]["modified"] = serde_json::json!("2025-01-01T00:00:00.000Z");
    let bundle = serde_json::json!({
        "type": "bundle", "id": "bundle--0a4b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
        "objects": objects,
    });
    std::fs::write(
        dir.path().join("big.json"),
        serde_json::to_vec_pretty(&bundle).unwrap(),
    )
    .unwrap();
    let lines: Vec<String> = (3001..=3010)
        .map(|n| import_indicator(n).to_string())
        .collect();
    std::fs::write(dir.path().join("more.jsonl"), lines.join("\n") + "\n").unwrap();
    let import = cairn(
        dir.path(),
        &[
            "import",
            "big.json",
            "more.jsonl",
            "--community",
            "finance-isac",
            "--as",
            "cert-ops",
        ],
        &[],
    );
    let out = stdout(&import);
    let refused: Vec<&str> = out.lines().filter(|l| l.starts_with("refused ")).collect();
    assert_eq!(refused.len(), 2, "{out}\n{}", stderr(&import));
    assert!(
        refused[0].starts_with("refused indicator--6f3e8f40-2d8e-4b5c-9a4f-00000000000b "),
        "{out}"
    );
    assert!(
        refused[1].contains("-0000000007d1 ") && refused[1].contains("modified"),
        "{out}"
    );
    assert!(
        out.ends_with(
            "imported 2510 objects into finance-isac as cert-ops: 2508 accepted, 2 refused\n"
        ),
        "{out}"
    );
    assert!(
        !import.status.success(),
        "a refusal makes the exit status 1"
    );
    assert!(
        stderr(&import).contains("2510 objects"),
        "{}",
        stderr(&import)
    );
    // Stored as posts by cert-ops: one receipt line per version.
    let receipts = cairn(dir.path(), &["receipts", "--user", "cert-ops"], &[]);
    assert_eq!(stdout(&receipts).lines().count(), 1 + 2508);
    // A reader cannot import.
    let reader = cairn(
        dir.path(),
        &[
            "import",
            "more.jsonl",
            "--community",
            "finance-isac",
            "--as",
            "mssp-feed",
        ],
        &[],
    );
    assert!(!reader.status.success());
    assert!(stderr(&reader).contains("reader"), "{}", stderr(&reader));
}

#[test]
fn import_names_red_recipients_as_the_header_does() {
    let dir = applied_workdir();
    let mut red = import_indicator(1);
    red["object_marking_refs"] =
        serde_json::json!(["marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"]);
    std::fs::write(dir.path().join("red.jsonl"), format!("{red}\n")).unwrap();
    let args = [
        "import",
        "red.jsonl",
        "--community",
        "finance-isac",
        "--as",
        "cert-ops",
    ];
    let without = cairn(dir.path(), &args, &[]);
    assert!(
        stdout(&without).contains("TLP:RED needs its recipients"),
        "{}",
        stdout(&without)
    );
    let with = cairn(
        dir.path(),
        &[&args[..], &["--recipients", "acme"]].concat(),
        &[],
    );
    assert!(with.status.success(), "{}{}", stdout(&with), stderr(&with));
    assert!(
        stdout(&with).ends_with(": 1 accepted, 0 refused\n"),
        "{}",
        stdout(&with)
    );
}

#[test]
fn import_refuses_to_skip_what_follows_a_first_document() {
    let dir = applied_workdir();
    let envelope = |n: u32| serde_json::json!({ "objects": [import_indicator(n)] }).to_string();
    let text = format!("{}\n{}\n", envelope(1), envelope(2));
    std::fs::write(dir.path().join("two.json"), text).unwrap();
    let args = [
        "import",
        "two.json",
        "--community",
        "finance-isac",
        "--as",
        "cert-ops",
    ];
    let out = cairn(dir.path(), &args, &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("more after the first JSON document"),
        "{}",
        stderr(&out)
    );
}
