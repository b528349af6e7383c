//! Each partner's STIX identity (docs/setup-file.md, `[[partner]] identity`): the one configured,
//! else one derived from the partner's id, the same on every Cairn. An object may name only its
//! producer's identity in `created_by_ref`.

use std::collections::HashMap;

/// The namespace of derived partner identities (UUIDv5 over `cairn-partner:<id>`).
const NAMESPACE: uuid::Uuid = uuid::uuid!("6b5d3c0e-8a4f-4f7e-9b1a-2c3d4e5f6a7b");

/// The identity `partner` signs with.
pub fn of(partner: &str, configured: Option<&str>) -> String {
    match configured {
        Some(id) => id.to_owned(),
        None => {
            let name = format!("cairn-partner:{partner}");
            format!(
                "identity--{}",
                uuid::Uuid::new_v5(&NAMESPACE, name.as_bytes())
            )
        }
    }
}

/// `identity--` and a UUID in its lower-case hyphenated form.
pub fn is_identity_id(text: &str) -> bool {
    text.strip_prefix("identity--")
        .and_then(|u| uuid::Uuid::parse_str(u).ok().map(|p| (u, p)))
        .is_some_and(|(u, p)| p.hyphenated().to_string() == u)
}

/// Each partner's identity, mapped to the partner (from `(partner, configured identity)`).
pub fn owners(partners: Vec<(String, Option<String>)>) -> HashMap<String, String> {
    partners
        .into_iter()
        .map(|(p, configured)| (of(&p, configured.as_deref()), p))
        .collect()
}

/// Why `poster` may not post an object with this id: it is another partner's identity, which
/// only that partner may describe. Ids compare without regard to letter case.
pub fn taken(poster: &str, id: &str, owners: &HashMap<String, String>) -> Option<String> {
    let owner = owners.get(&id.to_ascii_lowercase())?;
    (owner != poster).then(|| {
        format!("/id: {id} is another partner's identity; only that partner may describe it")
    })
}

/// Why `created_by` may not be posted by `poster`: it is another partner's identity. `owners`
/// maps partners' identities to them. Ids compare without regard to letter case.
pub fn spoofed(
    poster: &str,
    created_by: Option<&str>,
    owners: &HashMap<String, String>,
) -> Option<String> {
    let claimed = created_by?;
    let owner = owners.get(&claimed.to_ascii_lowercase())?;
    (owner != poster).then(|| {
        let own = owners
            .iter()
            .find(|(_, p)| *p == poster)
            .map_or_else(|| of(poster, None), |(id, _)| id.clone());
        format!(
            "/created_by_ref: {claimed} is another partner's identity, not {poster}'s; \
             name {own} (this partner's identity) or leave created_by_ref out"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_identities_are_stable_and_distinct() {
        assert_eq!(of("acme", None), of("acme", None));
        assert_ne!(of("acme", None), of("globex", None));
        assert!(is_identity_id(&of("acme", None)));
        let set = "identity--0a4b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
        assert_eq!(of("acme", Some(set)), set);
    }

    #[test]
    fn only_canonical_identity_ids_are_accepted() {
        assert!(is_identity_id(
            "identity--0a4b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
        ));
        assert!(!is_identity_id(
            "identity--0A4B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D"
        ));
        assert!(!is_identity_id(
            "malware--0a4b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
        ));
        assert!(!is_identity_id("identity--nope"));
    }

    #[test]
    fn naming_another_partners_identity_is_spoofing() {
        let owners: HashMap<String, String> = [("acme", None), ("globex", None)]
            .into_iter()
            .map(|(p, c)| (of(p, c), p.to_owned()))
            .collect();
        let acme = of("acme", None);
        assert_eq!(spoofed("acme", Some(&acme), &owners), None);
        assert_eq!(spoofed("acme", None, &owners), None);
        assert_eq!(
            spoofed(
                "acme",
                Some("identity--0a4b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"),
                &owners
            ),
            None
        );
        // Letter case does not hide a claim, and an identity object is its partner's to post.
        assert!(spoofed("globex", Some(&acme.to_ascii_uppercase()), &owners).is_some());
        assert!(taken("globex", &acme, &owners).is_some());
        assert_eq!(taken("acme", &acme, &owners), None);
        let why = spoofed("globex", Some(&acme), &owners).unwrap();
        assert!(
            why.contains("not globex's") && why.contains(&of("globex", None)),
            "{why}"
        );
        assert!(!why.contains("acme"), "{why}");
    }
}
