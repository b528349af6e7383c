//! One validation problem: where in the object (a JSON pointer) and what would be right.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// RFC 6901 JSON pointer into the object, e.g. `/valid_until` or `/external_references/0/url`;
    /// empty for the object as a whole.
    pub pointer: String,
    /// What is wrong and what would be right, e.g. `must be later than valid_from (2024-01-01T00:00:00Z)`.
    pub message: String,
}

impl Problem {
    pub fn new(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            pointer: pointer.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pointer.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.pointer, self.message)
        }
    }
}

/// Escapes one JSON pointer segment (RFC 6901: `~` -> `~0`, `/` -> `~1`).
pub fn segment(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}
