//! The one rule for STIX type names, read wherever a type name arrives: an object's `type`, the
//! part of an identifier before `--`, a `match[type]` filter, the `types` lists of the setup file.
//!
//! STIX 2.1 (section 3.1, the `type` property): 3 to 250 characters, only `a-z`, `0-9` and `-`,
//! beginning with a letter, never a hyphen right after another. A trailing hyphen is not forbidden
//! there; the identifier schema refuses it in an `id`, which the schema check reports on its own.

use std::fmt;

/// Why a string is not a type name. The messages complete "'x' is not a type name: ...".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeNameError {
    /// The first character outside `a-z`, `0-9` and `-`.
    Character(char),
    /// Begins with a digit or a hyphen (or is empty).
    FirstNotLetter,
    /// `--` separates the type from the UUID in an identifier, so a type cannot hold it.
    DoubleHyphen,
    /// The length in characters (all ASCII once the characters pass).
    Length(usize),
}

impl fmt::Display for TypeNameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Character(c) => write!(f, "'{c}' is not allowed (only a-z, 0-9 and -)"),
            Self::FirstNotLetter => f.write_str("it must begin with a letter a-z"),
            Self::DoubleHyphen => f.write_str(
                "it must not contain '--', which separates the type from the UUID in an identifier",
            ),
            Self::Length(n) => write!(f, "it has {n} characters (3 to 250 are allowed)"),
        }
    }
}

impl std::error::Error for TypeNameError {}

/// Checks `name` against the rule; the first problem found is the one reported.
pub fn check(name: &str) -> Result<(), TypeNameError> {
    let allowed = |c: &char| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-';
    if let Some(c) = name.chars().find(|c| !allowed(c)) {
        return Err(TypeNameError::Character(c));
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(TypeNameError::FirstNotLetter);
    }
    if name.contains("--") {
        return Err(TypeNameError::DoubleHyphen);
    }
    if !(3..=250).contains(&name.len()) {
        return Err(TypeNameError::Length(name.len()));
    }
    Ok(())
}

/// A STIX type name that passed `check`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TypeName(String);

impl TypeName {
    /// The one parser of type names.
    pub fn parse(name: &str) -> Result<TypeName, TypeNameError> {
        check(name).map(|()| TypeName(name.to_owned()))
    }
}

crate::ids::text_type!(TypeName);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_the_specification_and_custom_names_pass() {
        for name in [
            "indicator",
            "attack-pattern",
            "x-acme-widget",
            "ipv4-addr",
            "x509-certificate",
        ] {
            assert_eq!(check(name), Ok(()), "{name}");
        }
        assert_eq!(check("abc"), Ok(()), "3 characters is the shortest");
        assert_eq!(check(&"a".repeat(250)), Ok(()), "250 is the longest");
        assert_eq!(
            check("x-acme-"),
            Ok(()),
            "the rule does not forbid a trailing hyphen"
        );
        assert_eq!(check("a1-2"), Ok(()), "digits may follow the first letter");
    }

    #[test]
    fn a_leading_digit_or_hyphen_is_refused() {
        assert_eq!(check("1-acme"), Err(TypeNameError::FirstNotLetter));
        assert_eq!(check("-acme"), Err(TypeNameError::FirstNotLetter));
        assert_eq!(check("509-certificate"), Err(TypeNameError::FirstNotLetter));
        assert_eq!(check(""), Err(TypeNameError::FirstNotLetter));
    }

    #[test]
    fn a_double_hyphen_is_refused() {
        assert_eq!(check("x--acme"), Err(TypeNameError::DoubleHyphen));
        assert_eq!(check("x-acme---"), Err(TypeNameError::DoubleHyphen));
    }

    #[test]
    fn lengths_outside_3_to_250_are_refused() {
        assert_eq!(check("ab"), Err(TypeNameError::Length(2)));
        assert_eq!(check(&"a".repeat(251)), Err(TypeNameError::Length(251)));
    }

    #[test]
    fn other_characters_are_named() {
        assert_eq!(check("X-acme"), Err(TypeNameError::Character('X')));
        assert_eq!(check("x_acme"), Err(TypeNameError::Character('_')));
        assert_eq!(check("x acme"), Err(TypeNameError::Character(' ')));
        // Not ASCII: refused by character, so a byte length never counts a multi-byte letter.
        assert_eq!(check("café-x"), Err(TypeNameError::Character('é')));
        assert!(TypeName::parse("indicator--").is_err());
        assert_eq!(TypeName::parse("x-acme").unwrap(), "x-acme");
    }

    #[test]
    fn messages_say_what_to_fix() {
        assert_eq!(
            TypeNameError::Character('X').to_string(),
            "'X' is not allowed (only a-z, 0-9 and -)"
        );
        assert_eq!(
            TypeNameError::FirstNotLetter.to_string(),
            "it must begin with a letter a-z"
        );
        assert_eq!(
            TypeNameError::Length(2).to_string(),
            "it has 2 characters (3 to 250 are allowed)"
        );
    }
}
