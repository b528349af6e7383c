//! STIX identifiers, `type--UUID` (STIX 2.1 section 2.9): the one parser. Objects must carry an
//! RFC 4122 UUID; a filter (`match[id]`, a page's path) only needs the shape, since an id that
//! nothing may carry simply matches nothing.

use super::type_name;

/// Why a text is not a STIX identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentifierError {
    /// Not `type--UUID` at all.
    Shape(String),
    /// `type--UUID`, but the UUID's version or variant is not RFC 4122's.
    NotRfc4122(String),
}

impl IdentifierError {
    pub fn message(&self) -> &str {
        match self {
            IdentifierError::Shape(m) | IdentifierError::NotRfc4122(m) => m,
        }
    }
}

/// Splits an identifier into its type and UUID, or says why it is not one.
pub fn parse(s: &str) -> Result<(&str, &str), IdentifierError> {
    let Some(pos) = s.rfind("--") else {
        return Err(IdentifierError::Shape(
            "an identifier is <type>--<UUID>".into(),
        ));
    };
    let (t, u) = (&s[..pos], &s[pos + 2..]);
    if let Err(why) = type_name::check(t) {
        let why = format!("the type '{t}' is not a type name: {why}");
        return Err(IdentifierError::Shape(why));
    }
    uuid_problem(u).map_or(Ok((t, u)), |e| Err(prefixed(u, e)))
}

fn prefixed(u: &str, e: IdentifierError) -> IdentifierError {
    match e {
        IdentifierError::Shape(m) => IdentifierError::Shape(format!("'{u}' {m}")),
        IdentifierError::NotRfc4122(m) => IdentifierError::NotRfc4122(format!("'{u}' {m}")),
    }
}

/// A STIX identifier that passed `parse`: an object's (RFC 4122 UUID), or a filter's (the shape).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StixId(String);

impl StixId {
    /// An object's id: `type--UUID` with an RFC 4122 UUID.
    pub fn parse(s: &str) -> Result<StixId, IdentifierError> {
        parse(s).map(|_| StixId(s.to_owned()))
    }

    /// An id to look for: the shape is enough (see the module's comment).
    pub fn parse_filter(s: &str) -> Result<StixId, IdentifierError> {
        match parse(s) {
            Ok(_) | Err(IdentifierError::NotRfc4122(_)) => Ok(StixId(s.to_owned())),
            Err(e) => Err(e),
        }
    }
}

crate::ids::text_type!(StixId);

/// Why `u` is not an RFC 4122 UUID (lowercase or uppercase hexadecimal), if it is not.
pub fn uuid_problem(u: &str) -> Option<IdentifierError> {
    let b = u.as_bytes();
    let form = b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        });
    if !form {
        let why = "is not a UUID (8-4-4-4-12 hexadecimal digits)";
        return Some(IdentifierError::Shape(why.into()));
    }
    if !(b'1'..=b'5').contains(&b[14]) {
        return Some(IdentifierError::NotRfc4122(format!(
            "has version {}: an RFC 4122 UUID has version 1 to 5 (the first digit of the third group)",
            b[14] as char
        )));
    }
    if !matches!(b[19], b'8' | b'9' | b'a' | b'b' | b'A' | b'B') {
        return Some(IdentifierError::NotRfc4122(format!(
            "is not of the RFC 4122 variant: the first digit of the fourth group must be 8, 9, a or b, not {}",
            b[19] as char
        )));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: &str = "6ba7b810-9dad-41d1-80b4-00c04fd430c8";

    #[test]
    fn an_object_needs_an_rfc_4122_uuid_and_a_filter_only_the_shape() {
        let id = format!("x-acme--{UUID}");
        assert_eq!(parse(&id), Ok(("x-acme", UUID)));
        let nil = "indicator--00000000-0000-0000-0000-000000000000";
        assert!(matches!(parse(nil), Err(IdentifierError::NotRfc4122(_))));
        assert!(StixId::parse_filter(nil).is_ok() && StixId::parse_filter(&id).is_ok());
        assert!(StixId::parse(nil).is_err());
        assert_eq!(StixId::parse_filter(nil).unwrap(), nil);
        assert_eq!(StixId::parse(&id).unwrap(), id);
        for bad in [
            UUID.to_string(),
            format!("1-acme--{UUID}"),
            format!("Indicator--{UUID}"),
            "indicator--6ba7b810".to_string(),
        ] {
            assert!(
                matches!(parse(&bad), Err(IdentifierError::Shape(_))),
                "{bad}"
            );
            assert!(StixId::parse_filter(&bad).is_err(), "{bad}");
        }
    }
}
