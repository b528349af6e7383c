//! Keeps what every reader receives equal to what the delivery decision allows: loads a snapshot
//! of the community (`storage`), asks the sharing engine for the changes (`sharing::plan`, which
//! decides everything and reads nothing), and has storage write them. A version that becomes
//! deliverable gets the reader's next date_added (the moment it became deliverable to that
//! reader), so pollers never miss it.

use crate::sharing::decision::{self, ReaderCaps};
use crate::sharing::facts::Version;
use crate::sharing::plan;
use crate::stix::timestamp::Timestamp;
use crate::storage::objects;
use crate::storage::snapshot::{self, Setting, Targets};
pub use crate::storage::snapshot::{Fresh, Scope};
use crate::storage::streams;
use crate::storage::{setup, Conn, StorageError};
use std::collections::HashMap;

/// Brings what the readers of `community` receive of `scope` in line with the decision at
/// `now`: load, plan (`sharing::plan`), write.
pub fn refresh(
    conn: &mut Conn,
    community: &str,
    scope: Scope,
    now: Timestamp,
) -> Result<(), StorageError> {
    match snapshot::setting(conn, community)? {
        Some(setting) => refresh_in(conn, setting, scope, now),
        None => Ok(()),
    }
}

/// `refresh` in a community whose setting the caller has read.
pub(super) fn refresh_in(
    conn: &mut Conn,
    setting: Setting,
    scope: Scope,
    now: Timestamp,
) -> Result<(), StorageError> {
    let changes = decide(conn, &setting, scope, now)?;
    snapshot::apply(conn, &setting.community, changes, setting.classes, now)
}

/// What the readers of `setting`'s community receive of `scope` from `now` on: its targets
/// loaded (`snapshot::targets`), then planned without reading anything.
pub(super) fn decide(
    conn: &mut Conn,
    setting: &Setting,
    scope: Scope,
    now: Timestamp,
) -> Result<plan::Changes, StorageError> {
    let (views, classes) = (setting.views.clone(), setting.classes.clone());
    let placement = plan::Placement::of(&setting.readers, views, classes, &setting.rules);
    if !scope.is_whole() && !placement.settled() {
        // A reader without a view, moved out of its class or gone is placed again against
        // everything the community holds.
        return decide(conn, setting, scope.widened(), now);
    }
    let whole = scope.is_whole();
    let Targets {
        facts,
        chosen,
        rows,
    } = snapshot::targets(conn, setting, &placement, scope, now)?;
    let picked: Vec<&Version> = facts
        .versions
        .iter()
        .filter(|v| chosen.contains(&v.seq))
        .collect();
    let readers = &setting.readers;
    Ok(plan::plan(
        placement, &facts, &picked, readers, rows, whole, now,
    ))
}

/// Processes the releases that have come due in `community` (delays that ended).
pub fn release_due(conn: &mut Conn, community: &str, now: Timestamp) -> Result<(), StorageError> {
    let due = objects::due_ids(conn, community, now)?;
    if !due.is_empty() {
        refresh(conn, community, Scope::Ids(due), now)?;
    }
    Ok(())
}

/// After `cairn apply`: every community's built-ins and deliveries under the new setup.
pub fn refresh_all(conn: &mut Conn, now: Timestamp) -> Result<(), StorageError> {
    for id in setup::community_ids(conn)? {
        for builtin in builtin_versions() {
            objects::ensure_builtin(conn, &id, &builtin, now)?;
        }
        refresh(conn, &id, Scope::All, now)?;
    }
    Ok(())
}

/// The TLP 2.0 marking-definitions and extension-definition every collection serves.
pub fn builtin_versions() -> Vec<objects::NewVersion> {
    crate::stix::tlp::canonical_objects()
        .iter()
        .map(|raw| {
            let v: serde_json::Value =
                serde_json::from_str(raw).expect("canonical TLP objects are JSON");
            let text = |k: &str| {
                v.get(k)
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_owned)
            };
            let stamp = text("modified")
                .or_else(|| text("created"))
                .expect("canonical objects carry created");
            let at = Timestamp::parse_stix(&stamp).expect("canonical timestamps are valid");
            objects::NewVersion {
                stix_id: text("id").expect("id"),
                stix_type: text("type").expect("type"),
                version: Some((at, stamp)),
                spec_version: text("spec_version").unwrap_or_else(|| "2.1".into()),
                tlp: None,
                recipients: "[]".into(),
                refs: vec![],
                body: raw.to_string(),
            }
        })
        .collect()
}

/// When each of these versions became deliverable to `user`, for those it has.
pub(crate) fn delivered_to(
    conn: &mut Conn,
    user: &str,
    community: &str,
    seqs: &[i64],
) -> Result<HashMap<i64, Timestamp>, StorageError> {
    match streams::view(conn, user, community)? {
        Some(view) => streams::dates_among(conn, user, community, view, seqs),
        None => Ok(HashMap::new()),
    }
}

/// `cairn explain`: for each stored version of `object_id` in `community`, whether it is
/// delivered to `user`, since when, and which rule decides. With `asker` (a moderator on the
/// web pages), only the versions delivered to the asker: it learns nothing it may not read.
pub fn explain(
    conn: &mut Conn,
    (user, asker): (&str, Option<&str>),
    community: &str,
    object_id: &str,
    now: Timestamp,
) -> Result<Vec<String>, StorageError> {
    let Some(setting) = snapshot::setting(conn, community)? else {
        return Ok(vec![format!("there is no community '{community}'")]);
    };
    let Some(reader) = setting.readers.iter().find(|r| r.user == user) else {
        return Ok(vec![format!(
            "{user} receives nothing from {community}: not an enabled user of an enabled member partner{}",
            if setting.enabled { "" } else { " (the community is disabled)" }
        )]);
    };
    let facts = snapshot::facts_of_object(conn, &setting, object_id, now)?;
    // The object's own versions come first in the facts, in stored order.
    let seqs: Vec<i64> = facts
        .versions
        .iter()
        .take_while(|v| v.id == object_id)
        .map(|v| v.seq)
        .collect();
    if seqs.is_empty() {
        return Ok(vec![format!("{object_id} is not stored in {community}")]);
    }
    let delivered = delivered_to(conn, user, community, &seqs)?;
    let shown = match asker {
        Some(a) => Some(delivered_to(conn, a, community, &seqs)?),
        None => None,
    };
    let visible = facts.visible_ids(reader, &facts.rules, now);
    let mut out = vec![explain_heading(object_id, community, user, reader)];
    for v in facts.versions.iter().take(seqs.len()) {
        if shown.as_ref().is_some_and(|s| !s.contains_key(&v.seq)) {
            continue;
        }
        let verdict = facts.decide(reader, &facts.rules, v, &visible, now);
        let since = delivered.get(&v.seq);
        out.push(version_line(v, verdict, asker.is_some(), since));
    }
    Ok(out)
}

/// The first line of `explain`: the object, the community, and the reader with its cap.
fn explain_heading(object_id: &str, community: &str, user: &str, reader: &ReaderCaps) -> String {
    let cap = reader.member_max_tlp.min(reader.user_max_tlp);
    format!(
        "{object_id} in {community} for {user} (partner {}, cap TLP:{}{}):",
        reader.partner,
        cap.as_str().to_uppercase(),
        if reader.redistributes {
            ", redistributes"
        } else {
            ""
        }
    )
}

/// A version's line of `explain`; `by_asker`: for a moderator, who learns only what it may read.
fn version_line(
    v: &Version,
    verdict: decision::Verdict,
    by_asker: bool,
    since: Option<&Timestamp>,
) -> String {
    match (by_asker, verdict) {
        // The newer version is not the asker's to know about: only that one is withheld.
        (true, decision::Verdict::Withhold(decision::Reason::Superseded(_))) => format!(
            "  version {}: not delivered: a newer version from the same producer is \
             withheld from this reader",
            v.version
        ),
        (_, verdict) => explain_line(v, verdict, since),
    }
}

/// One version's line of `explain`: who produced it, at which TLP, and what decides.
fn explain_line(v: &Version, verdict: decision::Verdict, since: Option<&Timestamp>) -> String {
    let producer = v
        .facts
        .producer
        .as_deref()
        .unwrap_or("the server (built-in)");
    let level = v
        .facts
        .tlp
        .map_or("unmarked".into(), |t| t.as_str().to_uppercase());
    let what = format!("  version {} from {producer} (TLP:{level})", v.version);
    match (verdict, since) {
        (decision::Verdict::Deliver(why), Some(at)) => {
            format!("{what}: delivered since {at}: {}", why.describe())
        }
        (decision::Verdict::Deliver(_), None) => {
            format!("{what}: allowed, but another copy of the same version is delivered instead")
        }
        (decision::Verdict::Withhold(why), _) => {
            format!("{what}: not delivered: {}", why.describe())
        }
    }
}
