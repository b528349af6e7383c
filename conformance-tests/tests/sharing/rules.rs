//! One test per rule that changes over time: apply changes caps, exclusions and members;
//! escalation; copies of hidden ids; DELETE of delivered versions only; acceptance rules.

use super::fixture::*;
use cairn_conformance::*;
use serde_json::json;

/// The X-TAXII-Date-Added-Last `user` sees now (its polling position).
async fn last_seen(s: &TestServer, user: &str) -> String {
    let r = s
        .get(
            user,
            &format!(
                "{}?match[version]=all&limit=1000",
                TestServer::coll(root(user), ISAC, "manifest/")
            ),
        )
        .await;
    r.header("x-taxii-date-added-last").expect("non-empty")
}

/// What `user` gets polling with added_after = `since`, built-ins left out.
async fn polled_since(s: &TestServer, user: &str, since: &str) -> Vec<String> {
    let path = format!(
        "{}?added_after={}&match[version]=all",
        TestServer::coll(root(user), ISAC, "objects/"),
        enc(since)
    );
    let r = s.get(user, &path).await;
    r.json()["objects"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(id)
        .collect()
}

#[tokio::test]
async fn raising_a_cap_delivers_the_newly_allowed_as_new_and_lowering_it_withdraws() {
    let s = TestServer::start_with(&isac_setup(""), "").await;
    let amber = sdo("malware", 1, Some(AMBER2));
    post(&s, "cert-ops", std::slice::from_ref(&amber), None).await;
    assert!(visible(&s, "initech-soc").await.is_empty());
    let since = last_seen(&s, "initech-soc").await;
    s.clock.advance(chrono::Duration::seconds(1));
    let raised = isac_setup("").replace(
        "partner = \"initech\"\nrole = \"contributor\"\nmax_tlp = \"green\"",
        "partner = \"initech\"\nrole = \"contributor\"\nmax_tlp = \"amber\"",
    );
    assert_eq!(
        s.apply(&raised).await,
        vec!["member initech of finance-isac: changed".to_string()]
    );
    // A poller that had seen everything up to `since` gets it as a new object.
    assert_eq!(
        polled_since(&s, "initech-soc", &since).await,
        vec![id(&amber)]
    );
    s.apply(&isac_setup("")).await;
    assert!(visible(&s, "initech-soc").await.is_empty());
    let r = s
        .get(
            "initech-soc",
            &TestServer::coll("initech", ISAC, &format!("objects/{}/", id(&amber))),
        )
        .await;
    r.assert_error(404);
}

#[tokio::test]
async fn removing_an_exclusion_delivers_as_new() {
    let rule = "[[community.rule]]\nproducer = \"acme\"\nexclude = [\"globex\"]\n";
    let s = TestServer::start_with(&isac_setup(rule), "").await;
    let ind = sdo("indicator", 1, Some(GREEN2));
    post(&s, "acme-soc", std::slice::from_ref(&ind), None).await;
    assert!(visible(&s, "globex-soc").await.is_empty());
    assert_eq!(visible(&s, "initech-soc").await, vec![id(&ind)]);
    let since = last_seen(&s, "globex-soc").await;
    s.clock.advance(chrono::Duration::seconds(1));
    s.apply(&isac_setup("")).await;
    assert_eq!(polled_since(&s, "globex-soc", &since).await, vec![id(&ind)]);
}

#[tokio::test]
async fn a_new_member_receives_the_backlog_only_when_the_community_says_so() {
    for backlog in [true, false] {
        let setup = isac_setup("").replace(
            "title = \"Finance ISAC\"\n",
            &format!("title = \"Finance ISAC\"\nbacklog = {backlog}\n"),
        );
        let without_umbrella = setup.replace(
            "[[community.member]]\npartner = \"umbrella\"\nrole = \"contributor\"\nmax_tlp = \"red\"\n",
            "",
        );
        let s = TestServer::start_with(&without_umbrella, "").await;
        let before = sdo("indicator", 1, Some(GREEN2));
        post(&s, "cert-ops", std::slice::from_ref(&before), None).await;
        s.clock.advance(chrono::Duration::seconds(1));
        s.apply(&setup).await;
        s.clock.advance(chrono::Duration::seconds(1));
        let after = sdo("indicator", 2, Some(GREEN2));
        post(&s, "cert-ops", std::slice::from_ref(&after), None).await;
        let expected = if backlog {
            vec![id(&before), id(&after)]
        } else {
            vec![id(&after)]
        };
        assert_eq!(
            visible(&s, "umbrella-soc").await,
            expected,
            "backlog = {backlog}"
        );
        // The built-in TLP definitions come with the membership either way.
        let r = s
            .get(
                "umbrella-soc",
                &TestServer::coll(
                    "umbrella",
                    ISAC,
                    "objects/?match[type]=extension-definition",
                ),
            )
            .await;
        assert_eq!(r.json()["objects"].as_array().unwrap().len(), 1);
    }
}

#[tokio::test]
async fn escalating_an_object_withdraws_its_versions_from_readers_below_the_new_level() {
    let s = TestServer::start_with(&isac_setup(""), "").await;
    let v1 = sdo("indicator", 1, Some(GREEN2));
    post(&s, "cert-ops", std::slice::from_ref(&v1), None).await;
    assert_eq!(visible(&s, "initech-soc").await, vec![id(&v1)]);
    let mut v2 = v1.clone();
    v2["modified"] = json!("2026-02-01T00:00:00.000Z");
    v2["object_marking_refs"] = json!([AMBER2]);
    post(&s, "cert-ops", &[v2], None).await;
    assert!(visible(&s, "initech-soc").await.is_empty());
    assert_eq!(visible(&s, "globex-soc").await, vec![id(&v1), id(&v1)]);
}

#[tokio::test]
async fn an_escalation_still_under_delay_changes_nothing_yet() {
    let s = TestServer::start_with(
        &isac_setup("[[community.rule]]\nproducer = \"acme\"\ndelay = \"1h\"\n"),
        "",
    )
    .await;
    let v1 = sdo("indicator", 1, Some(GREEN2));
    post(&s, "acme-soc", std::slice::from_ref(&v1), None).await;
    s.clock.advance(chrono::Duration::minutes(61));
    assert_eq!(visible(&s, "initech-soc").await, vec![id(&v1)]);
    let mut v2 = v1.clone();
    v2["modified"] = json!("2026-02-01T00:00:00.000Z");
    v2["object_marking_refs"] = json!([AMBER2]);
    post(&s, "acme-soc", &[v2], None).await;
    assert_eq!(visible(&s, "initech-soc").await, vec![id(&v1)]);
    s.clock.advance(chrono::Duration::minutes(61));
    assert!(visible(&s, "initech-soc").await.is_empty());
}

#[tokio::test]
async fn posting_a_hidden_id_keeps_an_own_copy_and_reveals_nothing() {
    let s = TestServer::start_with(&isac_setup(""), "").await;
    let secret = sdo("malware", 1, Some(AMBER2));
    post(&s, "cert-ops", std::slice::from_ref(&secret), None).await;
    // Initech (capped at GREEN) posts an object with the same id and version, other content.
    let mut copy = secret.clone();
    copy["name"] = json!("initech's own view");
    copy["object_marking_refs"] = json!([GREEN2]);
    let st = post(&s, "initech-soc", std::slice::from_ref(&copy), None).await;
    let fresh = post(&s, "initech-soc", &[sdo("malware", 2, Some(GREEN2))], None).await;
    // Exactly what a new id gets: stored, no message.
    assert_eq!(
        st["successes"][0]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        vec!["id", "version"]
    );
    assert_eq!(
        fresh["successes"][0]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        vec!["id", "version"]
    );
    let r = s
        .get(
            "initech-soc",
            &TestServer::coll("initech", ISAC, &format!("objects/{}/", id(&secret))),
        )
        .await;
    assert_eq!(r.json()["objects"][0]["name"], "initech's own view");
    // Others see one copy per version: the first one added.
    let r = s
        .get(
            "globex-soc",
            &TestServer::coll(
                "globex",
                ISAC,
                &format!("objects/{}/?match[version]=all", id(&secret)),
            ),
        )
        .await;
    let objs = r.json()["objects"].as_array().unwrap().clone();
    assert_eq!(objs.len(), 1);
    assert_eq!(objs[0]["name"], "malware 1");
    // Initech deleting "its" object deletes only its copy.
    let del = s
        .delete(
            "initech-soc",
            &TestServer::coll("initech", ISAC, &format!("objects/{}/", id(&secret))),
        )
        .await;
    assert_eq!(del.status, 200, "{}", del.text());
    let r = s
        .get(
            "cert-ops",
            &TestServer::coll("cert", ISAC, &format!("objects/{}/", id(&secret))),
        )
        .await;
    assert_eq!(r.json()["objects"][0]["name"], "malware 1");
}

#[tokio::test]
async fn delete_acts_only_on_versions_delivered_to_the_caller() {
    let s = TestServer::start_with(&isac_setup(""), "").await;
    // Umbrella posts v1 GREEN and v2 AMBER; Initech (GREEN cap) is delivered nothing of it
    // (the escalation withdraws v1), so its DELETE is a 404 and removes nothing.
    let v1 = sdo("indicator", 1, Some(GREEN2));
    let mut v2 = v1.clone();
    v2["modified"] = json!("2026-02-01T00:00:00.000Z");
    v2["object_marking_refs"] = json!([AMBER2]);
    post(&s, "umbrella-soc", &[v1.clone(), v2], None).await;
    let path = |root: &str| TestServer::coll(root, ISAC, &format!("objects/{}/", id(&v1)));
    s.delete("initech-soc", &path("initech"))
        .await
        .assert_error(404);
    assert_eq!(visible(&s, "cert-ops").await.len(), 2);
    // The moderator deletes the AMBER version only: v1 becomes the latest and returns to Initech.
    let since = last_seen(&s, "initech-soc").await;
    s.clock.advance(chrono::Duration::seconds(1));
    let del = s
        .delete(
            "cert-ops",
            &format!("{}?match[version]=2026-02-01T00:00:00.000Z", path("cert")),
        )
        .await;
    assert_eq!(del.status, 200, "{}", del.text());
    assert_eq!(polled_since(&s, "initech-soc", &since).await, vec![id(&v1)]);
}

#[tokio::test]
async fn unmarked_objects_follow_the_community_setting() {
    let reject = isac_setup("").replace(
        "title = \"Finance ISAC\"\n",
        "title = \"Finance ISAC\"\nunmarked = \"reject\"\n",
    );
    let s = TestServer::start_with(&reject, "").await;
    let st = post(
        &s,
        "cert-ops",
        &[sdo("indicator", 1, None), sdo("indicator", 2, Some(WHITE1))],
        None,
    )
    .await;
    assert_eq!(st["success_count"], 1);
    assert!(
        st["failures"][0]["message"]
            .as_str()
            .unwrap()
            .contains("without a TLP marking"),
        "{st}"
    );

    let green = isac_setup("").replace(
        "title = \"Finance ISAC\"\n",
        "title = \"Finance ISAC\"\nunmarked = \"green\"\n",
    );
    let s = TestServer::start_with(&green, "").await;
    post(&s, "cert-ops", &[sdo("indicator", 1, None)], None).await;
    assert_eq!(visible(&s, "initech-soc").await.len(), 1);
    // Default amber: above Initech's cap.
    let s = TestServer::start_with(&isac_setup(""), "").await;
    post(&s, "cert-ops", &[sdo("indicator", 1, None)], None).await;
    assert!(visible(&s, "initech-soc").await.is_empty());
    assert_eq!(visible(&s, "globex-soc").await.len(), 1);
}

#[tokio::test]
async fn community_types_refuse_other_types() {
    let only = isac_setup("").replace(
        "title = \"Finance ISAC\"\n",
        "title = \"Finance ISAC\"\ntypes = [\"indicator\"]\n",
    );
    let s = TestServer::start_with(&only, "").await;
    let st = post(
        &s,
        "cert-ops",
        &[
            sdo("indicator", 1, Some(GREEN2)),
            sdo("malware", 2, Some(GREEN2)),
        ],
        None,
    )
    .await;
    assert_eq!(st["success_count"], 1);
    assert_eq!(st["failures"][0]["id"], format!("malware--{}", uuid_for(2)));
}

#[tokio::test]
async fn dangling_refs_allow_delivers_what_references_hidden_objects() {
    let allow = isac_setup("").replace(
        "title = \"Finance ISAC\"\n",
        "title = \"Finance ISAC\"\ndangling_refs = \"allow\"\n",
    );
    let s = TestServer::start_with(&allow, "").await;
    let hidden = sdo("malware", 1, Some(AMBER2));
    let ind = sdo("indicator", 2, Some(GREEN2));
    let rel = relationship(3, &ind, &hidden, GREEN2);
    post(&s, "cert-ops", &[hidden, ind.clone(), rel.clone()], None).await;
    assert_eq!(visible(&s, "initech-soc").await, vec![id(&ind), id(&rel)]);
}

#[tokio::test]
async fn a_reference_that_becomes_visible_releases_what_points_at_it() {
    let s = TestServer::start_with(
        &isac_setup("[[community.rule]]\nproducer = \"acme\"\ndelay = \"1h\"\n"),
        "",
    )
    .await;
    let target = sdo("malware", 1, Some(GREEN2));
    post(&s, "acme-soc", std::slice::from_ref(&target), None).await;
    let ind = sdo("indicator", 2, Some(GREEN2));
    let rel = relationship(3, &ind, &target, GREEN2);
    post(&s, "cert-ops", &[ind.clone(), rel.clone()], None).await;
    assert_eq!(visible(&s, "initech-soc").await, vec![id(&ind)]);
    s.clock.advance(chrono::Duration::minutes(61));
    assert_eq!(
        visible(&s, "initech-soc").await,
        vec![id(&ind), id(&target), id(&rel)]
    );
}

/// A relationship that arrives before an object it references is withheld (rule 6), and is
/// delivered when that object arrives: the id was numbered when first referenced and keeps the
/// number, so the arrival finds what points at it.
#[tokio::test]
async fn a_reference_posted_before_its_target_is_delivered_when_the_target_arrives() {
    let s = TestServer::start_with(&isac_setup(""), "").await;
    let target = sdo("malware", 1, Some(GREEN2));
    let ind = sdo("indicator", 2, Some(GREEN2));
    let rel = relationship(3, &ind, &target, GREEN2);
    post(&s, "cert-ops", &[ind.clone(), rel.clone()], None).await;
    assert_eq!(visible(&s, "initech-soc").await, vec![id(&ind)]);
    post(&s, "acme-soc", std::slice::from_ref(&target), None).await;
    assert_eq!(
        visible(&s, "initech-soc").await,
        vec![id(&ind), id(&rel), id(&target)]
    );
}

/// A canonical TLP id spelled in upper case names the same marking, but a consumer matching ids
/// exactly would take the object for unmarked: the object is refused with the exact spelling to
/// use, and nothing is stored or delivered.
#[tokio::test]
async fn a_tlp_id_in_other_letter_case_is_refused() {
    let s = TestServer::start_with(&isac_setup(""), "").await;
    let upper = RED2.replace(
        "e828b379-4e03-4974-9ac4-e53a884c97c1",
        "E828B379-4E03-4974-9AC4-E53A884C97C1",
    );
    let secret = sdo("indicator", 1, Some(&upper));
    let st = post(&s, "cert-ops", std::slice::from_ref(&secret), None).await;
    assert_eq!(
        (st["success_count"].clone(), st["failure_count"].clone()),
        (json!(0), json!(1))
    );
    let message = st["failures"][0]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "/object_marking_refs/0: '{upper}' spells a canonical TLP id in other letter case: write it exactly as {RED2}"
        )),
        "{message}"
    );
    for user in ["cert-ops", "acme-soc", "mssp-feed"] {
        assert!(visible(&s, user).await.is_empty(), "{user}");
    }
}

/// The reference rule exempts only the object's own provenance and marking properties: the same
/// names nested in custom content are references, and an object whose nested `created_by_ref`
/// or `marking_ref` names a hidden object is withheld like any other.
#[tokio::test]
async fn provenance_and_marking_names_nested_in_content_are_references() {
    let s = TestServer::start_with(&isac_setup(""), "").await;
    let hidden = sdo("malware", 1, Some(AMBER2));
    let mut by_creator = sdo("indicator", 2, Some(GREEN2));
    by_creator["x_related"] = json!({ "created_by_ref": id(&hidden) });
    let mut by_marking = sdo("indicator", 3, Some(GREEN2));
    let ext = format!("extension-definition--{}", uuid_for(9));
    by_marking["extensions"] = json!({
        ext: { "extension_type": "property-extension", "marking_ref": id(&hidden) }
    });
    let mut by_list = sdo("indicator", 4, Some(GREEN2));
    by_list["x_related"] = json!({ "object_marking_refs": [id(&hidden)] });
    let plain = sdo("indicator", 5, Some(GREEN2));
    // Beside a granular marking's own marking_ref, and inside a dictionary, under a `_ref`
    // property that holds an object.
    let mut by_granular = sdo("indicator", 6, Some(GREEN2));
    by_granular["granular_markings"] =
        json!([{ "marking_ref": GREEN2, "selectors": ["name"], "x_about_ref": id(&hidden) }]);
    let in_dictionary = json!({
        "type": "language-content", "spec_version": "2.1",
        "id": format!("language-content--{}", uuid_for(7)),
        "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
        "object_ref": id(&plain), "object_modified": "2026-01-01T00:00:00.000Z",
        "contents": { "de": { "x_obj_ref": { "inner_ref": id(&hidden) } } },
        "object_marking_refs": [GREEN2],
    });
    // A list under a `_ref` key, and a lone id under a `_refs` key.
    let mut in_list = in_dictionary.clone();
    in_list["id"] = json!(format!("language-content--{}", uuid_for(8)));
    in_list["contents"] = json!({ "de": { "x_list_ref": [id(&hidden)] } });
    let mut in_string = in_dictionary.clone();
    in_string["id"] = json!(format!("language-content--{}", uuid_for(9)));
    in_string["contents"] = json!({ "de": { "x_one_refs": id(&hidden) } });
    let all = [
        hidden.clone(),
        by_creator.clone(),
        by_marking.clone(),
        by_list.clone(),
        plain.clone(),
        by_granular.clone(),
        in_dictionary.clone(),
        in_list.clone(),
        in_string.clone(),
    ];
    let st = post(&s, "cert-ops", &all, None).await;
    assert_eq!(st["success_count"], 9, "{st}");
    // Initech (cap GREEN) may not see the AMBER malware, so nothing that names it either.
    assert_eq!(visible(&s, "initech-soc").await, vec![id(&plain)]);
    // ACME (cap RED) sees the malware, and so everything.
    assert_eq!(
        visible(&s, "acme-soc").await,
        all.iter().map(id).collect::<Vec<_>>()
    );
}

/// A partner's own copy of an id and version stays what it sees once another partner's earlier
/// copy becomes visible to it: the producer always sees what it contributed, and its pollers do
/// not get the same version again.
#[tokio::test]
async fn an_own_copy_stays_when_another_partners_copy_becomes_visible() {
    let (s, object) = copied_under("").await;
    assert_eq!(names(&s, "globex-soc", &object).await, vec![GLOBEX_VIEW]);
    let since = last_seen(&s, "globex-soc").await;
    s.clock.advance(chrono::Duration::seconds(1));
    s.apply(&isac_setup("")).await;
    assert_eq!(names(&s, "globex-soc", &object).await, vec![GLOBEX_VIEW]);
    assert!(polled_since(&s, "globex-soc", &since).await.is_empty());
    // Everyone else still gets the earliest copy.
    assert_eq!(names(&s, "initech-soc", &object).await, vec!["malware 1"]);
}

const GLOBEX_VIEW: &str = "globex's own view";

/// A server where ACME excludes Globex (with `more` added to its rule), ACME has posted malware 1,
/// and Globex, which cannot see it, has posted the same id and version as its own view. Returns
/// the server and the id.
async fn copied_under(more: &str) -> (TestServer, String) {
    let rule = format!("[[community.rule]]\nproducer = \"acme\"\nexclude = [\"globex\"]\n{more}");
    let s = TestServer::start_with(&isac_setup(&rule), "").await;
    let original = sdo("malware", 1, Some(GREEN2));
    post(&s, "acme-soc", std::slice::from_ref(&original), None).await;
    let mut copy = original.clone();
    copy["name"] = json!(GLOBEX_VIEW);
    post(&s, "globex-soc", std::slice::from_ref(&copy), None).await;
    (s, id(&original))
}

/// The `name` of every version of `object` that `user` gets.
async fn names(s: &TestServer, user: &str, object: &str) -> Vec<String> {
    let path = format!(
        "{}?match[version]=all",
        TestServer::coll(root(user), ISAC, &format!("objects/{object}/"))
    );
    let r = s.get(user, &path).await;
    r.json()["objects"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|o| o["name"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A private copy never reaches another partner: not while the original is under delay, and
/// not once it is released (the reader then gets the original, once).
#[tokio::test]
async fn a_private_copy_never_reaches_others_before_or_after_the_release() {
    let (s, object) = copied_under("delay = \"1h\"\n").await;
    assert!(names(&s, "umbrella-soc", &object).await.is_empty());
    let since = last_seen(&s, "umbrella-soc").await;
    s.clock.advance(chrono::Duration::minutes(61));
    assert_eq!(
        polled_since(&s, "umbrella-soc", &since).await,
        vec![object.clone()]
    );
    assert_eq!(names(&s, "umbrella-soc", &object).await, vec!["malware 1"]);
    // Each producer sees its own throughout.
    assert_eq!(names(&s, "acme-soc", &object).await, vec!["malware 1"]);
    assert_eq!(names(&s, "globex-soc", &object).await, vec![GLOBEX_VIEW]);
}
