//! Timestamps as integer microseconds since the epoch, rendered with microsecond precision. STIX
//! owns them; `taxii::timestamp` re-exports this module for the protocol's `date_added`.

use chrono::{DateTime, SecondsFormat, Utc};

/// `2026-11-27T10:00:00.123456Z`: the form of `date_added`, headers and generated timestamps.
pub fn format_micros(micros: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(micros)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Parses an RFC 3339 timestamp; sub-microsecond digits are truncated.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc).timestamp_micros())
}

/// Parses a STIX timestamp, which must be UTC and end in `Z`.
pub fn parse_stix(text: &str) -> Option<i64> {
    if !text.ends_with('Z') || text.len() < 20 || text.as_bytes().get(10) != Some(&b'T') {
        return None;
    }
    parse_rfc3339(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_microseconds() {
        let m = parse_rfc3339("2026-11-27T10:00:00.123456Z").unwrap();
        assert_eq!(format_micros(m), "2026-11-27T10:00:00.123456Z");
        assert_eq!(
            format_micros(parse_rfc3339("2026-11-27T10:00:00Z").unwrap()),
            "2026-11-27T10:00:00.000000Z"
        );
    }

    #[test]
    fn stix_timestamps_must_be_utc_z() {
        assert!(parse_stix("2026-01-01T00:00:00.000Z").is_some());
        assert!(parse_stix("2026-01-01T00:00:00+00:00").is_none());
        assert!(parse_stix("2026-01-01 00:00:00Z").is_none());
    }
}
