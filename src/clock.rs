//! The one place that reads "now", so tests can move time forward (status retention, delays).

use crate::stix::timestamp::Timestamp;
use chrono::Utc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// Wall clock plus an offset that only tests change.
#[derive(Clone, Default, Debug)]
pub struct Clock {
    offset_micros: Arc<AtomicI64>,
    /// When set, time stands still at this instant plus the offset (deterministic tests).
    frozen_at: Option<Timestamp>,
}

impl Clock {
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock that only moves when `advance` is called; for tests that compare two runs.
    pub fn frozen(at: impl Into<Timestamp>) -> Self {
        Self {
            offset_micros: Arc::default(),
            frozen_at: Some(at.into()),
        }
    }

    #[allow(clippy::disallowed_methods)] // the single sanctioned read of the wall clock
    pub fn now(&self) -> Timestamp {
        let offset = self.offset_micros.load(Ordering::Relaxed);
        match self.frozen_at {
            Some(at) => at.plus(offset),
            None => Timestamp::from(Utc::now()).plus(offset),
        }
    }

    /// Moves this clock (and every clone of it) forward; for tests.
    pub fn advance(&self, by: chrono::Duration) {
        let micros = by.num_microseconds().unwrap_or(i64::MAX);
        self.offset_micros.fetch_add(micros, Ordering::Relaxed);
    }
}
