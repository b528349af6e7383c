//! STIX patterns (`pattern_type` "stix", STIX 2.1 section 9): a hand-written recursive-descent
//! parser that turns a pattern into a small tree, or says at which column (1-based, counted in
//! characters) what was expected.
//!
//! The grammar, written from the prose of section 9 (not taken from any other implementation):
//!
//! ```text
//! pattern      = obs-seq END
//! obs-seq      = obs-or  *( "FOLLOWEDBY" obs-or )          ; lowest precedence
//! obs-or       = obs-and *( "OR" obs-and )
//! obs-and      = obs-qual *( "AND" obs-qual )
//! obs-qual     = obs-primary *qualifier                     ; qualifiers bind tightest
//! obs-primary  = "[" cmp-or "]" / "(" obs-seq ")"
//! qualifier    = "WITHIN" number "SECONDS"                  ; number > 0
//!              / "REPEATS" integer "TIMES"                  ; integer > 0
//!              / "START" timestamp "STOP" timestamp         ; START earlier than STOP
//! cmp-or       = cmp-and *( "OR" cmp-and )
//! cmp-and      = cmp-primary *( "AND" cmp-primary )
//! cmp-primary  = "(" cmp-or ")" / comparison
//! comparison   = [ "NOT" ] "EXISTS" path
//!              / path [ "NOT" ] ( "=" / "!=" / "<" / "<=" / ">" / ">=" ) constant
//!              / path [ "NOT" ] "IN" "(" constant *( "," constant ) ")"
//!              / path [ "NOT" ] ( "LIKE" / "MATCHES" / "ISSUBSET" / "ISSUPERSET" ) string
//! path         = object-type ":" property *( "." property / "[" ( digits / "*" ) "]" )
//! property     = 1*( ALPHA / DIGIT / "_" ) / "'" quoted-name "'"
//! constant     = string / integer / float / "true" / "false"
//!              / "t'" timestamp "'" / "h'" hex "'" / "b'" base64 "'"
//! ```
//!
//! Keywords and the booleans are case-sensitive, written as the specification writes them.
//! Whitespace (any Unicode White_Space character) may separate tokens; none is allowed inside an
//! object path.

use std::collections::BTreeSet;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::stix::problem::Problem;

/// Nesting of parentheses (at both levels) beyond which a pattern is refused, so that a hostile
/// pattern cannot exhaust the stack.
const MAX_DEPTH: usize = 100;
/// The longest pattern accepted, in characters: parsing is linear, this bounds its cost per object.
pub const MAX_CHARS: usize = 100_000;
/// STIX integers are 54-bit signed (section 2.10): [-(2**53)+1, (2**53)-1].
const MAX_INT: i64 = (1 << 53) - 1;
/// Found tokens longer than this are shortened in messages.
const MAX_FOUND: usize = 40;

const EXPECT_OBSERVATION: &str = "'[' or '('";
const EXPECT_COMPARISON: &str = "an object path, EXISTS or '('";
const EXPECT_OPERATOR: &str =
    "a comparison operator (=, !=, <, <=, >, >=, IN, LIKE, MATCHES, ISSUBSET, ISSUPERSET)";
const EXPECT_TYPE: &str =
    "an object type (3-250 characters of a-z, 0-9 and '-', starting with a letter, no '--')";
const EXPECT_AFTER_COMPARISON: &str = "']' or AND/OR";
const EXPECT_AFTER_GROUP: &str = "')' or AND/OR";
const EXPECT_AFTER_OBSERVATION: &str =
    "AND, OR, FOLLOWEDBY, WITHIN, REPEATS, START or end of pattern";
const EXPECT_AFTER_NESTED_OBSERVATION: &str = "AND, OR, FOLLOWEDBY, WITHIN, REPEATS, START or ')'";
const EXPECT_TIMESTAMP: &str = "a timestamp t'YYYY-MM-DDTHH:mm:ss[.s+]Z'";

/// A parsed pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    pub expression: ObservationExpr,
}

/// Observation expressions joined by observation operators, with their qualifiers. A chain of
/// one operator is one node holding its operands in order (at least two), so the tree is only
/// as deep as the parentheses: walking or dropping it cannot exhaust the stack.
#[derive(Debug, Clone, PartialEq)]
pub enum ObservationExpr {
    /// `[ ... ]`: comparison expressions matched against one observation.
    Observation(ComparisonExpr),
    And(Vec<ObservationExpr>),
    Or(Vec<ObservationExpr>),
    FollowedBy(Vec<ObservationExpr>),
    /// An observation expression (bracketed, or a parenthesised group) and its qualifiers, in
    /// the order written.
    Qualified {
        expression: Box<ObservationExpr>,
        qualifiers: Vec<Qualifier>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Qualifier {
    /// `WITHIN x SECONDS`, x > 0.
    Within(f64),
    /// `REPEATS x TIMES`, x > 0.
    Repeats(i64),
    /// `START t'..' STOP t'..'`, the timestamps as written (without `t'` and `'`).
    StartStop { start: String, stop: String },
}

/// Comparisons joined by the Boolean operators inside one pair of brackets; chains are flat, as
/// in `ObservationExpr`.
#[derive(Debug, Clone, PartialEq)]
pub enum ComparisonExpr {
    Comparison(Comparison),
    And(Vec<ComparisonExpr>),
    Or(Vec<ComparisonExpr>),
}

/// `<path> [NOT] <operator> <constant>`, or `[NOT] EXISTS <path>` (whose `value` is `None`).
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub path: ObjectPath,
    pub negated: bool,
    pub operator: Operator,
    pub value: Option<Constant>,
    /// Column (1-based, in characters) where the comparison starts.
    pub column: usize,
}

/// `<object-type>:<property>` followed by nested properties and list indexes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectPath {
    pub object_type: String,
    /// Never empty; the first step is always a property.
    pub steps: Vec<PathStep>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    /// A property name or dictionary key (quotes removed, escapes resolved).
    Property(String),
    /// `[n]`
    Index(u64),
    /// `[*]`
    AnyIndex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
    In,
    Like,
    Matches,
    IsSubset,
    IsSuperset,
    Exists,
}

impl Operator {
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Equal => "=",
            Operator::NotEqual => "!=",
            Operator::Less => "<",
            Operator::LessOrEqual => "<=",
            Operator::Greater => ">",
            Operator::GreaterOrEqual => ">=",
            Operator::In => "IN",
            Operator::Like => "LIKE",
            Operator::Matches => "MATCHES",
            Operator::IsSubset => "ISSUBSET",
            Operator::IsSuperset => "ISSUPERSET",
            Operator::Exists => "EXISTS",
        }
    }
}

/// A constant; `Set` only as the operand of `IN`.
#[derive(Debug, Clone, PartialEq)]
pub enum Constant {
    /// Escapes resolved.
    String(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
    /// The text between `t'` and `'`.
    Timestamp(String),
    /// The text between `h'` and `'`.
    Hex(String),
    /// The text between `b'` and `'` (base64, possibly with line feeds).
    Binary(String),
    Set(Vec<Constant>),
}

impl Constant {
    fn kind(&self) -> &'static str {
        match self {
            Constant::String(_) => "string",
            Constant::Integer(_) | Constant::Float(_) => "number",
            Constant::Boolean(_) => "boolean",
            Constant::Timestamp(_) => "timestamp",
            Constant::Hex(_) => "hex",
            Constant::Binary(_) => "binary",
            Constant::Set(_) => "set",
        }
    }
}

/// Where a pattern stops making sense and what would have been right there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: expected {expected}, found {found}")]
pub struct PatternError {
    /// 1-based, counted in characters (not bytes) of the pattern string.
    pub column: usize,
    pub expected: String,
    /// Ready to print: the offending token in single quotes (a string or typed constant is shown
    /// as written, with its own quotes), or `end of pattern`.
    pub found: String,
}

impl Pattern {
    /// The bracketed observation expressions, left to right.
    pub fn observations(&self) -> Vec<&ComparisonExpr> {
        fn walk<'a>(e: &'a ObservationExpr, out: &mut Vec<&'a ComparisonExpr>) {
            match e {
                ObservationExpr::Observation(c) => out.push(c),
                ObservationExpr::And(items)
                | ObservationExpr::Or(items)
                | ObservationExpr::FollowedBy(items) => {
                    items.iter().for_each(|i| walk(i, out));
                }
                ObservationExpr::Qualified { expression, .. } => walk(expression, out),
            }
        }
        let mut out = vec![];
        walk(&self.expression, &mut out);
        out
    }

    /// Every comparison, left to right.
    pub fn comparisons(&self) -> Vec<&Comparison> {
        let mut out = vec![];
        for o in self.observations() {
            o.collect(&mut out);
        }
        out
    }

    /// The object types the pattern's paths start from.
    pub fn object_types(&self) -> BTreeSet<&str> {
        self.comparisons()
            .into_iter()
            .map(|c| c.path.object_type.as_str())
            .collect()
    }
}

impl ComparisonExpr {
    fn collect<'a>(&'a self, out: &mut Vec<&'a Comparison>) {
        match self {
            ComparisonExpr::Comparison(c) => out.push(c),
            ComparisonExpr::And(items) | ComparisonExpr::Or(items) => {
                items.iter().for_each(|i| i.collect(out));
            }
        }
    }
}

/// The object types one object would need to have to satisfy an expression: AND needs every
/// operand satisfied by the same object, OR any. Computed while parsing, once per operand.
type Types = BTreeSet<String>;

/// One operand, or a flat node of two or more.
fn join<T>(mut items: Vec<T>, node: fn(Vec<T>) -> T) -> T {
    if items.len() == 1 {
        items.pop().expect("one item")
    } else {
        node(items)
    }
}

impl fmt::Display for ObjectPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.object_type)?;
        for (i, step) in self.steps.iter().enumerate() {
            match step {
                PathStep::Property(p) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    if !p.is_empty() && p.chars().all(is_word) {
                        f.write_str(p)?;
                    } else {
                        write!(f, "'{}'", p.replace('\\', "\\\\").replace('\'', "\\'"))?;
                    }
                }
                PathStep::Index(n) => write!(f, "[{n}]")?,
                PathStep::AnyIndex => f.write_str("[*]")?,
            }
        }
        Ok(())
    }
}

/// Parses a STIX 2.1 pattern.
pub fn parse(pattern: &str) -> Result<Pattern, PatternError> {
    if let Some((at, _)) = pattern.char_indices().nth(MAX_CHARS) {
        return Err(PatternError {
            column: MAX_CHARS + 1,
            expected: format!(
                "the end of the pattern (a pattern has at most {MAX_CHARS} characters)"
            ),
            found: format!(
                "'{}'",
                shorten(&escape_controls(
                    &pattern[at..].chars().take(MAX_FOUND).collect::<String>()
                ))
            ),
        });
    }
    let mut p = Parser {
        s: pattern.chars().collect(),
        pos: 0,
        depth: 0,
    };
    let expression = p.observation_sequence()?;
    p.skip_ws();
    if p.pos < p.s.len() {
        return Err(p.error(p.pos, EXPECT_AFTER_OBSERVATION));
    }
    Ok(Pattern { expression })
}

/// The problem with the pattern of an indicator (at `pointer`, e.g. `/pattern`), if any.
pub fn check(pattern: &str, pointer: &str) -> Option<Problem> {
    parse(pattern)
        .err()
        .map(|e| Problem::new(pointer, format!("invalid STIX pattern at {e}")))
}

fn and_across_types(left: &Types) -> String {
    let names: Vec<&str> = left.iter().map(String::as_str).collect();
    format!(
        "a comparison on {} (operands of AND must be satisfiable by the same object; join other object types with OR)",
        if names.is_empty() {
            "one object type".to_string()
        } else {
            names.join(" or ")
        }
    )
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// `YYYY-MM-DDTHH:mm:ss[.s+]Z` (section 2.16) naming a real date and time.
fn is_stix_timestamp(t: &str) -> bool {
    let b = t.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if b.len() < 20
        || !digits(0..4)
        || b[4] != b'-'
        || !digits(5..7)
        || b[7] != b'-'
        || !digits(8..10)
        || b[10] != b'T'
        || !digits(11..13)
        || b[13] != b':'
        || !digits(14..16)
        || b[16] != b':'
        || !digits(17..19)
        || b[b.len() - 1] != b'Z'
    {
        return false;
    }
    let fraction = &b[19..b.len() - 1];
    if !fraction.is_empty()
        && (fraction[0] != b'.'
            || fraction.len() < 2
            || !fraction[1..].iter().all(u8::is_ascii_digit))
    {
        return false;
    }
    let num = |r: std::ops::Range<usize>| t[r].parse::<u32>().unwrap_or(u32::MAX);
    let year = num(0..4) as i32;
    chrono::NaiveDate::from_ymd_opt(year, num(5..7), num(8..10)).is_some()
        && num(11..13) < 24
        && num(14..16) < 60
        // RFC 3339 allows a leap second.
        && num(17..19) <= 60
}

/// Orders two valid STIX timestamps: the fixed-width part compares as text, then the fraction.
fn timestamp_before(a: &str, b: &str) -> bool {
    let fraction = |t: &str| t[19..t.len() - 1].trim_start_matches('.').to_string();
    match a[..19].cmp(&b[..19]) {
        std::cmp::Ordering::Less => true,
        std::cmp::Ordering::Greater => false,
        std::cmp::Ordering::Equal => {
            let (mut fa, mut fb) = (fraction(a), fraction(b));
            let width = fa.len().max(fb.len());
            while fa.len() < width {
                fa.push('0');
            }
            while fb.len() < width {
                fb.push('0');
            }
            fa < fb
        }
    }
}

/// An IPv4 or IPv6 address, or CIDR block, as ISSUBSET/ISSUPERSET need (section 9.6.1).
fn is_ip_or_cidr(s: &str) -> bool {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let max = if addr.parse::<Ipv4Addr>().is_ok() {
        32
    } else if addr.parse::<Ipv6Addr>().is_ok() {
        128
    } else {
        return false;
    };
    match prefix {
        None => true,
        Some(p) => {
            !p.is_empty()
                && p.chars().all(|c| c.is_ascii_digit())
                && p.parse::<u32>().is_ok_and(|n| n <= max)
        }
    }
}

/// What a constant after an operator must be.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    /// `=` and `!=`: any constant.
    Any,
    /// `<`, `<=`, `>`, `>=`: anything that has an order (not a boolean).
    Orderable,
    /// LIKE and MATCHES.
    String,
    /// ISSUBSET and ISSUPERSET.
    Network,
}

impl Want {
    fn expected(self) -> &'static str {
        match self {
            Want::Any => "a constant (string, number, boolean, t'...', h'...' or b'...')",
            Want::Orderable => {
                "a string, number, timestamp, hex or binary constant (booleans have no order)"
            }
            Want::String => "a string constant",
            Want::Network => "a string constant holding an IPv4 or IPv6 address or CIDR block",
        }
    }
}

struct Parser {
    s: Vec<char>,
    pos: usize,
    depth: usize,
}

type Res<T> = Result<T, PatternError>;

impl Parser {
    fn at(&self, i: usize) -> Option<char> {
        self.s.get(i).copied()
    }

    fn peek(&self) -> Option<char> {
        self.at(self.pos)
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn text(&self, from: usize, to: usize) -> String {
        self.s[from..to.min(self.s.len())].iter().collect()
    }

    fn word_end(&self, from: usize) -> usize {
        let mut i = from;
        while self.at(i).is_some_and(is_word) {
            i += 1;
        }
        i
    }

    /// The word (letters, digits, `_`) at the current position, without moving.
    fn word(&self) -> String {
        self.text(self.pos, self.word_end(self.pos))
    }

    /// Consumes the keyword `kw` (whole word, exact case) after optional whitespace.
    fn eat_keyword(&mut self, kw: &str) -> bool {
        self.skip_ws();
        // Compared in place: copying out a long word on every try would cost its length each time.
        let end = self.pos + kw.len();
        let here = self
            .s
            .get(self.pos..end)
            .is_some_and(|w| w.iter().copied().eq(kw.chars()));
        if here && !self.at(end).is_some_and(is_word) {
            self.pos += kw.len();
            true
        } else {
            false
        }
    }

    fn enter(&mut self) -> Res<()> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error(self.pos, format!("at most {MAX_DEPTH} nested parentheses")));
        }
        self.depth += 1;
        Ok(())
    }

    fn error(&self, at: usize, expected: impl Into<String>) -> PatternError {
        PatternError {
            column: at + 1,
            expected: expected.into(),
            found: self.found(at),
        }
    }

    /// Index just past the closing quote of a quoted text opening at `open`, if it is closed.
    fn quoted_end(&self, open: usize, escapes: bool) -> Option<usize> {
        let mut i = open + 1;
        loop {
            match self.at(i)? {
                '\\' if escapes => i += 2,
                '\'' => return Some(i + 1),
                _ => i += 1,
            }
        }
    }

    /// The token at `at`, ready for a message.
    fn found(&self, at: usize) -> String {
        let Some(c) = self.at(at) else {
            return "end of pattern".into();
        };
        let next = self.at(at + 1);
        if c == '\'' || (matches!(c, 't' | 'h' | 'b') && next == Some('\'')) {
            let open = if c == '\'' { at } else { at + 1 };
            let end = self.quoted_end(open, c == '\'').unwrap_or(self.s.len());
            return shorten(&escape_controls(&self.text(at, end)));
        }
        let token = if is_word(c) || (c == '-' && next.is_some_and(|n| n.is_ascii_digit())) {
            let mut i = at + 1;
            while self
                .at(i)
                .is_some_and(|c| is_word(c) || matches!(c, '-' | '.' | ':'))
            {
                i += 1;
            }
            self.text(at, i)
        } else if matches!(c, '!' | '<' | '>') && next == Some('=') {
            self.text(at, at + 2)
        } else {
            c.to_string()
        };
        format!("'{}'", shorten(&escape_controls(&token)))
    }

    // ---- observation level ----

    fn observation_sequence(&mut self) -> Res<ObservationExpr> {
        let mut items = vec![self.observation_or()?];
        while self.eat_keyword("FOLLOWEDBY") {
            items.push(self.observation_or()?);
        }
        Ok(join(items, ObservationExpr::FollowedBy))
    }

    fn observation_or(&mut self) -> Res<ObservationExpr> {
        let mut items = vec![self.observation_and()?];
        while self.eat_keyword("OR") {
            items.push(self.observation_and()?);
        }
        Ok(join(items, ObservationExpr::Or))
    }

    fn observation_and(&mut self) -> Res<ObservationExpr> {
        let mut items = vec![self.qualified_observation()?];
        while self.eat_keyword("AND") {
            items.push(self.qualified_observation()?);
        }
        Ok(join(items, ObservationExpr::And))
    }

    fn qualified_observation(&mut self) -> Res<ObservationExpr> {
        let expression = self.observation_primary()?;
        let mut qualifiers: Vec<Qualifier> = vec![];
        loop {
            self.skip_ws();
            let start = self.pos;
            let keyword = self.word();
            let qualifier = match keyword.as_str() {
                "WITHIN" => {
                    self.pos += keyword.len();
                    self.within()?
                }
                "REPEATS" => {
                    self.pos += keyword.len();
                    self.repeats()?
                }
                "START" => {
                    self.pos += keyword.len();
                    self.start_stop()?
                }
                _ => break,
            };
            // Section 9.5.1: no more than one qualifier of a type on one observation expression.
            if qualifiers
                .iter()
                .any(|q| std::mem::discriminant(q) == std::mem::discriminant(&qualifier))
            {
                return Err(self.error(
                    start,
                    format!("at most one {keyword} qualifier on an observation expression"),
                ));
            }
            qualifiers.push(qualifier);
        }
        Ok(if qualifiers.is_empty() {
            expression
        } else {
            ObservationExpr::Qualified {
                expression: Box::new(expression),
                qualifiers,
            }
        })
    }

    fn observation_primary(&mut self) -> Res<ObservationExpr> {
        self.skip_ws();
        match self.peek() {
            Some('[') => {
                self.pos += 1;
                let (inner, _) = self.comparison_or()?;
                self.skip_ws();
                if self.peek() != Some(']') {
                    return Err(self.error(self.pos, EXPECT_AFTER_COMPARISON));
                }
                self.pos += 1;
                Ok(ObservationExpr::Observation(inner))
            }
            Some('(') => {
                self.enter()?;
                self.pos += 1;
                let inner = self.observation_sequence()?;
                self.skip_ws();
                if self.peek() != Some(')') {
                    return Err(self.error(self.pos, EXPECT_AFTER_NESTED_OBSERVATION));
                }
                self.pos += 1;
                self.depth -= 1;
                Ok(inner)
            }
            _ => Err(self.error(self.pos, EXPECT_OBSERVATION)),
        }
    }

    fn within(&mut self) -> Res<Qualifier> {
        const EXPECTED: &str = "a positive number of seconds";
        self.skip_ws();
        let start = self.pos;
        let seconds = match self.peek() {
            Some(c) if c == '-' || c.is_ascii_digit() => match self.number()? {
                Constant::Integer(n) if n > 0 => n as f64,
                Constant::Float(f) if f > 0.0 => f,
                _ => return Err(self.error(start, EXPECTED)),
            },
            _ => return Err(self.error(start, EXPECTED)),
        };
        if !self.eat_keyword("SECONDS") {
            return Err(self.error(self.pos, "SECONDS"));
        }
        Ok(Qualifier::Within(seconds))
    }

    fn repeats(&mut self) -> Res<Qualifier> {
        const EXPECTED: &str = "a positive integer";
        self.skip_ws();
        let start = self.pos;
        let times = match self.peek() {
            Some(c) if c == '-' || c.is_ascii_digit() => match self.number()? {
                Constant::Integer(n) if n > 0 => n,
                _ => return Err(self.error(start, EXPECTED)),
            },
            _ => return Err(self.error(start, EXPECTED)),
        };
        if !self.eat_keyword("TIMES") {
            return Err(self.error(self.pos, "TIMES"));
        }
        Ok(Qualifier::Repeats(times))
    }

    fn start_stop(&mut self) -> Res<Qualifier> {
        let start = self.timestamp()?;
        if !self.eat_keyword("STOP") {
            return Err(self.error(self.pos, "STOP"));
        }
        self.skip_ws();
        let stop_at = self.pos;
        let stop = self.timestamp()?;
        if !timestamp_before(&start, &stop) {
            return Err(self.error(
                stop_at,
                format!("a STOP timestamp later than START ({start})"),
            ));
        }
        Ok(Qualifier::StartStop { start, stop })
    }

    fn timestamp(&mut self) -> Res<String> {
        self.skip_ws();
        let start = self.pos;
        if self.peek() == Some('t') && self.at(self.pos + 1) == Some('\'') {
            if let Constant::Timestamp(t) = self.constant(Want::Any)? {
                return Ok(t);
            }
        }
        Err(self.error(start, EXPECT_TIMESTAMP))
    }

    // ---- comparison level ----

    fn comparison_or(&mut self) -> Res<(ComparisonExpr, Types)> {
        let (first, mut types) = self.comparison_and()?;
        let mut items = vec![first];
        while self.eat_keyword("OR") {
            let (item, more) = self.comparison_and()?;
            items.push(item);
            types.extend(more);
        }
        Ok((join(items, ComparisonExpr::Or), types))
    }

    fn comparison_and(&mut self) -> Res<(ComparisonExpr, Types)> {
        let (first, mut types) = self.comparison_primary()?;
        let mut items = vec![first];
        while self.eat_keyword("AND") {
            self.skip_ws();
            let right_at = self.pos;
            let (item, right) = self.comparison_primary()?;
            // Section 9.5: all operands of AND in an observation expression must be satisfiable
            // by the same object, so comparisons on different object types are joined by OR.
            if types.is_disjoint(&right) {
                return Err(self.error(right_at, and_across_types(&types)));
            }
            types.retain(|t| right.contains(t));
            items.push(item);
        }
        Ok((join(items, ComparisonExpr::And), types))
    }

    fn comparison_primary(&mut self) -> Res<(ComparisonExpr, Types)> {
        self.skip_ws();
        if self.peek() == Some('(') {
            self.enter()?;
            self.pos += 1;
            let inner = self.comparison_or()?;
            self.skip_ws();
            if self.peek() != Some(')') {
                return Err(self.error(self.pos, EXPECT_AFTER_GROUP));
            }
            self.pos += 1;
            self.depth -= 1;
            return Ok(inner);
        }
        let c = self.comparison()?;
        let types = BTreeSet::from([c.path.object_type.clone()]);
        Ok((ComparisonExpr::Comparison(c), types))
    }

    fn comparison(&mut self) -> Res<Comparison> {
        self.skip_ws();
        let start = self.pos;
        let column = start + 1;
        let mut negated = false;
        if self.word() == "NOT" {
            self.pos += 3;
            self.skip_ws();
            if self.word() != "EXISTS" {
                return Err(self.error(
                    self.pos,
                    "EXISTS (elsewhere NOT goes between the object path and the operator, as in file:name NOT = 'x')",
                ));
            }
            negated = true;
        }
        if self.word() == "EXISTS" {
            self.pos += "EXISTS".len();
            self.skip_ws();
            let path = self.object_path("an object path")?;
            return Ok(Comparison {
                path,
                negated,
                operator: Operator::Exists,
                value: None,
                column,
            });
        }
        let path = self.object_path(EXPECT_COMPARISON)?;
        let negated = self.eat_keyword("NOT");
        let operator = self.operator()?;
        let value = self.operand(operator)?;
        Ok(Comparison {
            path,
            negated,
            operator,
            value: Some(value),
            column,
        })
    }

    /// The constant (or set) on the right of `operator`, of the kind it compares.
    fn operand(&mut self, operator: Operator) -> Res<Constant> {
        match operator {
            Operator::Equal | Operator::NotEqual => self.constant(Want::Any),
            Operator::Less
            | Operator::LessOrEqual
            | Operator::Greater
            | Operator::GreaterOrEqual => self.constant(Want::Orderable),
            Operator::Like => self.constant(Want::String),
            Operator::Matches => {
                self.skip_ws();
                let start = self.pos;
                let c = self.constant(Want::String)?;
                if let Constant::String(re) = &c {
                    if let Some(why) = crate::stix::regex::problem(re) {
                        return Err(self.error(start, format!("{why} after MATCHES")));
                    }
                }
                Ok(c)
            }
            Operator::IsSubset | Operator::IsSuperset => self.constant(Want::Network),
            Operator::In => self.set(),
            // `operator` never reads EXISTS, which comes before the path.
            Operator::Exists => Err(self.error(self.pos, "a comparison operator")),
        }
    }

    fn operator(&mut self) -> Res<Operator> {
        self.skip_ws();
        let two = (self.peek(), self.at(self.pos + 1));
        let (op, len) = match two {
            (Some('!'), Some('=')) => (Operator::NotEqual, 2),
            (Some('<'), Some('=')) => (Operator::LessOrEqual, 2),
            (Some('>'), Some('=')) => (Operator::GreaterOrEqual, 2),
            (Some('='), _) => (Operator::Equal, 1),
            (Some('<'), _) => (Operator::Less, 1),
            (Some('>'), _) => (Operator::Greater, 1),
            _ => {
                let word = self.word();
                let op = match word.as_str() {
                    "IN" => Operator::In,
                    "LIKE" => Operator::Like,
                    "MATCHES" => Operator::Matches,
                    "ISSUBSET" => Operator::IsSubset,
                    "ISSUPERSET" => Operator::IsSuperset,
                    "EXISTS" => {
                        return Err(self.error(
                            self.pos,
                            "a comparison operator (EXISTS goes before the object path)",
                        ))
                    }
                    _ => return Err(self.error(self.pos, EXPECT_OPERATOR)),
                };
                (op, word.len())
            }
        };
        self.pos += len;
        Ok(op)
    }

    fn set(&mut self) -> Res<Constant> {
        self.skip_ws();
        if self.peek() != Some('(') {
            return Err(self.error(
                self.pos,
                "'(' to start the set of constants IN compares with",
            ));
        }
        self.pos += 1;
        let mut items: Vec<Constant> = vec![];
        loop {
            self.skip_ws();
            let at = self.pos;
            let item = self.constant(Want::Any)?;
            // Section 9.6.1: the set's constants are of one data type (integers and floats are
            // taken as one, both being numbers).
            if let Some(first) = items.first() {
                if first.kind() != item.kind() {
                    return Err(self.error(
                        at,
                        format!("a {} constant like the set's first element", first.kind()),
                    ));
                }
            }
            items.push(item);
            self.skip_ws();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some(')') => {
                    self.pos += 1;
                    return Ok(Constant::Set(items));
                }
                _ => return Err(self.error(self.pos, "',' or ')'")),
            }
        }
    }

    // ---- object paths ----

    fn object_path(&mut self, expected: &str) -> Res<ObjectPath> {
        let start = self.pos;
        let mut end = start;
        while self.at(end).is_some_and(|c| is_word(c) || c == '-') {
            end += 1;
        }
        if end == start {
            return Err(self.error(start, expected));
        }
        let object_type = self.text(start, end);
        if crate::stix::type_name::check(&object_type).is_err() {
            return Err(PatternError {
                column: start + 1,
                expected: EXPECT_TYPE.into(),
                found: format!("'{}'", shorten(&object_type)),
            });
        }
        self.pos = end;
        if self.peek() != Some(':') {
            return Err(self.error(self.pos, "':' after the object type"));
        }
        self.pos += 1;
        let mut steps = vec![PathStep::Property(self.property()?)];
        loop {
            match self.peek() {
                Some('.') => {
                    self.pos += 1;
                    steps.push(PathStep::Property(self.property()?));
                }
                Some('[') => {
                    self.pos += 1;
                    steps.push(self.list_index()?);
                }
                _ => break,
            }
        }
        Ok(ObjectPath { object_type, steps })
    }

    fn property(&mut self) -> Res<String> {
        let start = self.pos;
        if self.peek() == Some('\'') {
            let name = self.quoted_string()?;
            if name.is_empty() {
                return Err(self.error(start, "a property name"));
            }
            return Ok(name);
        }
        let mut end = start;
        while self.at(end).is_some_and(|c| is_word(c) || c == '-') {
            end += 1;
        }
        let name = self.text(start, end);
        if name.is_empty() {
            return Err(self.error(start, "a property name"));
        }
        // Section 9.7: a name containing '-' (or '.') must be in apostrophes.
        if name.contains('-') {
            return Err(PatternError {
                column: start + 1,
                expected: format!("the name in quotes ('{name}') since it contains '-'"),
                found: format!("'{}'", shorten(&name)),
            });
        }
        self.pos = end;
        Ok(name)
    }

    fn list_index(&mut self) -> Res<PathStep> {
        let start = self.pos;
        let step = if self.peek() == Some('*') {
            self.pos += 1;
            PathStep::AnyIndex
        } else {
            let mut end = start;
            while self.at(end).is_some_and(|c| c.is_ascii_digit()) {
                end += 1;
            }
            match self.text(start, end).parse::<u64>() {
                Ok(n) if end > start => {
                    self.pos = end;
                    PathStep::Index(n)
                }
                _ => return Err(self.error(start, "a list index (a non-negative integer or '*')")),
            }
        };
        if self.peek() != Some(']') {
            return Err(self.error(self.pos, "']' to close the list index"));
        }
        self.pos += 1;
        Ok(step)
    }

    // ---- constants ----

    fn constant(&mut self, want: Want) -> Res<Constant> {
        self.skip_ws();
        let start = self.pos;
        let c = match self.peek() {
            Some('\'') => Constant::String(self.quoted_string()?),
            Some(p @ ('t' | 'h' | 'b')) if self.at(self.pos + 1) == Some('\'') => {
                self.typed_constant(p)?
            }
            Some(c) if c == '-' || c.is_ascii_digit() => self.number()?,
            Some(c) if c.is_ascii_alphabetic() => match self.word().as_str() {
                "true" => {
                    self.pos += 4;
                    Constant::Boolean(true)
                }
                "false" => {
                    self.pos += 5;
                    Constant::Boolean(false)
                }
                _ => return Err(self.error(start, want.expected())),
            },
            _ => return Err(self.error(start, want.expected())),
        };
        let fits = match want {
            Want::Any => true,
            Want::Orderable => !matches!(c, Constant::Boolean(_)),
            Want::String => matches!(c, Constant::String(_)),
            Want::Network => matches!(&c, Constant::String(s) if is_ip_or_cidr(s)),
        };
        if !fits {
            return Err(self.error(start, want.expected()));
        }
        Ok(c)
    }

    /// A `'...'` string with the `\'` and `\\` escapes (section 9.2), starting at the quote.
    fn quoted_string(&mut self) -> Res<String> {
        let open = self.pos;
        let mut out = String::new();
        let mut i = open + 1;
        loop {
            match self.at(i) {
                None => {
                    return Err(self.error(
                        i,
                        format!("a closing ' for the string opened at column {}", open + 1),
                    ))
                }
                Some('\\') => {
                    out.push(self.escaped(i)?);
                    i += 2;
                }
                Some('\'') => {
                    self.pos = i + 1;
                    return Ok(out);
                }
                Some(c) => {
                    out.push(c);
                    i += 1;
                }
            }
        }
    }

    /// The character a backslash at `i` escapes in a string: `'` or `\`, the only escapes.
    fn escaped(&self, i: usize) -> Res<char> {
        match self.at(i + 1) {
            Some(e @ ('\'' | '\\')) => Ok(e),
            other => Err(PatternError {
                column: i + 1,
                expected: r"\' or \\ (the only escapes in a string)".into(),
                found: match other {
                    Some(o) => format!("'\\{}'", escape_controls(&o.to_string())),
                    None => "end of pattern".into(),
                },
            }),
        }
    }

    /// `t'...'`, `h'...'` or `b'...'`, starting at the prefix letter.
    fn typed_constant(&mut self, prefix: char) -> Res<Constant> {
        let start = self.pos;
        let open = start + 1;
        let Some(end) = self.quoted_end(open, false) else {
            return Err(self.error(
                self.s.len(),
                format!(
                    "a closing ' for the constant opened at column {}",
                    start + 1
                ),
            ));
        };
        let body = self.text(open + 1, end - 1);
        let constant = match prefix {
            't' if is_stix_timestamp(&body) => Constant::Timestamp(body),
            't' => return Err(self.error(start, EXPECT_TIMESTAMP)),
            // Section 9.2: an even number of hexadecimal digits. The specification names the
            // letters a-f; upper case is accepted as well (see the module notes in the report).
            'h' if body.len().is_multiple_of(2) && body.chars().all(|c| c.is_ascii_hexdigit()) => {
                Constant::Hex(body)
            }
            'h' => {
                return Err(self.error(
                    start,
                    "a hex constant h'...' with an even number of hex digits",
                ))
            }
            _ => {
                // Section 9.2: RFC 4648 base64; line feeds are allowed and ignored.
                let compact: String = body.chars().filter(|c| !matches!(c, '\n' | '\r')).collect();
                if STANDARD.decode(compact.as_bytes()).is_err() {
                    return Err(self.error(start, "a binary constant b'...' holding valid base64"));
                }
                Constant::Binary(body)
            }
        };
        self.pos = end;
        Ok(constant)
    }

    /// `-`? digits [ `.` digits ]: an integer (54-bit) or a float, written "in the usual
    /// fashion": no `+`, no leading zeros, no exponent, not glued to a following word.
    fn number(&mut self) -> Res<Constant> {
        let start = self.pos;
        let mut i = start;
        if self.at(i) == Some('-') {
            i += 1;
        }
        let int_start = i;
        while self.at(i).is_some_and(|c| c.is_ascii_digit()) {
            i += 1;
        }
        let int_digits = i - int_start;
        let mut is_float = false;
        if self.at(i) == Some('.') && self.at(i + 1).is_some_and(|c| c.is_ascii_digit()) {
            is_float = true;
            i += 1;
            while self.at(i).is_some_and(|c| c.is_ascii_digit()) {
                i += 1;
            }
        }
        if int_digits == 0 || self.at(i).is_some_and(|c| is_word(c) || c == '.') {
            return Err(self.error(start, "a number"));
        }
        if int_digits > 1 && self.at(int_start) == Some('0') {
            return Err(self.error(start, "a number without leading zeros"));
        }
        let text = self.text(start, i);
        let constant = if is_float {
            match text.parse::<f64>() {
                Ok(f) if f.is_finite() => Constant::Float(f),
                _ => return Err(self.error(start, "a finite floating-point number")),
            }
        } else {
            match text.parse::<i64>() {
                Ok(n) if (-MAX_INT..=MAX_INT).contains(&n) => Constant::Integer(n),
                _ => {
                    return Err(self.error(
                        start,
                        "an integer between -9007199254740991 and 9007199254740991",
                    ))
                }
            }
        };
        self.pos = i;
        Ok(constant)
    }
}

fn escape_controls(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

fn shorten(s: &str) -> String {
    if s.chars().count() > MAX_FOUND {
        let head: String = s.chars().take(MAX_FOUND - 3).collect();
        format!("{head}...")
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(pattern: &str) -> Pattern {
        parse(pattern).unwrap_or_else(|e| panic!("{pattern:?} should parse: {e}"))
    }

    /// Asserts the exact column and expectation of a refusal, and returns it.
    fn bad(pattern: &str, column: usize, expected: &str) -> PatternError {
        let e = parse(pattern).expect_err(pattern);
        assert_eq!(
            (e.column, e.expected.as_str()),
            (column, expected),
            "{pattern:?} gave {e}"
        );
        e
    }

    const ANY: &str = "a constant (string, number, boolean, t'...', h'...' or b'...')";

    #[test]
    fn valid_patterns() {
        let patterns = [
            // The examples of section 9.8.
            "[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f']",
            r"[email-message:from_ref.value MATCHES '.+\\@example\\.com$' AND email-message:body_multipart[*].body_raw_ref.name MATCHES '^Final Report.+\\.exe$']",
            "[file:hashes.'SHA-256' = 'bf07a7fbb825fc0aae7bf4a1177b2b31fcf8a3feeaf7092761e18c859ee52a9c' OR file:hashes.MD5 = 'cead3f77f6cda6ec00f57d76c9a6879f']\nAND [file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f']",
            r"([file:hashes.MD5 = '79054025255fb1a26e4bc422aef54eb4'] FOLLOWEDBY [windows-registry-key:key = 'HKEY_LOCAL_MACHINE\\foo\\bar']) WITHIN 300 SECONDS",
            "[user-account:account_type = 'unix' AND user-account:user_id = '1007' AND user-account:account_login = 'Peter'] AND [user-account:account_type = 'unix' AND user-account:user_id = '1008' AND user-account:account_login = 'Paul'] AND [user-account:account_type = 'unix' AND user-account:user_id = '1009' AND user-account:account_login = 'Mary']",
            r"[artifact:mime_type = 'application/vnd.tcpdump.pcap' AND artifact:payload_bin MATCHES '\\xd4\\xc3\\xb2\\xa1\\x02\\x00\\x04\\x00']",
            r"[file:name = 'foo.dll' AND file:parent_directory_ref.path = 'C:\\Windows\\System32']",
            "[file:extensions.'windows-pebinary-ext'.sections[*].entropy > 7.0]",
            "[file:mime_type = 'image/bmp' AND file:magic_number_hex = h'ffd8']",
            "[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '203.0.113.33/32']",
            "[network-traffic:dst_ref.type = 'domain-name' AND network-traffic:dst_ref.value = 'example.com'] REPEATS 5 TIMES WITHIN 1800 SECONDS",
            "[domain-name:value = 'www.5z8.info' AND domain-name:resolves_to_refs[*].value = '198.51.100.1/32']",
            "[url:value = 'http://example.com/foo' OR url:value = 'http://example.com/bar']",
            "[x509-certificate:issuer = 'CN=WEBMAIL' AND x509-certificate:serial_number = '4c:0b:1d:19:74:86:a7:66:b4:1a:bf:40:27:21:76:28']",
            r"[windows-registry-key:key = 'HKEY_CURRENT_USER\\Software\\CryptoLocker\\Files' OR windows-registry-key:key = 'HKEY_CURRENT_USER\\Software\\Microsoft\\CurrentVersion\\Run\\CryptoLocker_0388']",
            "[(file:name = 'pdf.exe' OR file:size = 371712) AND file:created = t'2014-01-13T07:03:17Z']",
            "[email-message:sender_ref.value = 'jdoe@example.com' AND email-message:subject = 'Conference Info']",
            "[x-usb-device:usbdrive.serial_number = '575833314133343231313937']",
            // MATCHES glued to its string, as in the specification's own example.
            "[process:command_line MATCHES '^.+>-add GlobalSign.cer -c -s -r localMachine Root$'] FOLLOWEDBY [process:command_line MATCHES'^.+>-add GlobalSign.cer -c -s -r localMachineTrustedPublisher$'] WITHIN 300 SECONDS",
            "[network-traffic:dst_ref.value ISSUBSET '2001:0db8:dead:beef:0000:0000:0000:0000/64']",
            r"([file:name = 'foo.dll'] AND [windows-registry-key:key = 'HKEY_LOCAL_MACHINE\\foo\\bar']) OR [process:image_ref.name = 'fooproc' OR process:image_ref.name = 'procfoo']",
            // Section 9.3 and the operator table of 9.6.1.
            "([ipv4-addr:value = '198.51.100.1/32' OR ipv4-addr:value = '203.0.113.33/32' OR ipv6-addr:value = '2001:0db8:dead:beef:dead:beef:dead:0001/128'] FOLLOWEDBY [domain-name:value = 'example.com']) WITHIN 600 SECONDS",
            "[file:name = 'foo.dll'] START t'2016-06-01T00:00:00Z' STOP t'2016-07-01T00:00:00Z'",
            "[file:size != 4112]",
            "[file:size <= 25145]",
            "[file:size >= 33312]",
            "[file:size < 1024]",
            "[process:name IN ('proccy', 'proximus', 'badproc')]",
            r"[directory:path LIKE 'C:\\Windows\\%\\foo']",
            "[ipv4-addr:value ISSUPERSET '198.51.100.0/24']",
            "[ipv4-addr:value ISSUBSET '198.51.100.7']",
            "[EXISTS windows-registry-key:values]",
            "[NOT EXISTS windows-registry-key:values]",
            "[file:name NOT LIKE '%.exe' AND file:size NOT = 0]",
            "[file:size NOT IN (1, 2.5, -3)]",
            "[file:is_encrypted = true OR file:is_encrypted != false]",
            "[artifact:payload_bin = b'dGhp\ncyBpcyBhIHRlc3Q=']",
            "[artifact:payload_bin = b'' OR artifact:payload_bin = h'']",
            "[file:magic_number_hex = h'FFd8']",
            "[file:created > t'2016-02-29T23:59:60.123456789Z']",
            "[network-traffic:protocols[0] = 'tcp']",
            "[network-traffic:extensions.'http-request-ext'.request_header.'Accept-Encoding' = 'gzip']",
            r"[file:name = 'it\'s' OR file:name = '']",
            "[file:name = 'ä€😀']",
            "[abc:'my prop'[1][2] = -9007199254740991 OR abc:count = 9007199254740991]",
            "\t[\n( file:name = 'a' OR file:size = 1 )\r\nAND file:size < 5.25 ]\u{3000}",
            "[user-account:account_type = 'unix']AND[user-account:user_id = '1008']",
            "[file:name='a']OR([file:name='b'])FOLLOWEDBY[file:name='c']",
            "((([file:name = 'a'])))",
            "[file:name = 'a'] WITHIN 5 SECONDS REPEATS 2 TIMES START t'2016-06-01T00:00:00Z' STOP t'2016-06-01T00:00:00.001Z'",
            "([file:name = 'a'] WITHIN 5 SECONDS) WITHIN 10 SECONDS",
            "[file:name = 'a' OR ipv4-addr:value = '198.51.100.1']",
            "[(file:name = 'a' OR ipv4-addr:value = '198.51.100.1') AND file:size = 1]",
            "[file:size = 0 AND file:size > -0.5]",
        ];
        assert!(patterns.len() >= 40);
        for p in patterns {
            ok(p);
        }
    }

    #[test]
    fn the_tree_follows_the_precedence_of_section_9() {
        use ObservationExpr as O;
        // Observation operators: AND over OR over FOLLOWEDBY, chains flat and left to right.
        let p = ok("[file:name = 'a'] AND [file:name = 'b'] OR [file:name = 'c'] FOLLOWEDBY [file:name = 'd'] FOLLOWEDBY [file:name = 'e']");
        let O::FollowedBy(seq) = &p.expression else {
            panic!("{p:?}")
        };
        assert_eq!(seq.len(), 3);
        assert!(matches!(&seq[1..], [O::Observation(_), O::Observation(_)]));
        let O::Or(or) = &seq[0] else { panic!("{p:?}") };
        assert!(matches!(&or[..], [O::And(and), O::Observation(_)] if and.len() == 2));

        // A qualifier binds to the nearest observation expression (section 9.5.2) ...
        let p = ok("[file:name = 'b'] FOLLOWEDBY [file:name = 'c'] REPEATS 5 TIMES");
        let O::FollowedBy(seq) = &p.expression else {
            panic!("{p:?}")
        };
        assert!(matches!(
            &seq[1],
            O::Qualified { qualifiers, .. } if qualifiers == &[Qualifier::Repeats(5)]
        ));
        // ... unless parentheses group the operands.
        let p = ok(
            "([file:name = 'b'] FOLLOWEDBY [file:name = 'c']) REPEATS 5 TIMES WITHIN 2.5 SECONDS",
        );
        let O::Qualified {
            expression,
            qualifiers,
        } = &p.expression
        else {
            panic!("{p:?}")
        };
        assert!(matches!(&**expression, O::FollowedBy(seq) if seq.len() == 2));
        assert_eq!(qualifiers, &[Qualifier::Repeats(5), Qualifier::Within(2.5)]);

        // Inside brackets AND binds tighter than OR.
        let p = ok("[file:name = 'a' AND file:size = 1 OR file:name = 'b']");
        let obs = p.observations();
        let ComparisonExpr::Or(items) = obs[0] else {
            panic!("{p:?}")
        };
        assert!(
            matches!(&items[..], [ComparisonExpr::And(and), ComparisonExpr::Comparison(_)] if and.len() == 2)
        );
        let p = ok("[file:name = 'a' AND (file:size = 1 OR file:name = 'b')]");
        assert!(matches!(p.observations()[0], ComparisonExpr::And(_)));
    }

    #[test]
    fn comparisons_paths_and_constants_are_walkable() {
        let p = ok(
            r"[file:extensions.'windows-pebinary-ext'.sections[*].entropy NOT > 7.5 AND file:hashes.'SHA-256' = 'x\'y\\z'] AND [EXISTS network-traffic:protocols[2]] START t'2016-06-01T00:00:00Z' STOP t'2016-07-01T00:00:00Z'",
        );
        let c = p.comparisons();
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].path.object_type, "file");
        assert_eq!(
            c[0].path.steps,
            vec![
                PathStep::Property("extensions".into()),
                PathStep::Property("windows-pebinary-ext".into()),
                PathStep::Property("sections".into()),
                PathStep::AnyIndex,
                PathStep::Property("entropy".into()),
            ]
        );
        assert_eq!(
            c[0].path.to_string(),
            "file:extensions.'windows-pebinary-ext'.sections[*].entropy"
        );
        assert!(c[0].negated);
        assert_eq!(c[0].operator, Operator::Greater);
        assert_eq!(c[0].value, Some(Constant::Float(7.5)));
        assert_eq!(c[0].column, 2);
        assert_eq!(c[1].value, Some(Constant::String(r"x'y\z".into())));
        assert_eq!(c[2].operator, Operator::Exists);
        assert_eq!(c[2].value, None);
        assert_eq!(c[2].path.to_string(), "network-traffic:protocols[2]");
        assert_eq!(
            p.object_types().into_iter().collect::<Vec<_>>(),
            ["file", "network-traffic"]
        );
        let p = ok("[process:pid IN (1, 2) AND process:created = t'2016-06-01T00:00:00Z' AND process:x_bin = b'AA==' AND process:x_hex = h'00ff']");
        let values: Vec<_> = p.comparisons().iter().map(|c| c.value.clone()).collect();
        assert_eq!(
            values,
            vec![
                Some(Constant::Set(vec![
                    Constant::Integer(1),
                    Constant::Integer(2)
                ])),
                Some(Constant::Timestamp("2016-06-01T00:00:00Z".into())),
                Some(Constant::Binary("AA==".into())),
                Some(Constant::Hex("00ff".into())),
            ]
        );
    }

    #[test]
    fn invalid_patterns_name_the_column_and_what_was_expected() {
        // Empty, and not starting with an observation expression.
        bad("", 1, "'[' or '('");
        bad("   ", 4, "'[' or '('");
        bad("file:name = 'a'", 1, "'[' or '('");
        bad("NOT [file:name = 'a']", 1, "'[' or '('");
        // Inside the brackets.
        bad("[]", 2, EXPECT_COMPARISON);
        bad("[file:name = 'a' x]", 18, "']' or AND/OR");
        // Keywords are case-sensitive.
        let e = bad("[file:name = 'a' and file:size = 1]", 18, "']' or AND/OR");
        assert_eq!(e.found, "'and'");
        bad(
            "[file:name = 'a'] and [file:name = 'b']",
            19,
            EXPECT_AFTER_OBSERVATION,
        );
        bad("[file:name like 'a%']", 12, EXPECT_OPERATOR);
        let e = bad("[file:name = 'a'", 17, "']' or AND/OR");
        assert_eq!(e.found, "end of pattern");
        bad(
            "[file:name = 'a' FOLLOWEDBY file:name = 'b']",
            18,
            "']' or AND/OR",
        );
        bad("[(file:name = 'a' OR file:size = 1]", 35, "')' or AND/OR");
        bad("[file:name = 'a' AND]", 21, EXPECT_COMPARISON);
        // After an observation expression.
        bad("[file:name = 'a' ]]", 19, EXPECT_AFTER_OBSERVATION);
        bad("([file:name = 'a']", 19, EXPECT_AFTER_NESTED_OBSERVATION);
        bad("[file:name = 'a'] FOLLOWEDBY", 29, "'[' or '('");
        bad(
            "[file:name = 'a'] OR OR [file:name = 'b']",
            22,
            "'[' or '('",
        );
        // Object types and paths.
        let e = bad("[File:name = 'a']", 2, EXPECT_TYPE);
        assert_eq!(e.found, "'File'");
        bad("[ab:name = 'a']", 2, EXPECT_TYPE);
        bad("[x--y:name = 'a']", 2, EXPECT_TYPE);
        bad("[1file:name = 'a']", 2, EXPECT_TYPE);
        bad("[file.name = 'a']", 6, "':' after the object type");
        bad("[file: name = 'a']", 7, "a property name");
        bad("[file:name. = 'a']", 12, "a property name");
        bad("[file:'' = 'a']", 7, "a property name");
        let e = bad(
            "[file:hashes.SHA-256 = 'a']",
            14,
            "the name in quotes ('SHA-256') since it contains '-'",
        );
        assert_eq!(e.found, "'SHA-256'");
        bad(
            "[network-traffic:protocols[x] = 'tcp']",
            28,
            "a list index (a non-negative integer or '*')",
        );
        bad(
            "[network-traffic:protocols[-1] = 'tcp']",
            28,
            "a list index (a non-negative integer or '*')",
        );
        bad(
            "[network-traffic:protocols[0 = 'tcp']",
            29,
            "']' to close the list index",
        );
        // Operators and NOT.
        bad("[file:name]", 11, EXPECT_OPERATOR);
        bad("[file:name NOT NOT = 'a']", 16, EXPECT_OPERATOR);
        bad(
            "[NOT file:name = 'a']",
            6,
            "EXISTS (elsewhere NOT goes between the object path and the operator, as in file:name NOT = 'x')",
        );
        bad(
            "[file:name EXISTS]",
            12,
            "a comparison operator (EXISTS goes before the object path)",
        );
        bad("[EXISTS 'file']", 9, "an object path");
        // Constants.
        let e = bad("[file:name == 'a']", 13, ANY);
        assert_eq!(e.found, "'='");
        bad("[file:is_encrypted = TRUE]", 22, ANY);
        bad("[file:name = NULL]", 14, ANY);
        bad("[file:name = null]", 14, ANY);
        bad("[file:size = +5]", 14, ANY);
        bad("[file:size = .5]", 14, ANY);
        bad("[file:size = 1.]", 14, "a number");
        bad("[file:size = 1e5]", 14, "a number");
        bad("[file:size = 007]", 14, "a number without leading zeros");
        bad(
            "[file:size = 9007199254740992]",
            14,
            "an integer between -9007199254740991 and 9007199254740991",
        );
        let e = bad(
            r"[file:name = 'a\n']",
            16,
            r"\' or \\ (the only escapes in a string)",
        );
        assert_eq!(e.found, r"'\n'");
        let e = bad(
            "[file:name = 'abc",
            18,
            "a closing ' for the string opened at column 14",
        );
        assert_eq!(e.found, "end of pattern");
        bad(
            "[file:magic_number_hex = h'ff",
            30,
            "a closing ' for the constant opened at column 26",
        );
        let e = bad(
            "[file:created = t'2016-13-01T00:00:00Z']",
            17,
            EXPECT_TIMESTAMP,
        );
        assert_eq!(e.found, "t'2016-13-01T00:00:00Z'");
        bad(
            "[file:created = t'2016-06-01T00:00:00']",
            17,
            EXPECT_TIMESTAMP,
        );
        bad(
            "[file:created = t'2016-06-01 00:00:00Z']",
            17,
            EXPECT_TIMESTAMP,
        );
        bad(
            "[file:created = t'2016-06-01T00:00:00+00:00']",
            17,
            EXPECT_TIMESTAMP,
        );
        bad(
            "[file:created = t'2016-06-01T00:00:00.Z']",
            17,
            EXPECT_TIMESTAMP,
        );
        bad(
            "[file:created = t'2015-02-29T00:00:00Z']",
            17,
            EXPECT_TIMESTAMP,
        );
        bad(
            "[file:magic_number_hex = h'ffd']",
            26,
            "a hex constant h'...' with an even number of hex digits",
        );
        bad(
            "[file:magic_number_hex = h'zz']",
            26,
            "a hex constant h'...' with an even number of hex digits",
        );
        bad(
            "[artifact:payload_bin = b'@@@']",
            25,
            "a binary constant b'...' holding valid base64",
        );
        bad(
            "[artifact:payload_bin = b'ABI']",
            25,
            "a binary constant b'...' holding valid base64",
        );
        // The specification's binary prefix is b, not b64.
        bad("[artifact:payload_bin = b64'ABI=']", 25, ANY);
        // Constants that do not suit the operator.
        bad("[file:name LIKE 5]", 17, "a string constant");
        bad("[file:name MATCHES h'00']", 20, "a string constant");
        bad(
            "[file:size > true]",
            14,
            "a string, number, timestamp, hex or binary constant (booleans have no order)",
        );
        bad(
            "[ipv4-addr:value ISSUBSET '300.1.1.1/24']",
            27,
            "a string constant holding an IPv4 or IPv6 address or CIDR block",
        );
        bad(
            "[ipv4-addr:value ISSUPERSET '198.51.100.0/33']",
            29,
            "a string constant holding an IPv4 or IPv6 address or CIDR block",
        );
        bad(
            "[file:name IN 'a']",
            15,
            "'(' to start the set of constants IN compares with",
        );
        bad("[file:name IN ()]", 16, ANY);
        bad("[file:name IN ('a' 'b')]", 20, "',' or ')'");
        bad(
            "[file:name IN ('a', 1)]",
            21,
            "a string constant like the set's first element",
        );
        // Section 9.5: operands of AND must be satisfiable by one object.
        let e = bad(
            "[file:name = 'a' AND ipv4-addr:value = '198.51.100.1']",
            22,
            "a comparison on file (operands of AND must be satisfiable by the same object; join other object types with OR)",
        );
        assert_eq!(e.found, "'ipv4-addr:value'");
        bad(
            "[(file:name = 'a' OR directory:path = 'b') AND ipv4-addr:value = '198.51.100.1']",
            48,
            "a comparison on directory or file (operands of AND must be satisfiable by the same object; join other object types with OR)",
        );
        // Qualifiers.
        bad(
            "[file:name = 'a'] WITHIN 0 SECONDS",
            26,
            "a positive number of seconds",
        );
        bad(
            "[file:name = 'a'] WITHIN -5 SECONDS",
            26,
            "a positive number of seconds",
        );
        bad(
            "[file:name = 'a'] WITHIN SECONDS",
            26,
            "a positive number of seconds",
        );
        bad("[file:name = 'a'] WITHIN 5 MINUTES", 28, "SECONDS");
        bad("[file:name = 'a'] WITHIN 5 seconds", 28, "SECONDS");
        bad(
            "[file:name = 'a'] REPEATS 0 TIMES",
            27,
            "a positive integer",
        );
        bad(
            "[file:name = 'a'] REPEATS 2.5 TIMES",
            27,
            "a positive integer",
        );
        let e = bad("[file:name = 'a'] REPEATS 5TIMES", 27, "a number");
        assert_eq!(e.found, "'5TIMES'");
        bad("[file:name = 'a'] REPEATS 5", 28, "TIMES");
        bad(
            "[file:name = 'a'] START '2016-06-01T00:00:00Z' STOP t'2016-07-01T00:00:00Z'",
            25,
            EXPECT_TIMESTAMP,
        );
        bad(
            "[file:name = 'a'] START t'2016-06-01T00:00:00Z' t'2016-07-01T00:00:00Z'",
            49,
            "STOP",
        );
        bad(
            "[file:name = 'a'] START t'2016-06-01T00:00:00Z' STOP t'2016-05-01T00:00:00Z'",
            54,
            "a STOP timestamp later than START (2016-06-01T00:00:00Z)",
        );
        bad(
            "[file:name = 'a'] START t'2016-06-01T00:00:00.5Z' STOP t'2016-06-01T00:00:00.500Z'",
            56,
            "a STOP timestamp later than START (2016-06-01T00:00:00.5Z)",
        );
        let e = bad(
            "[file:name = 'a'] WITHIN 5 SECONDS WITHIN 6 SECONDS",
            36,
            "at most one WITHIN qualifier on an observation expression",
        );
        assert_eq!(e.found, "'WITHIN'");
        bad(
            "[file:name = 'a'] REPEATS 2 TIMES WITHIN 5 SECONDS REPEATS 3 TIMES",
            52,
            "at most one REPEATS qualifier on an observation expression",
        );
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let e = bad("[file:name = 'é€😀' x]", 20, "']' or AND/OR");
        assert_eq!(e.found, "'x'");
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let deep = format!("{}[file:name = 'a']{}", "(".repeat(150), ")".repeat(150));
        bad(&deep, 101, "at most 100 nested parentheses");
        let inner = format!("[{}file:name = 'a'{}]", "(".repeat(150), ")".repeat(150));
        bad(&inner, 102, "at most 100 nested parentheses");
        ok(&format!(
            "{}[file:name = 'a']{}",
            "(".repeat(99),
            ")".repeat(99)
        ));
    }

    #[test]
    fn long_chains_are_flat_and_checked_in_linear_time() {
        // Each of these overflowed the stack (checking or dropping a chained tree) or took
        // seconds (AND re-walked its whole left side at every step).
        let or = vec!["file:name = 'a'"; 4_000].join(" OR ");
        let p = ok(&format!("[{or}]"));
        assert!(matches!(p.observations()[0], ComparisonExpr::Or(items) if items.len() == 4_000));
        let and = vec!["file:name = 'a'"; 4_000].join(" AND ");
        assert_eq!(ok(&format!("[{and}]")).comparisons().len(), 4_000);
        let obs = vec!["[file:name = 'a']"; 3_000].join(" AND ");
        let p = ok(&obs);
        assert!(matches!(&p.expression, ObservationExpr::And(items) if items.len() == 3_000));
        let seq = vec!["[file:name = 'a']"; 3_000].join(" FOLLOWEDBY ");
        assert_eq!(ok(&seq).observations().len(), 3_000);
        drop(p);
    }

    #[test]
    fn patterns_longer_than_the_limit_are_refused_before_parsing() {
        let or = vec!["file:name = 'a'"; 10_000].join(" OR ");
        let long = format!("[{or}]");
        assert!(long.chars().count() > MAX_CHARS);
        let e = bad(
            &long,
            MAX_CHARS + 1,
            "the end of the pattern (a pattern has at most 100000 characters)",
        );
        assert!(e.found.starts_with('\''), "{e}");
        // Multi-byte characters at the limit are cut at a character, not a byte.
        let wide = format!("[file:name = '{}']", "é".repeat(MAX_CHARS));
        bad(
            &wide,
            MAX_CHARS + 1,
            "the end of the pattern (a pattern has at most 100000 characters)",
        );
    }

    #[test]
    fn matches_takes_a_checked_regular_expression() {
        bad(
            "[file:name MATCHES '(unclosed']",
            20,
            "a valid regular expression (Parsing error at position 9: Opening parenthesis without closing parenthesis) after MATCHES",
        );
        let e = parse(r"[file:name MATCHES '(?<a>x\\g<a>\\g<a>|y)']").unwrap_err();
        assert!(e.expected.contains("subroutine"), "{e}");
        ok(r"[file:name MATCHES '([a-z]{1000}){100}']");
    }

    #[test]
    fn long_found_tokens_are_shortened() {
        let e = bad(
            &format!("[file:name = '{}' x]", "a".repeat(100)),
            117,
            "']' or AND/OR",
        );
        assert_eq!(e.found, "'x'");
        let e = bad(
            &format!("[file:name LIKE {}]", "z".repeat(60)),
            17,
            "a string constant",
        );
        assert_eq!(e.found, format!("'{}...'", "z".repeat(37)));
    }

    #[test]
    fn display_and_problem() {
        let e = parse("[file:name = 'a' x]").unwrap_err();
        assert_eq!(
            e.to_string(),
            "column 18: expected ']' or AND/OR, found 'x'"
        );
        let p = check("[file:name = 'a' x]", "/pattern").unwrap();
        assert_eq!(p.pointer, "/pattern");
        assert_eq!(
            p.message,
            "invalid STIX pattern at column 18: expected ']' or AND/OR, found 'x'"
        );
        assert_eq!(
            p.to_string(),
            "/pattern: invalid STIX pattern at column 18: expected ']' or AND/OR, found 'x'"
        );
        assert_eq!(check("[file:name = 'a']", "/pattern"), None);
    }
}
