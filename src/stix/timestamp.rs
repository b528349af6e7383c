//! Timestamps: integer microseconds since the epoch, rendered with microsecond precision. STIX
//! owns them; the protocol's `date_added` and the server's clock use the same type.

use chrono::{DateTime, SecondsFormat, Utc};

/// One instant, in microseconds since 1970-01-01T00:00:00Z. Storage keeps the integer;
/// everything above it holds this type, so an instant is never mistaken for a count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// Before anything: a membership that sees the whole backlog, an empty stream's last date.
    pub const MIN: Timestamp = Timestamp(i64::MIN);
    pub const MAX: Timestamp = Timestamp(i64::MAX);
    pub const EPOCH: Timestamp = Timestamp(0);

    /// An instant read back from storage or a cursor, written from a `Timestamp` earlier.
    pub const fn from_micros(micros: i64) -> Timestamp {
        Timestamp(micros)
    }

    pub const fn micros(self) -> i64 {
        self.0
    }

    /// Parses an RFC 3339 timestamp (`added_after`); sub-microsecond digits are truncated.
    pub fn parse_rfc3339(text: &str) -> Option<Timestamp> {
        rfc3339_utc(text).map(Timestamp::from)
    }

    /// Parses a STIX timestamp (see `stix_datetime`); digits past the microsecond are dropped.
    pub fn parse_stix(text: &str) -> Option<Timestamp> {
        stix_datetime(text).map(Timestamp::from)
    }

    /// This instant moved by `micros` (a delay, or the dating of a stream position), saturating.
    pub const fn plus(self, micros: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(micros))
    }

    /// This instant, `span` earlier (a retention's horizon), saturating.
    pub fn minus(self, span: chrono::Duration) -> Timestamp {
        self.plus(span.num_microseconds().unwrap_or(i64::MAX).saturating_neg())
    }

    /// The microseconds from `earlier` to this instant, saturating.
    pub const fn since(self, earlier: Timestamp) -> i64 {
        self.0.saturating_sub(earlier.0)
    }

    fn to_datetime(self) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp_micros(self.0).unwrap_or_default()
    }

    /// Whole seconds since the epoch, for the headers and signatures that count in seconds.
    pub const fn seconds(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }
}

/// A STIX timestamp with every digit it has (the validator compares and counts them):
/// `YYYY-MM-DDTHH:mm:ss[.s+]Z`, a valid RFC 3339 date and time in UTC.
pub fn stix_datetime(text: &str) -> Option<DateTime<Utc>> {
    if !has_stix_form(text) {
        return None;
    }
    rfc3339_utc(text)
}

/// Any RFC 3339 date and time, as UTC.
pub fn rfc3339_utc(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Whether `text` is written as a STIX timestamp, whether or not its date and time exist.
pub fn has_stix_form(text: &str) -> bool {
    let b = text.as_bytes();
    if b.len() < 20 || b[b.len() - 1] != b'Z' {
        return false;
    }
    let digits = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18];
    let fixed = digits.iter().all(|&i| b[i].is_ascii_digit())
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':';
    let fraction = &b[19..b.len() - 1];
    fixed
        && (fraction.is_empty()
            || (fraction.len() > 1
                && fraction[0] == b'.'
                && fraction[1..].iter().all(u8::is_ascii_digit)))
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(t: DateTime<Utc>) -> Timestamp {
        Timestamp(t.timestamp_micros())
    }
}

/// `2026-11-27T10:00:00.123456Z`: the form of `date_added`, headers and generated timestamps.
impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            &self
                .to_datetime()
                .to_rfc3339_opts(SecondsFormat::Micros, true),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_microseconds() {
        let m = Timestamp::parse_rfc3339("2026-11-27T10:00:00.123456Z").unwrap();
        assert_eq!(m.to_string(), "2026-11-27T10:00:00.123456Z");
        assert_eq!(
            Timestamp::parse_rfc3339("2026-11-27T10:00:00Z")
                .unwrap()
                .to_string(),
            "2026-11-27T10:00:00.000000Z"
        );
    }

    #[test]
    fn stix_timestamps_must_be_utc_z() {
        assert!(Timestamp::parse_stix("2026-01-01T00:00:00.000Z").is_some());
        assert!(Timestamp::parse_stix("2026-01-01T00:00:00+00:00").is_none());
        assert!(Timestamp::parse_stix("2026-01-01 00:00:00Z").is_none());
        assert!(Timestamp::parse_stix("2026-01-01T00:00:00.Z").is_none());
        assert!(Timestamp::parse_stix("2026-02-30T00:00:00Z").is_none());
        assert!(has_stix_form("2026-02-30T00:00:00Z"));
        let fine = stix_datetime("2026-01-01T00:00:00.1234567Z").unwrap();
        assert_eq!(fine.timestamp_subsec_nanos(), 123_456_700);
    }

    #[test]
    fn moving_saturates_instead_of_wrapping() {
        assert_eq!(Timestamp::MAX.plus(1), Timestamp::MAX);
        assert_eq!(Timestamp::MIN.since(Timestamp::MAX), i64::MIN);
        assert_eq!(Timestamp::from_micros(-1).seconds(), -1);
    }
}
