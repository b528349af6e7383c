//! Logging: tracing to stderr, level from RUST_LOG (default info). Never object bodies or credentials.
//! actix-http logs an ERROR line for each malformed request or broken connection ("stream error:
//! ..."), so a stranger could write to the log as fast as it can send junk: those lines pass at
//! most `ACTIX_LINES_PER_MINUTE` a minute, and how many were dropped is logged once a minute.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tracing::subscriber::Interest;
use tracing::Metadata;
use tracing_subscriber::layer::{Context, Filter, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

const ACTIX_LINES_PER_MINUTE: u32 = 20;
const WINDOW: Duration = Duration::from_secs(60);

/// How log lines are written (`server.log_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    /// One JSON object per line, event fields (`error_id`, `status`...) under `fields`.
    Json,
}

pub fn init(format: Format) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = match format {
        Format::Text => fmt
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_filter(RateLimit::new(ACTIX_LINES_PER_MINUTE, WINDOW))
            .boxed(),
        Format::Json => fmt
            .json()
            .with_filter(RateLimit::new(ACTIX_LINES_PER_MINUTE, WINDOW))
            .boxed(),
    };
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .try_init();
}

/// Once a minute, logs how many actix lines the limit dropped (when there were some). Started
/// once per process, on the server's runtime.
pub fn report_dropped_lines() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        tokio::spawn(async {
            let mut every = tokio::time::interval(WINDOW);
            loop {
                every.tick().await;
                let dropped = DROPPED.swap(0, Ordering::Relaxed);
                if dropped > 0 {
                    tracing::warn!(
                        dropped,
                        "actix-http log lines dropped in the last minute (malformed requests or broken connections)"
                    );
                }
            }
        });
    });
}

static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Lets through at most `per_window` warnings and errors from actix's crates per window; other
/// events untouched.
pub struct RateLimit {
    per_window: u32,
    window: Duration,
    state: Mutex<(Instant, u32)>,
}

impl RateLimit {
    pub fn new(per_window: u32, window: Duration) -> RateLimit {
        RateLimit {
            per_window,
            window,
            state: Mutex::new((Instant::now(), 0)),
        }
    }

    fn limited(meta: &Metadata<'_>) -> bool {
        meta.is_event()
            && *meta.level() <= tracing::Level::WARN
            && (meta.target().starts_with("actix_http")
                || meta.target().starts_with("actix_server"))
    }

    /// Takes one place in the window `now` falls in; false when that window is full.
    pub fn admit(&self, now: Instant) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (started, count) = &mut *state;
        if now.saturating_duration_since(*started) >= self.window {
            *started = now;
            *count = 0;
        }
        if *count < self.per_window {
            *count += 1;
            true
        } else {
            DROPPED.fetch_add(1, Ordering::Relaxed);
            false
        }
    }
}

impl<S> Filter<S> for RateLimit {
    fn enabled(&self, meta: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        !Self::limited(meta) || self.admit(Instant::now())
    }

    // Asked per event for actix's call sites (the answer changes over time), never for others.
    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        if Self::limited(meta) {
            Interest::sometimes()
        } else {
            Interest::always()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_at_most_the_limit_per_window() {
        let limit = RateLimit::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        let first: Vec<bool> = (0..5).map(|_| limit.admit(t0)).collect();
        assert_eq!(first, [true, true, true, false, false]);
        assert!(!limit.admit(t0 + Duration::from_secs(59)));
        assert!(
            limit.admit(t0 + Duration::from_secs(61)),
            "a new window admits again"
        );
        assert!(limit.admit(t0 + Duration::from_secs(62)));
    }
}
