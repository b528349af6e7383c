//! Stored settings read back into policy types, one parser per stored value. `cairn apply` and
//! POST write them with the encoders here; a value no parser reads (an older or newer Cairn, a
//! hand edit) fails the request that needs it with `StorageError::Setting`, never reads as a
//! more permissive value ("no failing open").

use super::models::{CommunityRow, MembershipRow, RuleRow, UserRow};
use super::objects::StoredVersion;
use super::StorageError;
use crate::ids::PartnerId;
use crate::policy::Role;
use crate::sharing::decision::{Recipient, Unmarked};
use crate::stix::tlp::Tlp;
use crate::stix::type_name::TypeName;

/// A TLP level as stored: exactly its lowercase name (`Tlp::as_str`).
pub fn parse_tlp(text: &str) -> Option<Tlp> {
    Tlp::ALL.into_iter().find(|t| t.as_str() == text)
}

/// A list (types, exclude) as stored: a JSON array of strings.
pub fn parse_list(text: &str) -> Option<Vec<String>> {
    serde_json::from_str(text).ok()
}

pub fn encode_list(list: &[String]) -> String {
    serde_json::to_string(list).expect("a list of strings serialises")
}

/// `reject`, or the TLP level unmarked objects count as.
pub fn parse_unmarked(text: &str) -> Option<Unmarked> {
    match text {
        "reject" => Some(Unmarked::Reject),
        level => parse_tlp(level).map(Unmarked::Level),
    }
}

pub fn encode_unmarked(unmarked: Unmarked) -> String {
    match unmarked {
        Unmarked::Reject => "reject".into(),
        Unmarked::Level(t) => t.as_str().into(),
    }
}

/// `dangling_refs`: whether `allow` switches the reference rule off (`hide` keeps it).
pub fn parse_dangling_allowed(text: &str) -> Option<bool> {
    match text {
        "allow" => Some(true),
        "hide" => Some(false),
        _ => None,
    }
}

pub fn encode_dangling_allowed(allowed: bool) -> String {
    if allowed { "allow" } else { "hide" }.into()
}

/// A role as stored: exactly `Role::as_str`.
pub fn parse_role(text: &str) -> Option<Role> {
    Role::parse(text)
}

/// RED recipients as stored: a JSON array of `partner` or `partner/user`, each written exactly
/// as `Recipient` displays it.
pub fn parse_recipients(text: &str) -> Option<Vec<Recipient>> {
    parse_list(text)?
        .iter()
        .map(|r| Recipient::parse(r).filter(|p| p.to_string() == *r))
        .collect()
}

pub fn encode_recipients(recipients: &[Recipient]) -> String {
    encode_list(
        &recipients
            .iter()
            .map(Recipient::to_string)
            .collect::<Vec<_>>(),
    )
}

/// `parse(text)`, or the error naming where `text` was read: table, row key and column.
fn read<T>(
    table: &'static str,
    key: impl FnOnce() -> String,
    column: &'static str,
    text: &str,
    parse: fn(&str) -> Option<T>,
) -> Result<T, StorageError> {
    parse(text).ok_or_else(|| StorageError::Setting {
        table,
        key: key(),
        column,
        value: text.chars().take(80).collect(),
    })
}

pub fn community_unmarked(row: &CommunityRow) -> Result<Unmarked, StorageError> {
    let key = || row.id.clone();
    read(
        "communities",
        key,
        "unmarked",
        &row.unmarked,
        parse_unmarked,
    )
}

pub fn community_types(row: &CommunityRow) -> Result<Vec<TypeName>, StorageError> {
    read(
        "communities",
        || row.id.clone(),
        "types",
        &row.types,
        parse_types,
    )
}

pub fn community_dangling_allowed(row: &CommunityRow) -> Result<bool, StorageError> {
    let (key, text) = (|| row.id.clone(), &row.dangling_refs);
    read(
        "communities",
        key,
        "dangling_refs",
        text,
        parse_dangling_allowed,
    )
}

fn member_key(row: &MembershipRow) -> impl FnOnce() -> String + '_ {
    || format!("{}/{}", row.community_id, row.partner_id)
}

pub fn member_role(row: &MembershipRow) -> Result<Role, StorageError> {
    read(
        "memberships",
        member_key(row),
        "role",
        &row.role,
        parse_role,
    )
}

pub fn member_max_tlp(row: &MembershipRow) -> Result<Tlp, StorageError> {
    read(
        "memberships",
        member_key(row),
        "max_tlp",
        &row.max_tlp,
        parse_tlp,
    )
}

pub fn user_max_tlp(row: &UserRow) -> Result<Tlp, StorageError> {
    read(
        "users",
        || row.name.clone(),
        "max_tlp",
        &row.max_tlp,
        parse_tlp,
    )
}

pub fn user_types(row: &UserRow) -> Result<Vec<TypeName>, StorageError> {
    read(
        "users",
        || row.name.clone(),
        "types",
        &row.types,
        parse_types,
    )
}

fn rule_key(row: &RuleRow) -> impl FnOnce() -> String + '_ {
    || format!("{}/{}", row.community_id, row.producer_id)
}

pub fn rule_types(row: &RuleRow) -> Result<Vec<TypeName>, StorageError> {
    read(
        "sharing_rules",
        rule_key(row),
        "types",
        &row.types,
        parse_types,
    )
}

pub fn rule_exclude(row: &RuleRow) -> Result<Vec<PartnerId>, StorageError> {
    read(
        "sharing_rules",
        rule_key(row),
        "exclude",
        &row.exclude,
        parse_partners,
    )
}

/// A stored list of type names, checked when the setup file was applied. An entry a later rule
/// refuses stays in the list: it matches no object, so the list narrows as it did, never widens.
fn parse_types(text: &str) -> Option<Vec<TypeName>> {
    Some(parse_list(text)?.into_iter().map(TypeName::known).collect())
}

/// A stored list of partner ids, checked when the setup file was applied (see `parse_types`).
fn parse_partners(text: &str) -> Option<Vec<PartnerId>> {
    Some(
        parse_list(text)?
            .into_iter()
            .map(PartnerId::known)
            .collect(),
    )
}

fn version_key(v: &StoredVersion) -> impl FnOnce() -> String + '_ {
    || format!("seq {} ({})", v.seq, v.stix_id)
}

pub fn version_recipients(v: &StoredVersion) -> Result<Vec<Recipient>, StorageError> {
    read(
        "objects",
        version_key(v),
        "recipients",
        &v.recipients,
        parse_recipients,
    )
}

/// The version's effective TLP; `None` (no column value) is unmarked.
pub fn version_tlp(v: &StoredVersion) -> Result<Option<Tlp>, StorageError> {
    match &v.tlp {
        None => Ok(None),
        Some(text) => read("objects", version_key(v), "tlp", text, parse_tlp).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tlp_levels_read_only_as_stored() {
        for t in Tlp::ALL {
            assert_eq!(parse_tlp(t.as_str()), Some(t));
        }
        for bad in [
            "",
            "Amber",
            "TLP:AMBER",
            "white",
            " amber",
            "amber ",
            "purple",
        ] {
            assert_eq!(parse_tlp(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn lists_are_json_arrays_of_strings() {
        let list = vec!["indicator".to_string(), "malware".to_string()];
        assert_eq!(parse_list(&encode_list(&list)), Some(list));
        assert_eq!(parse_list("[]"), Some(vec![]));
        for bad in ["", "indicator", "[\"a\",1]", "null", "{}", "[\"a\""] {
            assert_eq!(parse_list(bad), None, "{bad:?}");
        }
    }

    /// A type an older setup accepted but today's rule refuses stays in its list: the list
    /// still narrows (to nothing an object can be), it never reads as "all types".
    #[test]
    fn stored_type_lists_never_widen() {
        let types = parse_types("[\"x--legacy\"]").unwrap();
        assert_eq!(types, vec!["x--legacy"]);
        assert_eq!(parse_types("[]"), Some(vec![]));
        assert_eq!(parse_types("indicator"), None);
        assert_eq!(parse_partners("[\"Old Name\"]").unwrap(), vec!["Old Name"]);
    }

    #[test]
    fn unmarked_is_reject_or_a_level() {
        assert_eq!(parse_unmarked("reject"), Some(Unmarked::Reject));
        for t in Tlp::ALL {
            let u = Unmarked::Level(t);
            assert_eq!(parse_unmarked(&encode_unmarked(u)), Some(u));
        }
        assert_eq!(encode_unmarked(Unmarked::Reject), "reject");
        for bad in ["", "Reject", "none", "TLP:CLEAR", "garbage"] {
            assert_eq!(parse_unmarked(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn dangling_refs_is_allow_or_hide() {
        for allowed in [true, false] {
            let text = encode_dangling_allowed(allowed);
            assert_eq!(parse_dangling_allowed(&text), Some(allowed));
        }
        for bad in ["", "Allow", "show", "true"] {
            assert_eq!(parse_dangling_allowed(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn roles_read_only_as_stored() {
        for r in [Role::Moderator, Role::Contributor, Role::Reader] {
            assert_eq!(parse_role(r.as_str()), Some(r));
        }
        for bad in ["", "Moderator", "admin", "reader "] {
            assert_eq!(parse_role(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn recipients_are_a_list_of_partners_and_users() {
        let named = vec![
            Recipient::Partner("acme".into()),
            Recipient::User {
                partner: "globex".into(),
                user: "globex-soc".into(),
            },
        ];
        let text = encode_recipients(&named);
        assert_eq!(text, r#"["acme","globex/globex-soc"]"#);
        assert_eq!(parse_recipients(&text), Some(named));
        assert_eq!(parse_recipients("[]"), Some(vec![]));
        for bad in [
            "",
            "acme",
            "[1]",
            r#"[""]"#,
            r#"["acme globex"]"#,
            r#"[" acme"]"#,
        ] {
            assert_eq!(parse_recipients(bad), None, "{bad:?}");
        }
    }

    fn community(unmarked: &str) -> CommunityRow {
        CommunityRow {
            id: "finance-isac".into(),
            collection_id: "c".into(),
            title: "t".into(),
            description: None,
            unmarked: unmarked.into(),
            types: "[]".into(),
            delay_secs: 0,
            backlog: true,
            dangling_refs: "hide".into(),
            enabled: true,
        }
    }

    #[test]
    fn an_unreadable_value_is_an_error_naming_table_key_and_column() {
        assert_eq!(
            community_unmarked(&community("amber")).unwrap(),
            Unmarked::Level(Tlp::Amber)
        );
        let e = community_unmarked(&community("TLP:AMBER")).unwrap_err();
        assert!(
            matches!(&e, StorageError::Setting { table: "communities", key, column: "unmarked", value }
                if key == "finance-isac" && value == "TLP:AMBER"),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "unreadable stored setting: table communities, key finance-isac, column unmarked: \
             \"TLP:AMBER\""
        );
        assert!(!e.is_transient() && !e.is_disk_full());
        let rule = RuleRow {
            community_id: "finance-isac".into(),
            producer_id: "acme".into(),
            exclude: "globex".into(),
            delay_secs: 0,
            types: "[]".into(),
        };
        let e = rule_exclude(&rule).unwrap_err();
        assert!(
            matches!(&e, StorageError::Setting { table: "sharing_rules", key, column: "exclude", .. }
                if key == "finance-isac/acme"),
            "{e:?}"
        );
    }
}
