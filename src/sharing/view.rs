//! How a reader's rows are dated (docs/sharing.md section 7). A class's stream numbers its rows
//! (`n`) and stamps them (`ts`, `max(now, last + 1)`); a streamed reader sees the rows from its
//! start, each dated `max(ts, base_ts + n - base_n)`: the base lets a reader that joined late
//! receive what came before as new, after anything it was given earlier. Each position past the
//! base is one microsecond later, so the base's dates stay distinct and in stream order.

use crate::stix::timestamp::Timestamp;

/// How one reader sees one community.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// The rows of class `class` from position `start`; `base` is `(base_ts, base_n)`.
    Streamed {
        class: i64,
        start: i64,
        base: Option<(Timestamp, i64)>,
    },
    /// Its own rows in `deliveries`.
    Own,
}

impl View {
    /// The date_added the reader sees for the stream row at position `n` stamped `ts`.
    pub fn date(&self, n: i64, ts: Timestamp) -> Timestamp {
        match self {
            View::Streamed {
                base: Some((bts, bn)),
                ..
            } => ts.max(bts.plus(n.saturating_sub(*bn))),
            _ => ts,
        }
    }

    /// `date` as SQL over the stream rows of `alias` (the numbers are the server's own).
    pub fn date_sql(&self, alias: &str) -> String {
        match self {
            View::Streamed {
                base: Some((bts, bn)),
                ..
            } => {
                let bts = bts.micros();
                format!(
                    "CASE WHEN {alias}.ts >= {bts} + ({alias}.n - {bn}) THEN {alias}.ts \
                     ELSE {bts} + ({alias}.n - {bn}) END"
                )
            }
            _ => format!("{alias}.ts"),
        }
    }

    /// The last date a streamed reader could have been given: that of its class's last
    /// position (`last_n`, stamped `last_ts`), if it starts at or before it.
    pub fn last_date(&self, last_n: i64, last_ts: Timestamp) -> Option<Timestamp> {
        match self {
            View::Streamed { start, .. } if last_n >= *start => Some(self.date(last_n, last_ts)),
            _ => None,
        }
    }

    /// The last position whose date is at most `t`, given the last position stamped at most `t`
    /// (`stamped`): dates grow with positions, so later rows are exactly those after it.
    pub fn last_dated_by(&self, t: Timestamp, stamped: i64) -> i64 {
        match self {
            View::Streamed {
                base: Some((bts, bn)),
                ..
            } => stamped.min(t.since(*bts).saturating_add(*bn)),
            _ => stamped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::View;
    use crate::stix::timestamp::Timestamp;

    fn t(micros: i64) -> Timestamp {
        Timestamp::from_micros(micros)
    }

    #[test]
    fn a_based_view_dates_what_came_before_as_new_and_then_follows_the_stamps() {
        let view = View::Streamed {
            class: 1,
            start: 3,
            base: Some((t(1_000), 3)),
        };
        // Joined at 1,000 with rows 3.. stamped long before: 1,000, 1,001, ...
        assert_eq!(view.date(3, t(10)), t(1_000));
        assert_eq!(view.date(4, t(11)), t(1_001));
        // Later rows, stamped after the catch-up, keep their stamps.
        assert_eq!(view.date(6, t(5_000)), t(5_000));
        // Dated at most 1,001: positions up to 4, whatever was stamped.
        assert_eq!(view.last_dated_by(t(1_001), 5), 4);
        assert_eq!(view.last_dated_by(t(1_001), 3), 3);
        let plain = View::Streamed {
            class: 1,
            start: 1,
            base: None,
        };
        assert_eq!(plain.date(4, t(11)), t(11));
        assert_eq!(plain.last_dated_by(t(11), 4), 4);
    }
}
