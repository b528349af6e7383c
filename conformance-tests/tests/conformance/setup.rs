//! The setup file (docs/setup-file.md) as it shows over TAXII: `apply` is declarative and
//! idempotent, what it no longer names is disabled at once, and a bad file changes nothing.

use cairn_conformance::*;

#[tokio::test]
async fn reapplying_the_same_file_changes_nothing() {
    let s = TestServer::start().await;
    assert_eq!(s.apply(&standard_setup()).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_user_the_file_no_longer_names_is_disabled_at_once() {
    let s = TestServer::start().await;
    assert_eq!(s.get("acme-bot", "/taxii2/").await.status, 200);
    let without = standard_setup().replace("name = \"acme-bot\"", "name = \"acme-robot\"");
    let changes = s.apply(&without).await;
    assert!(
        changes.contains(&"user acme-bot: disabled".to_string()),
        "{changes:?}"
    );
    assert!(
        changes.contains(&"user acme-robot: added".to_string()),
        "{changes:?}"
    );
    s.get("acme-bot", "/taxii2/").await.assert_error(401);
    assert_eq!(s.get("acme-robot", "/taxii2/").await.status, 200);
}

#[tokio::test]
async fn a_removed_membership_hides_the_collection_and_keeps_its_objects() {
    let s = TestServer::start().await;
    s.post_objects("acme-soc", &[indicator(1, "2026-01-01T00:00:00.000Z")])
        .await;
    let objects = TestServer::coll("initech", FINANCE, "objects/");
    assert_eq!(
        posted_ids(&s.get("initech-soc", &objects).await),
        vec![format!("indicator--{}", uuid_for(1))]
    );
    let without = standard_setup().replace(
        "[[community.member]]\npartner = \"initech\"\nrole = \"reader\"\n",
        "",
    );
    let changes = s.apply(&without).await;
    assert_eq!(
        changes,
        vec!["member initech of finance-isac: disabled".to_string()]
    );
    s.get("initech-soc", &objects).await.assert_error(404);
    assert_eq!(
        s.get("initech-soc", "/initech/collections/").await.text(),
        "{}"
    );
    // The community's data is untouched for the others.
    assert_eq!(
        posted_ids(
            &s.get("acme-soc", &TestServer::coll("acme", FINANCE, "objects/"))
                .await
        ),
        vec![format!("indicator--{}", uuid_for(1))]
    );
}

#[tokio::test]
async fn a_role_change_takes_effect_on_the_next_request() {
    let s = TestServer::start().await;
    let path = TestServer::coll("initech", FINANCE, "objects/");
    let body = serde_json::to_vec(&serde_json::json!({"objects": [malware(1)]})).unwrap();
    s.post("initech-soc", &path, body.clone())
        .await
        .assert_error(403);
    let promoted = standard_setup().replace(
        "partner = \"initech\"\nrole = \"reader\"",
        "partner = \"initech\"\nrole = \"contributor\"",
    );
    assert_eq!(
        s.apply(&promoted).await,
        vec!["member initech of finance-isac: changed".to_string()]
    );
    assert_eq!(s.post("initech-soc", &path, body).await.status, 202);
}

#[tokio::test]
async fn errors_name_the_file_the_entry_and_the_key() {
    let cases = [
        (standard_setup().replace("partner = \"globex\"\npassword_hash", "partner = \"globx\"\npassword_hash"),
         "setup.toml: [[user]] 'globex-soc': partner: unknown partner 'globx'"),
        (standard_setup().replace("role = \"reader\"", "role = \"lurker\""),
         "setup.toml: [[community]] 'finance-isac' [[community.member]] 'initech': role: 'lurker' is not moderator, contributor or reader"),
        (standard_setup().replace(FINANCE, "not-a-uuid"),
         "setup.toml: [[community]] 'finance-isac': collection: 'not-a-uuid' is not a UUIDv4"),
        (format!("{}\n[[partner]]\nid = \"Bad Id\"\ntitle = \"x\"\n", standard_setup()),
         "setup.toml: [[partner]] 'Bad Id': id: must be 2-63 characters of a-z, 0-9 and '-'"),
        (standard_setup().replace("id = \"acme\"\ntitle = \"ACME Bank\"\n", "id = \"acme\"\ntitle = \"ACME Bank\"\nidentity = \"identity--NOPE\"\n"),
         "setup.toml: [[partner]] 'acme': identity: must be identity--<UUID>, in lower case"),
        (standard_setup().replace("name = \"initech-soc\"\npartner = \"initech\"\n", "name = \"initech-soc\"\npartner = \"initech\"\nmax_tlp = \"purple\"\n"),
         "setup.toml: [[user]] 'initech-soc': max_tlp: 'purple' is not a TLP level (clear, white, green, amber, amber+strict, red)"),
    ];
    for (text, expected) in cases {
        let err = plan_setup(&text, &|_| None).unwrap_err();
        assert_eq!(err.to_string(), expected);
    }
    // Unknown keys are refused by name, so a typo never silently widens access.
    let typo =
        standard_setup().replace("role = \"reader\"", "role = \"reader\"\nmax_tpl = \"red\"");
    let err = cairn::setup::parse("setup.toml", &typo)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("setup.toml: ") && err.contains("max_tpl"),
        "{err}"
    );
}

#[tokio::test]
async fn a_failed_apply_changes_nothing() {
    let s = TestServer::start().await;
    let parsed = cairn::setup::parse(
        "setup.toml",
        &standard_setup()
            .replace("name = \"acme-bot\"", "name = \"acme-robot\"")
            .replace("role = \"reader\"", "role = \"lurker\""),
    )
    .unwrap();
    let storage = cairn::startup::open_storage(&s.config).await.unwrap();
    let result = tokio::task::spawn_blocking(move || {
        storage.write_now(|c| {
            cairn::setup::apply(
                c,
                "setup.toml",
                &parsed,
                &|_| None,
                cairn::stix::timestamp::Timestamp::EPOCH,
            )
            .map_err(|e| cairn::storage::StorageError::Task(e.to_string()))
        })
    })
    .await
    .unwrap();
    assert!(result.is_err());
    assert_eq!(s.get("acme-bot", "/taxii2/").await.status, 200);
    s.get("acme-robot", "/taxii2/").await.assert_error(401);
}

#[tokio::test]
async fn passwords_come_from_the_environment_and_plain_ones_are_refused() {
    let s = TestServer::start().await;
    assert_eq!(s.get("acme-bot", "/taxii2/").await.status, 200);
    let with_env = standard_setup().replace(
        &format!(
            "name = \"acme-bot\"\npartner = \"acme\"\npassword_hash = \"{}\"",
            password_hash()
        ),
        "name = \"acme-bot\"\npartner = \"acme\"\npassword = \"env:BOT_PW\"",
    );
    let parsed = cairn::setup::parse("setup.toml", &with_env).unwrap();
    let storage = cairn::startup::open_storage(&s.config).await.unwrap();
    let changes = tokio::task::spawn_blocking(move || {
        storage
            .write_now(|c| {
                let env = |name: &str| (name == "BOT_PW").then(|| "a new password".to_string());
                let epoch = cairn::stix::timestamp::Timestamp::EPOCH;
                let mut apply = || {
                    cairn::setup::apply(c, "setup.toml", &parsed, &env, epoch)
                        .map_err(|e| cairn::storage::StorageError::Task(e.to_string()))
                };
                let first = apply()?;
                // The same password again keeps the stored hash: nothing to change.
                let second = apply()?;
                Ok((first, second))
            })
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(changes.0, vec!["user acme-bot: changed".to_string()]);
    assert!(changes.1.is_empty());
    // The old password stops working at once, although it was just used (and remembered).
    s.get("acme-bot", "/taxii2/").await.assert_error(401);
    let r = s
        .client
        .get(s.url("/taxii2/"))
        .basic_auth("acme-bot", Some("a new password"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let plain = with_env.replace("env:BOT_PW", "hunter2");
    let err = plan_setup(&plain, &|_| None).unwrap_err();
    assert!(
        err.to_string()
            .contains("'acme-bot': password: must be \"env:VARIABLE\""),
        "{err}"
    );
}

/// Runs `sql` on the server's database behind Cairn's back (a hand edit, another version).
async fn edit_database(s: &TestServer, sql: &'static str) {
    use diesel::connection::SimpleConnection;
    let storage = cairn::startup::open_storage(&s.config).await.unwrap();
    tokio::task::spawn_blocking(move || storage.write_now(|c| Ok(c.batch_execute(sql)?)).unwrap())
        .await
        .unwrap()
}

/// Objects of `user`'s page of finance-isac, without the built-ins; asserts a 200.
async fn seen(s: &TestServer, user: &str) -> Vec<String> {
    let path = TestServer::coll(user_root(user), FINANCE, "objects/");
    posted_ids(&s.get(user, &path).await)
}

/// A stored setting Cairn cannot read fails the request that needs it (a 500 TAXII error), on
/// both engines; it never reads as a more permissive value (an unreadable `exclude` as
/// "nobody excluded", an unreadable `unmarked` as TLP:CLEAR). `cairn apply` repairs it.
#[tokio::test]
async fn an_unreadable_stored_setting_fails_closed() {
    let setup = standard_setup().replace(
        "role = \"reader\"\n",
        "role = \"reader\"\nmax_tlp = \"green\"\n[[community.rule]]\nproducer = \"acme\"\n\
         exclude = [\"globex\"]\ndelay = \"1h\"\n",
    );
    let s = TestServer::start_with(&setup, "").await;
    let mut green = indicator(1, "2026-01-01T00:00:00.000Z");
    green["object_marking_refs"] = serde_json::json!([BUILTIN_IDS[1]]);
    let unmarked = indicator(2, "2026-01-01T00:00:00.000Z");
    s.post_objects("acme-soc", &[green.clone(), unmarked.clone()])
        .await;
    let id = |o: &serde_json::Value| o["id"].as_str().unwrap().to_owned();

    // An exclude list that is not JSON, read once the delay has passed.
    edit_database(
        &s,
        "UPDATE sharing_rules SET exclude = 'globex' WHERE producer_id = 'acme'",
    )
    .await;
    s.clock.advance(chrono::Duration::hours(2));
    let path = TestServer::coll("globex", FINANCE, "objects/");
    s.get("globex-soc", &path).await.assert_error(500);
    let path = TestServer::coll("initech", FINANCE, "objects/");
    s.get("initech-soc", &path).await.assert_error(500);
    assert_eq!(
        s.apply(&setup).await,
        vec!["rule of acme in finance-isac: changed"]
    );
    assert!(seen(&s, "globex-soc").await.is_empty());
    assert_eq!(seen(&s, "initech-soc").await, vec![id(&green)]);

    // An unmarked level no parser reads: the POST that needs it and the reader it would reach.
    let later = indicator(3, "2026-01-01T00:00:00.000Z");
    s.post_objects("acme-soc", std::slice::from_ref(&later))
        .await;
    edit_database(
        &s,
        "UPDATE communities SET unmarked = 'nonsense' WHERE id = 'finance-isac'",
    )
    .await;
    let body = serde_json::json!({ "objects": [indicator(4, "2026-01-01T00:00:00.000Z")] });
    let path = TestServer::coll("acme", FINANCE, "objects/");
    s.post("acme-soc", &path, body.to_string())
        .await
        .assert_error(500);
    s.clock.advance(chrono::Duration::hours(2));
    let path = TestServer::coll("initech", FINANCE, "objects/");
    s.get("initech-soc", &path).await.assert_error(500);
    assert_eq!(
        s.apply(&setup).await,
        vec!["community finance-isac: changed"]
    );
    assert_eq!(seen(&s, "initech-soc").await, vec![id(&green)]);
    assert_eq!(
        seen(&s, "acme-soc").await,
        vec![id(&green), id(&unmarked), id(&later)]
    );
}
