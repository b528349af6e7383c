//! Typed TAXII 2.1 filters (section 3.5). Parsing rejects malformed values with the parameter's
//! name and what is wrong; nothing downstream sees a string like "last".

use super::cursor::{digest, Listing};
use super::timestamp::Timestamp;
use crate::ids::PartnerId;
use crate::stix::identifier::StixId;
use crate::stix::type_name::TypeName;

/// Which endpoint a query is for; each accepts a different set of parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Objects,
    Manifest,
    Object,
    Versions,
    Delete,
    /// Cairn's `feedback/`: counts of what references the caller's partner's objects.
    Feedback,
    /// The objects listing newest first (the web pages' list of a community).
    Recent,
}

impl Endpoint {
    fn allows(self, param: &str) -> bool {
        use Endpoint::*;
        match param {
            // `added_after` bounds from below, which a newest-first listing pages away from.
            "added_after" => !matches!(self, Delete | Recent),
            "limit" | "next" => self != Delete,
            "match[type]" => matches!(self, Objects | Manifest | Feedback | Recent),
            // Cairn's, for the web pages: versions these partners produced.
            "match[producer]" => self == Recent,
            // `match[ref]` and `match[about]` are Cairn's: what references these ids (the
            // thread of a threat), or the caller's partner's objects.
            "match[id]" | "match[ref]" | "match[about]" => matches!(self, Objects | Manifest),
            "match[version]" => !matches!(self, Versions | Feedback),
            "match[spec_version]" => self != Feedback,
            _ => false,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Objects => "objects",
            Endpoint::Manifest => "manifest",
            Endpoint::Object => "object",
            Endpoint::Versions => "versions",
            Endpoint::Delete => "delete",
            Endpoint::Feedback => "feedback",
            Endpoint::Recent => "recent",
        }
    }
}

/// `match[version]`: the versions of each object to return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionSelector {
    All,
    /// The union of the selected ones; at least one is set.
    Some {
        first: bool,
        last: bool,
        exact: Vec<Timestamp>,
    },
}

impl VersionSelector {
    pub fn last() -> Self {
        VersionSelector::Some {
            first: false,
            last: true,
            exact: vec![],
        }
    }
}

/// `match[spec_version]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpecVersions {
    /// Default: only the latest spec version of each object.
    Latest,
    /// Only these (validated `N.N` strings).
    Only(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub added_after: Option<Timestamp>,
    pub limit: usize,
    pub next: Option<String>,
    pub ids: Vec<StixId>,
    pub types: Vec<TypeName>,
    /// Only versions these partners produced (`match[producer]`).
    pub producers: Vec<PartnerId>,
    /// Only objects that reference one of these ids (`match[ref]`).
    pub refs: Vec<StixId>,
    /// Only objects that reference an object of the caller's partner (`match[about]=mine`).
    pub about_mine: bool,
    pub versions: VersionSelector,
    pub spec_versions: SpecVersions,
    /// The filters the request named (of `FILTERS`), in that order: what a `next` token carries.
    pub given: Vec<&'static str>,
}

/// The filter parameters, which a `next` token carries; `limit` and `next` are not filters.
pub const FILTERS: [&str; 8] = [
    "added_after",
    "match[id]",
    "match[type]",
    "match[producer]",
    "match[ref]",
    "match[about]",
    "match[version]",
    "match[spec_version]",
];

/// A parameter that cannot be used, and why; rendered as a 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{param}: {problem}")]
pub struct QueryError {
    pub param: String,
    pub problem: String,
}

fn err(param: &str, problem: impl Into<String>) -> QueryError {
    QueryError {
        param: param.into(),
        problem: problem.into(),
    }
}

pub struct Limits {
    pub default_page_size: usize,
    pub max_page_size: usize,
}

fn split_list<'a>(param: &str, value: &'a str) -> Result<Vec<&'a str>, QueryError> {
    let items: Vec<&str> = value.split(',').map(str::trim).collect();
    if items.iter().any(|i| i.is_empty()) {
        return Err(err(param, "empty item in comma-separated list"));
    }
    Ok(items)
}

/// Whether the endpoint reads `key`: a filter it does not take is refused, an unrelated
/// parameter (a cache buster) ignored, a single-valued one given twice refused.
fn admitted(endpoint: Endpoint, key: &str, seen: &[&str]) -> Result<bool, QueryError> {
    let single = matches!(key, "added_after" | "limit" | "next");
    if !endpoint.allows(key) {
        if single || key.starts_with("match[") {
            let why = format!("not supported on the {} endpoint", endpoint.name());
            return Err(err(key, why));
        }
        return Ok(false);
    }
    if single && seen.contains(&key) {
        return Err(err(key, "given more than once"));
    }
    Ok(true)
}

/// A positive integer; one too large for usize is still a (large) limit, capped by the caller.
fn page_size(key: &str, value: &str) -> Result<usize, QueryError> {
    let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
    value
        .parse()
        .ok()
        .or_else(|| (digits && value.bytes().any(|b| b != b'0')).then_some(usize::MAX))
        .filter(|n| *n > 0)
        .ok_or_else(|| err(key, format!("'{value}' is not a positive integer")))
}

fn stix_ids(key: &str, value: &str) -> Result<Vec<StixId>, QueryError> {
    let check = |id: &str| {
        StixId::parse_filter(id)
            .map_err(|_| err(key, format!("'{id}' is not a STIX identifier (type--UUID)")))
    };
    split_list(key, value)?.into_iter().map(check).collect()
}

fn type_names(key: &str, value: &str) -> Result<Vec<TypeName>, QueryError> {
    let check = |t: &str| {
        TypeName::parse(t).map_err(|why| err(key, format!("'{t}' is not a STIX type name: {why}")))
    };
    split_list(key, value)?.into_iter().map(check).collect()
}

/// Partner ids as the setup file names them: 2 to 63 of a-z, 0-9 and '-'.
fn partner_ids(key: &str, value: &str) -> Result<Vec<PartnerId>, QueryError> {
    let check = |p: &str| PartnerId::parse(p).map_err(|e| err(key, e.to_string()));
    split_list(key, value)?.into_iter().map(check).collect()
}

fn spec_versions(key: &str, value: &str) -> Result<Vec<String>, QueryError> {
    let check = |v: &str| {
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|c| c.is_ascii_digit());
        match v.split_once('.') {
            Some((a, b)) if digits(a) && digits(b) => Ok(v.to_owned()),
            _ => Err(err(key, format!("'{v}' is not a spec version such as 2.1"))),
        }
    };
    split_list(key, value)?.into_iter().map(check).collect()
}

/// The `match[version]` values of a request, gathered over its repeats.
#[derive(Default)]
struct Versions {
    given: bool,
    first: bool,
    last: bool,
    all: bool,
    exact: Vec<Timestamp>,
}

impl Versions {
    fn add(&mut self, key: &str, value: &str) -> Result<(), QueryError> {
        self.given = true;
        for v in split_list(key, value)? {
            let once = |set: &mut bool| match std::mem::replace(set, true) {
                true => Err(err(key, format!("'{v}' may occur only once"))),
                false => Ok(()),
            };
            match v {
                "first" => once(&mut self.first)?,
                "last" => once(&mut self.last)?,
                "all" => once(&mut self.all)?,
                ts => self.exact.push(Timestamp::parse_rfc3339(ts).ok_or_else(|| {
                    err(
                        key,
                        format!("'{ts}' is not first, last, all or an RFC 3339 timestamp"),
                    )
                })?),
            }
        }
        Ok(())
    }

    /// The selector they make, when any was given.
    fn selector(mut self) -> Result<Option<VersionSelector>, QueryError> {
        if self.all && (self.first || self.last || !self.exact.is_empty()) {
            // TAXII 2.1 §3.4.1: `all` MUST NOT be used with any other version parameter.
            let why = "'all' already names every version: use it alone";
            return Err(err("match[version]", why));
        }
        if !self.given {
            return Ok(None);
        }
        if self.all {
            return Ok(Some(VersionSelector::All));
        }
        self.exact.sort_unstable();
        self.exact.dedup();
        let (first, last, exact) = (self.first, self.last, self.exact);
        Ok(Some(VersionSelector::Some { first, last, exact }))
    }
}

impl Query {
    /// Parses decoded query pairs for `endpoint`. Repeated list filters are merged; repeated
    /// single-valued ones are refused.
    pub fn parse(
        endpoint: Endpoint,
        pairs: &[(String, String)],
        limits: &Limits,
    ) -> Result<Query, QueryError> {
        let mut q = Query::defaults(endpoint, limits);
        let mut seen: Vec<&str> = vec![];
        let mut versions = Versions::default();
        let mut spec: Vec<String> = vec![];
        for (key, value) in pairs {
            let key = key.as_str();
            if !admitted(endpoint, key, &seen)? {
                continue;
            }
            seen.push(key);
            match key {
                "match[version]" => versions.add(key, value)?,
                "match[spec_version]" => spec.extend(spec_versions(key, value)?),
                _ => q.take(key, value, limits)?,
            }
        }
        if let Some(selected) = versions.selector()? {
            q.versions = selected;
        }
        if !spec.is_empty() {
            spec.sort();
            spec.dedup();
            q.spec_versions = SpecVersions::Only(spec);
        }
        q.normalise();
        q.given = FILTERS.into_iter().filter(|f| seen.contains(f)).collect();
        Ok(q)
    }

    /// What a request without parameters asks of `endpoint`.
    fn defaults(endpoint: Endpoint, limits: &Limits) -> Query {
        Query {
            added_after: None,
            limit: limits.default_page_size,
            next: None,
            ids: vec![],
            types: vec![],
            producers: vec![],
            refs: vec![],
            about_mine: endpoint == Endpoint::Feedback,
            // Section 5.7: without match[version], DELETE removes every version.
            versions: match endpoint {
                Endpoint::Delete => VersionSelector::All,
                _ => VersionSelector::last(),
            },
            spec_versions: SpecVersions::Latest,
            given: vec![],
        }
    }

    /// Reads one parameter other than the version filters.
    fn take(&mut self, key: &str, value: &str, limits: &Limits) -> Result<(), QueryError> {
        match key {
            "added_after" => {
                self.added_after = Some(Timestamp::parse_rfc3339(value).ok_or_else(|| {
                    let why = "is not an RFC 3339 timestamp such as 2026-01-01T00:00:00Z";
                    err(key, format!("'{value}' {why}"))
                })?)
            }
            "limit" => self.limit = page_size(key, value)?.min(limits.max_page_size),
            "next" if value.is_empty() => return Err(err(key, "empty")),
            "next" => self.next = Some(value.to_owned()),
            "match[id]" => self.ids.extend(stix_ids(key, value)?),
            "match[ref]" => self.refs.extend(stix_ids(key, value)?),
            "match[about]" if value != "mine" => {
                return Err(err(
                    key,
                    "the only value is 'mine' (your partner's objects)",
                ))
            }
            "match[about]" => self.about_mine = true,
            "match[type]" => self.types.extend(type_names(key, value)?),
            "match[producer]" => self.producers.extend(partner_ids(key, value)?),
            _ => unreachable!("allows() covers every key"),
        }
        Ok(())
    }

    /// Lists in a canonical order, each item once.
    fn normalise(&mut self) {
        for list in [&mut self.ids, &mut self.refs] {
            list.sort();
            list.dedup();
        }
        self.types.sort();
        self.types.dedup();
        self.producers.sort();
        self.producers.dedup();
    }

    /// The filters the request named, in a canonical form `parse` reads back: JSON pairs of
    /// parameter and value. A `next` token carries it.
    pub fn listing(&self) -> String {
        let pairs: Vec<(&str, String)> = self
            .given
            .iter()
            .map(|f| (*f, self.filter_value(f)))
            .collect();
        serde_json::to_string(&pairs).unwrap_or_default()
    }

    fn filter_value(&self, filter: &str) -> String {
        match filter {
            "added_after" => self.added_after.map(|t| t.to_string()).unwrap_or_default(),
            "match[id]" => self.ids.join(","),
            "match[type]" => self.types.join(","),
            "match[producer]" => self.producers.join(","),
            "match[ref]" => self.refs.join(","),
            "match[about]" => "mine".into(),
            "match[version]" => match &self.versions {
                VersionSelector::All => "all".into(),
                VersionSelector::Some { first, last, exact } => {
                    let mut items: Vec<String> = vec![];
                    items.extend(first.then(|| "first".to_owned()));
                    items.extend(last.then(|| "last".to_owned()));
                    items.extend(exact.iter().map(Timestamp::to_string));
                    items.join(",")
                }
            },
            _ => match &self.spec_versions {
                SpecVersions::Latest => String::new(),
                SpecVersions::Only(list) => list.join(","),
            },
        }
    }

    /// This request with the filters of the listing its `next` token continues: a filter it
    /// leaves out is the listing's, one it repeats must be the same, any other is refused by
    /// name. `listing` is what the token carries (see `cursor::Listing`).
    pub fn resume(
        self,
        endpoint: Endpoint,
        listing: &Listing,
        limits: &Limits,
    ) -> Result<Query, QueryError> {
        let text =
            match listing {
                Listing::Digest(d) if *d == digest(&self.listing()) => return Ok(self),
                Listing::Digest(_) => return Err(err(
                    "next",
                    "this token continues a listing whose filters are too long to travel in it: \
                     repeat that listing's filters unchanged with it",
                )),
                Listing::Filters(text) => text,
            };
        let pairs: Vec<(String, String)> = serde_json::from_str(text)
            .map_err(|_| err("next", "the token's filters cannot be read"))?;
        let mut listed = Query::parse(endpoint, &pairs, limits)?;
        for f in &self.given {
            if self.filter_value(f) != listed.filter_value(f) {
                return Err(err(
                    f,
                    "differs from the listing this next token continues: send it unchanged, \
                     or leave it out to keep the listing's",
                ));
            }
        }
        for f in self.given {
            if !listed.given.contains(&f) {
                listed.given.push(f);
            }
        }
        listed
            .given
            .sort_by_key(|f| FILTERS.iter().position(|x| x == f));
        listed.limit = self.limit;
        listed.next = self.next;
        Ok(listed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)], e: Endpoint) -> Result<Query, QueryError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        Query::parse(e, &pairs, &limits())
    }

    fn limits() -> Limits {
        Limits {
            default_page_size: 100,
            max_page_size: 1000,
        }
    }

    #[test]
    fn defaults_and_caps() {
        let q = p(&[], Endpoint::Objects).unwrap();
        assert_eq!(q.limit, 100);
        assert_eq!(q.versions, VersionSelector::last());
        assert_eq!(q.spec_versions, SpecVersions::Latest);
        assert_eq!(
            p(&[("limit", "5000")], Endpoint::Objects).unwrap().limit,
            1000
        );
        assert_eq!(
            p(&[], Endpoint::Delete).unwrap().versions,
            VersionSelector::All
        );
    }

    #[test]
    fn version_combinations() {
        let q = p(&[("match[version]", "first,last")], Endpoint::Objects).unwrap();
        assert_eq!(
            q.versions,
            VersionSelector::Some {
                first: true,
                last: true,
                exact: vec![]
            }
        );
        let q = p(&[("match[version]", "all")], Endpoint::Objects).unwrap();
        assert_eq!(q.versions, VersionSelector::All);
        // `all` alone, each keyword once (TAXII 2.1 §3.4.1).
        for bad in [
            &[("match[version]", "last,all")][..],
            &[
                ("match[version]", "all"),
                ("match[version]", "2024-01-01T00:00:00Z"),
            ][..],
            &[("match[version]", "last,last")][..],
            &[("match[version]", "first"), ("match[version]", "first")][..],
        ] {
            let e = p(bad, Endpoint::Objects).unwrap_err();
            assert_eq!(e.param, "match[version]", "{bad:?}");
        }
    }

    #[test]
    fn malformed_values_name_the_parameter() {
        for (k, v) in [
            ("limit", "0"),
            ("limit", "ten"),
            ("added_after", "yesterday"),
            ("match[version]", "newest"),
            ("match[id]", "indicator--nope"),
            ("match[ref]", "note"),
            ("match[type]", "Indicator"),
            ("match[spec_version]", "two"),
        ] {
            let e = p(&[(k, v)], Endpoint::Objects).unwrap_err();
            assert_eq!(e.param, k);
        }
        assert_eq!(
            p(&[("match[type]", "x")], Endpoint::Versions)
                .unwrap_err()
                .param,
            "match[type]"
        );
    }

    #[test]
    fn type_filters_follow_the_stix_type_name_rule() {
        let q = p(
            &[("match[type]", "indicator,x-acme-widget")],
            Endpoint::Objects,
        )
        .unwrap();
        assert_eq!(q.types, vec!["indicator", "x-acme-widget"]);
        for (bad, why) in [
            ("1-acme", "it must begin with a letter a-z"),
            ("x--acme", "it must not contain '--'"),
            ("ab", "it has 2 characters"),
        ] {
            let e = p(&[("match[type]", bad)], Endpoint::Manifest).unwrap_err();
            assert_eq!(e.param, "match[type]");
            let start = format!("'{bad}' is not a STIX type name: {why}");
            assert!(e.problem.starts_with(&start), "{}", e.problem);
        }
        // An identifier's type part follows the same rule.
        assert!(StixId::parse_filter("x-acme--6ba7b810-9dad-41d1-80b4-00c04fd430c8").is_ok());
        assert!(StixId::parse_filter("1-acme--6ba7b810-9dad-41d1-80b4-00c04fd430c8").is_err());
    }

    fn listing_of(pairs: &[(&str, &str)], e: Endpoint) -> Listing {
        Listing::Filters(p(pairs, e).unwrap().listing())
    }

    #[test]
    fn a_listing_is_read_back_as_the_same_filters() {
        let pairs = [
            ("added_after", "2026-01-01T00:00:00.5Z"),
            ("match[type]", "malware,indicator"),
            ("match[version]", "2026-01-01T00:00:00Z,first"),
            ("match[spec_version]", "2.1"),
            ("limit", "7"),
        ];
        let q = p(&pairs, Endpoint::Objects).unwrap();
        let listing = listing_of(&pairs, Endpoint::Objects);
        let alone = p(&[("next", "t")], Endpoint::Objects).unwrap();
        let resumed = alone
            .resume(Endpoint::Objects, &listing, &limits())
            .unwrap();
        assert_eq!(
            resumed,
            Query {
                limit: 100,
                next: Some("t".into()),
                ..q
            }
        );
    }

    #[test]
    fn a_repeated_filter_must_match_and_an_absent_one_is_inherited() {
        let listing = listing_of(&[("match[type]", "indicator")], Endpoint::Manifest);
        let same = p(
            &[("match[type]", "indicator"), ("next", "t")],
            Endpoint::Manifest,
        )
        .unwrap();
        assert!(same.resume(Endpoint::Manifest, &listing, &limits()).is_ok());
        for (k, v) in [
            ("match[type]", "malware"),
            (
                "match[id]",
                "indicator--0a4b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
            ),
            ("added_after", "2026-01-01T00:00:00Z"),
        ] {
            let q = p(&[(k, v), ("next", "t")], Endpoint::Manifest).unwrap();
            let e = q
                .resume(Endpoint::Manifest, &listing, &limits())
                .unwrap_err();
            assert_eq!(e.param, k);
        }
    }

    #[test]
    fn long_filters_must_be_repeated() {
        let ids: Vec<String> = (0..100)
            .map(|n| format!("indicator--{}", uuid::Uuid::from_u128(n)))
            .collect();
        let joined = ids.join(",");
        let with = p(&[("match[id]", &joined)], Endpoint::Objects).unwrap();
        let listing = Listing::of(&with.listing());
        assert!(matches!(listing, Listing::Digest(_)));
        let again = p(&[("match[id]", &joined), ("next", "t")], Endpoint::Objects).unwrap();
        assert!(again.resume(Endpoint::Objects, &listing, &limits()).is_ok());
        let alone = p(&[("next", "t")], Endpoint::Objects).unwrap();
        let e = alone
            .resume(Endpoint::Objects, &listing, &limits())
            .unwrap_err();
        assert_eq!(e.param, "next");
    }
}
