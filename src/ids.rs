//! Cairn's own names: partner ids, community ids and user names, each with its one parser. The
//! setup file and the query parameters parse them; a value read back from storage or from an
//! authenticated principal was parsed when it was written, and is wrapped with `known`.

use std::fmt;

/// A value that is not a valid name of its kind, and the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameError {
    pub what: &'static str,
    pub value: String,
    pub rule: &'static str,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "'{}' is not a {}: {}", self.value, self.what, self.rule)
    }
}

impl std::error::Error for NameError {}

/// Partner and community ids: they appear in URLs, headers and `match[producer]`.
const ID_RULE: &str = "2-63 characters of a-z, 0-9 and '-'";

fn id_shaped(s: &str) -> bool {
    (2..=63).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// User names travel in HTTP Basic credentials, where ':' ends the name, and in
/// `Cairn-Recipients`, whose items are trimmed: a name must survive both.
const USER_RULE: &str =
    "non-empty, without ':' or control characters, and without spaces at either end";

fn user_shaped(s: &str) -> bool {
    !s.is_empty() && !s.contains(':') && !s.chars().any(char::is_control) && s.trim() == s
}

/// What every text type of Cairn has besides its parser: it reads, prints, compares, hashes and
/// is looked up as its text (`Borrow<str>`), and tests write it from literals. `known` wraps a
/// value that was parsed when it was first written.
macro_rules! text_type {
    ($name:ident) => {
        impl $name {
            /// A value parsed when it was first written (stored, validated or authenticated).
            pub fn known(s: impl Into<String>) -> $name {
                $name(s.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                self == other.0
            }
        }

        impl From<$name> for String {
            fn from(n: $name) -> String {
                n.0
            }
        }

        // Tests write values as literals; the code parses them or wraps known ones.
        #[cfg(test)]
        impl From<&str> for $name {
            fn from(s: &str) -> $name {
                $name(s.to_owned())
            }
        }

        #[cfg(test)]
        impl From<String> for $name {
            fn from(s: String) -> $name {
                $name(s)
            }
        }
    };
}
pub(crate) use text_type;

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $what:literal, $shaped:ident, $rule:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(String);

        impl $name {
            /// The one parser of this kind of name.
            pub fn parse(s: &str) -> Result<$name, NameError> {
                match $shaped(s) {
                    true => Ok($name(s.to_owned())),
                    false => Err(NameError {
                        what: $what,
                        value: s.to_owned(),
                        rule: $rule,
                    }),
                }
            }
        }

        text_type!($name);
    };
}

name_type!(
    /// A partner: a member organisation, as the setup file names it.
    PartnerId,
    "partner id",
    id_shaped,
    ID_RULE
);
name_type!(
    /// A community (one TAXII collection), as the setup file names it.
    CommunityId,
    "community id",
    id_shaped,
    ID_RULE
);
name_type!(
    /// A user of a partner: the name it signs in with.
    UserName,
    "user name",
    user_shaped,
    USER_RULE
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_take_lowercase_letters_digits_and_hyphens_only() {
        assert!(PartnerId::parse("acme-2").is_ok());
        assert!(CommunityId::parse("isac").is_ok());
        for bad in ["a", "Acme", "acme_2", "acme 2", &"a".repeat(64), ""] {
            let e = PartnerId::parse(bad).unwrap_err();
            assert_eq!(e.value, bad);
            assert_eq!(
                e.to_string(),
                format!("'{bad}' is not a partner id: {ID_RULE}")
            );
        }
        assert!(PartnerId::parse(&"a".repeat(63)).is_ok());
    }

    #[test]
    fn user_names_refuse_colons_control_characters_and_empty() {
        assert!(UserName::parse("Ana Müller").is_ok());
        for bad in ["", "a:b", "a\nb", "\u{7f}", "bob ", " bob"] {
            assert_eq!(UserName::parse(bad).unwrap_err().rule, USER_RULE);
        }
    }

    #[test]
    fn a_name_compares_and_looks_up_as_its_text() {
        let p = PartnerId::parse("acme").unwrap();
        let text = String::from("acme");
        assert_eq!(p, "acme");
        assert_eq!(p, *"acme");
        assert_eq!(p, text);
        assert_eq!(text, p);
        let set: std::collections::HashSet<PartnerId> = [p.clone()].into();
        assert!(set.contains("acme"));
        assert_eq!(format!("{p}"), "acme");
        assert_eq!(String::from(p), "acme");
    }
}
