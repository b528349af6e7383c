//! The one place that reads "now", so tests can move time forward (status retention, delays).

use chrono::{DateTime, Utc};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// Wall clock plus an offset that only tests change.
#[derive(Clone, Default, Debug)]
pub struct Clock {
    offset_micros: Arc<AtomicI64>,
    /// When set, time stands still at this instant plus the offset (deterministic tests).
    frozen_at: Option<i64>,
}

impl Clock {
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock that only moves when `advance` is called; for tests that compare two runs.
    pub fn frozen(at: DateTime<Utc>) -> Self {
        Self {
            offset_micros: Arc::default(),
            frozen_at: Some(at.timestamp_micros()),
        }
    }

    #[allow(clippy::disallowed_methods)] // the single sanctioned read of the wall clock
    pub fn now(&self) -> DateTime<Utc> {
        let offset = chrono::Duration::microseconds(self.offset_micros.load(Ordering::Relaxed));
        match self.frozen_at {
            Some(at) => DateTime::<Utc>::from_timestamp_micros(at).unwrap_or_default() + offset,
            None => Utc::now() + offset,
        }
    }

    pub fn now_micros(&self) -> i64 {
        self.now().timestamp_micros()
    }

    /// Moves this clock (and every clone of it) forward; for tests.
    pub fn advance(&self, by: chrono::Duration) {
        let micros = by.num_microseconds().unwrap_or(i64::MAX);
        self.offset_micros.fetch_add(micros, Ordering::Relaxed);
    }
}
