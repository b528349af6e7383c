//! Who may write new versions of an id (docs/sharing.md section 6). STIX 2.1 lets only an
//! object's creator version it; in a community an id belongs to the partner whose version of it
//! was stored first. Pure: `service::ingest` gathers the stored versions and asks.

/// One stored version of the posted id, oldest first, as the rule needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// `None` for the built-in TLP definitions.
    pub producer: Option<String>,
    pub private_copy: bool,
    /// Delivered to the posting user.
    pub delivered: bool,
    /// It has a version of its own (`modified` or `created`).
    pub versioned: bool,
}

/// Where a new version (not a repeat of one the poster knows) of a posted id goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// Stored as the poster's and shared by the delivery decision.
    Shared,
    /// Stored for the poster's partner only: the id belongs to someone hidden from the poster,
    /// and the answer must be exactly that of a new object.
    PrivateCopy,
    /// Refused for this object, with what to do instead.
    Refused(String),
}

/// The advice given when a partner tries to version another partner's object. It names
/// neither the owner nor anything the poster cannot already see.
pub const NOT_YOURS: &str = "this object belongs to another partner of the community, and only \
     its producer may make new versions of it; publish your own object instead: a new object with \
     a derived-from relationship to it, or a note, opinion or sighting that references it";

/// Decides for a versioned object posted by `poster`; objects without a version of their own
/// (most SCOs, whose ids derive from their values) are posted by many partners alike and are
/// always `Shared`.
pub fn place(poster: &str, versioned: bool, stored: &[Stored]) -> Placement {
    // A versionless post of an id someone versions is a version of it all the same.
    let owned = stored.iter().any(|s| s.versioned && !s.private_copy);
    if !versioned && !owned {
        return Placement::Shared;
    }
    // Copies never make their producer the owner.
    let Some(owner) = stored.iter().find(|s| !s.private_copy) else {
        return Placement::Shared;
    };
    if owner.producer.as_deref() == Some(poster) {
        return Placement::Shared;
    }
    let seen = stored
        .iter()
        .any(|s| s.delivered && s.producer.as_deref() != Some(poster));
    if seen {
        Placement::Refused(NOT_YOURS.into())
    } else {
        Placement::PrivateCopy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by(producer: &str, delivered: bool) -> Stored {
        Stored {
            producer: Some(producer.into()),
            private_copy: false,
            delivered,
            versioned: true,
        }
    }

    #[test]
    fn a_new_id_or_the_owners_own_is_shared() {
        assert_eq!(place("alpha", true, &[]), Placement::Shared);
        assert_eq!(
            place("alpha", true, &[by("alpha", true), by("beta", true)]),
            Placement::Shared
        );
    }

    #[test]
    fn another_owners_visible_object_is_refused_for_moderators_too() {
        assert_eq!(
            place("beta", true, &[by("alpha", true)]),
            Placement::Refused(NOT_YOURS.into())
        );
        // Seen through any other partner's version, even when the owner's is hidden.
        assert_eq!(
            place("beta", true, &[by("alpha", false), by("gamma", true)]),
            Placement::Refused(NOT_YOURS.into())
        );
    }

    #[test]
    fn a_hidden_owner_makes_a_private_copy() {
        assert_eq!(
            place("beta", true, &[by("alpha", false)]),
            Placement::PrivateCopy
        );
        // The poster's own earlier copies do not count as seeing the object.
        let mine = Stored {
            producer: Some("beta".into()),
            private_copy: true,
            delivered: true,
            versioned: true,
        };
        assert_eq!(
            place("beta", true, &[by("alpha", false), mine]),
            Placement::PrivateCopy
        );
    }

    #[test]
    fn copies_never_own_and_builtins_belong_to_the_server() {
        let copy = Stored {
            producer: Some("beta".into()),
            private_copy: true,
            delivered: false,
            versioned: true,
        };
        assert_eq!(place("alpha", true, &[copy]), Placement::Shared);
        let builtin = Stored {
            producer: None,
            private_copy: false,
            delivered: true,
            versioned: true,
        };
        assert_eq!(
            place("alpha", true, &[builtin]),
            Placement::Refused(NOT_YOURS.into())
        );
    }

    #[test]
    fn versionless_objects_keep_their_rules_unless_someone_versions_the_id() {
        let sco = Stored {
            versioned: false,
            ..by("alpha", true)
        };
        assert_eq!(place("beta", false, &[sco]), Placement::Shared);
        assert_eq!(
            place("beta", false, &[by("alpha", true)]),
            Placement::Refused(NOT_YOURS.into())
        );
    }
}
