//! Structured logs with tracing.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber; logs go to stderr so command output stays clean.
pub fn init(filter: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Process-wide counters for what the database does not record (refusals before anything is
/// stored), exported on `/metrics`.
pub mod counters {
    use std::sync::atomic::{AtomicU64, Ordering};

    /// Receiver requests refused because the client was over its rate.
    pub static RECEIVER_RATE_LIMITED: AtomicU64 = AtomicU64::new(0);
    /// Receiver requests refused because too many reports were being prepared.
    pub static RECEIVER_BUSY: AtomicU64 = AtomicU64::new(0);
    /// Quarantined inputs evicted to keep the quarantine within its quota.
    pub static QUARANTINE_EVICTED: AtomicU64 = AtomicU64::new(0);
    /// Requests that hit the server-side deadline.
    pub static REQUEST_TIMEOUTS: AtomicU64 = AtomicU64::new(0);

    /// Adds one.
    pub fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads one.
    pub fn read(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// Counts a refusal of the open receiver (`rate` or `busy`).
pub fn count_receiver_refusal(why: &str) {
    match why {
        "rate" => counters::bump(&counters::RECEIVER_RATE_LIMITED),
        _ => counters::bump(&counters::RECEIVER_BUSY),
    }
}
