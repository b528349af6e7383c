//! Checks the regular expression of a MATCHES comparison (STIX 2.1 section 9.6.1: PCRE syntax)
//! without compiling it. Compiling expands repetitions and subroutine calls into automata whose
//! size a few bytes of input control (`\w{1000}`, `(?<a>x\g<a>\g<a>)`), so the check stays at
//! the syntax: fancy-regex's parser for the PCRE constructs, regex-syntax for the character
//! classes and escapes it delegates. Both parsers are linear and cap their own nesting.

use fancy_regex::Expr;
use std::collections::HashSet;

/// The longest regular expression accepted in one comparison, in characters.
pub const MAX_CHARS: usize = 4096;

/// Why `re` is refused, if it is.
pub fn problem(re: &str) -> Option<String> {
    let chars = re.chars().count();
    if chars > MAX_CHARS {
        return Some(format!(
            "a regular expression of at most {MAX_CHARS} characters (this one has {chars})"
        ));
    }
    let tree = match Expr::parse_tree(re) {
        Ok(t) => t,
        Err(e) => return Some(format!("a valid regular expression ({e})")),
    };
    if tree.contains_subroutines {
        return Some(
            "a regular expression without subroutine calls or recursion (\\g<name>, (?&name), (?R)), which Cairn does not accept"
                .into(),
        );
    }
    let mut walk = Walk::default();
    walk.visit(&tree.expr);
    if let Some(group) = walk.backrefs.iter().find(|&&g| g > walk.groups) {
        return Some(format!(
            "a valid regular expression (a back reference to group {group}, which does not exist)"
        ));
    }
    walk.delegates.into_iter().find_map(delegate_problem)
}

/// What the walk over the parsed expression collects: the capture groups it counts, the back
/// references it meets, and each distinct delegated piece once.
#[derive(Default)]
struct Walk<'a> {
    groups: usize,
    backrefs: Vec<usize>,
    delegates: HashSet<&'a str>,
}

impl<'a> Walk<'a> {
    /// Recursion is bounded: fancy-regex refuses expressions nested deeper than 64.
    fn visit(&mut self, e: &'a Expr) {
        match e {
            Expr::Group(_) => self.groups += 1,
            Expr::Backref { group, .. } | Expr::BackrefWithRelativeRecursionLevel { group, .. } => {
                self.backrefs.push(*group)
            }
            Expr::Delegate { inner, .. } => {
                self.delegates.insert(inner.as_str());
            }
            _ => {}
        }
        for child in e.children_iter() {
            self.visit(child);
        }
    }
}

/// A delegated piece (a class, an escape, `.`) that regex-syntax does not accept. Unicode
/// property names are only known after translation, which is kept to pieces that name one.
fn delegate_problem(inner: &str) -> Option<String> {
    let refuse = |e: &dyn std::fmt::Display| {
        let why = e.to_string();
        let why = why
            .lines()
            .last()
            .unwrap_or_default()
            .trim_start_matches("error: ");
        Some(format!("a valid regular expression ({why} in '{inner}')"))
    };
    let mut ast = regex_syntax::ast::parse::ParserBuilder::new().build();
    if let Err(e) = ast.parse(inner) {
        return refuse(&e.kind());
    }
    if inner.contains("\\p") || inner.contains("\\P") {
        if let Err(e) = regex_syntax::ParserBuilder::new().build().parse(inner) {
            return refuse(&e);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_expressions_pass() {
        for re in [
            r".+\@example\.com$",
            r"^Final Report.+\.exe$",
            r"\xd4\xc3\xb2\xa1",
            r"(?<year>\d{4})-\k<year>",
            r"(a)(b)\2\1",
            r"(?i)[a-z]{3,8}(?=\d)(?<!x)",
            r"\p{L}{200}\w{1000}",
            "([a-z]{1000}){100}",
            "(?P<n>a)(?P=n)",
        ] {
            assert_eq!(problem(re), None, "{re}");
        }
    }

    #[test]
    fn invalid_expressions_say_why() {
        for (re, why) in [
            ("(unclosed", "a valid regular expression (Parsing error"),
            (
                "[z-a]",
                "a valid regular expression (invalid character class range",
            ),
            (
                r"\p{Foo}",
                "a valid regular expression (Unicode property not found",
            ),
            (
                r"(a)\2",
                "a valid regular expression (a back reference to group 2",
            ),
            (
                r"(?<a>x\g<a>\g<a>\g<a>|y)",
                "a regular expression without subroutine calls",
            ),
            (
                r"(?<a>x)\g<a>",
                "a regular expression without subroutine calls",
            ),
        ] {
            let p = problem(re).unwrap_or_else(|| panic!("{re} passed"));
            assert!(p.starts_with(why), "{re}: {p}");
        }
        let long = "a".repeat(MAX_CHARS + 1);
        assert_eq!(
            problem(&long).unwrap(),
            format!("a regular expression of at most 4096 characters (this one has 4097)")
        );
        assert_eq!(problem(&"a".repeat(MAX_CHARS)), None);
    }

    #[test]
    fn hostile_expressions_are_answered_at_the_syntax() {
        // Compiled, each of these asked for gigabytes of memory or seconds of CPU.
        let nested: String = (0..8).fold("x".to_string(), |s, i| format!("(?<g{i}>{s}\\g<g{i}>)"));
        assert!(problem(&nested).unwrap().contains("subroutine"));
        assert_eq!(problem(r"(\w{1000}){1000}"), None);
        let deep = format!("{}a{}", "(".repeat(2000), ")".repeat(2000));
        assert!(
            problem(&deep).unwrap().contains("nested"),
            "{:?}",
            problem(&deep)
        );
    }
}
