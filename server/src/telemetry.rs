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

/// Process-wide histograms of the group commit (`service::intake`): how long an input waited
/// from being prepared until its transaction committed, how long each transaction took, and
/// how many inputs shared it. Exported on `/metrics` as Prometheus histograms.
pub mod commits {
    use std::fmt::Write as _;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A histogram with fixed upper bounds; counts are per bucket (made cumulative when
    /// written), the sum in millionths so that it stays an integer.
    pub struct Histogram {
        bounds: &'static [f64],
        buckets: [AtomicU64; 12],
        count: AtomicU64,
        sum_micro: AtomicU64,
    }

    impl Histogram {
        const fn new(bounds: &'static [f64]) -> Self {
            assert!(bounds.len() < 12, "one bucket is +Inf");
            Self {
                bounds,
                buckets: [const { AtomicU64::new(0) }; 12],
                count: AtomicU64::new(0),
                sum_micro: AtomicU64::new(0),
            }
        }

        /// Counts one observation of `v`.
        pub fn observe(&self, v: f64) {
            let i = self
                .bounds
                .iter()
                .position(|&b| v <= b)
                .unwrap_or(self.bounds.len());
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
            self.count.fetch_add(1, Ordering::Relaxed);
            self.sum_micro
                .fetch_add((v.max(0.0) * 1e6) as u64, Ordering::Relaxed);
        }

        /// Observations so far.
        pub fn count(&self) -> u64 {
            self.count.load(Ordering::Relaxed)
        }

        /// Their sum.
        pub fn sum(&self) -> f64 {
            self.sum_micro.load(Ordering::Relaxed) as f64 / 1e6
        }

        /// The smallest bound at or under which at least `q` (0..=1) of the observations
        /// fall (`None` before any, `+Inf` as `f64::INFINITY`).
        pub fn quantile_bound(&self, q: f64) -> Option<f64> {
            let total = self.count();
            if total == 0 {
                return None;
            }
            let want = (q * total as f64).ceil() as u64;
            let mut seen = 0;
            for (i, b) in self.buckets.iter().enumerate().take(self.bounds.len() + 1) {
                seen += b.load(Ordering::Relaxed);
                if seen >= want {
                    return Some(self.bounds.get(i).copied().unwrap_or(f64::INFINITY));
                }
            }
            Some(f64::INFINITY)
        }

        /// Appends the histogram in Prometheus' text format.
        pub fn write(&self, out: &mut String, name: &str, help: &str) {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
            let mut cumulative = 0;
            for (i, b) in self.buckets.iter().enumerate().take(self.bounds.len() + 1) {
                cumulative += b.load(Ordering::Relaxed);
                match self.bounds.get(i) {
                    Some(le) => {
                        let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
                    }
                    None => {
                        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
                    }
                }
            }
            let _ = writeln!(out, "{name}_sum {}\n{name}_count {cumulative}", self.sum());
        }
    }

    const SECONDS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0, 5.0];

    /// Seconds from an input being prepared until the transaction holding it committed and
    /// was durable.
    pub static WAIT: Histogram = Histogram::new(SECONDS);
    /// Seconds each group commit's transaction took (until committed; its fsync follows
    /// beside the next one).
    pub static TRANSACTION: Histogram = Histogram::new(SECONDS);
    /// Seconds each fsync of SQLite's write-ahead log took ([`crate::store::Store::durable`]):
    /// every write waits for one, and one covers every commit made before it began.
    pub static SYNC: Histogram = Histogram::new(SECONDS);
    /// Inputs written by each group commit.
    pub static INPUTS: Histogram =
        Histogram::new(&[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0]);

    /// Appends all four.
    pub fn write(out: &mut String) {
        WAIT.write(
            out,
            "tlswatch_intake_commit_wait_seconds",
            "Time from a received or uploaded input being prepared until the transaction holding it committed and was durable (this process).",
        );
        TRANSACTION.write(
            out,
            "tlswatch_group_commit_seconds",
            "Time each group commit of received and uploaded inputs held the writer, until committed; its fsync follows beside the next (this process).",
        );
        INPUTS.write(
            out,
            "tlswatch_group_commit_inputs",
            "Inputs written together by each group commit (this process).",
        );
        SYNC.write(
            out,
            "tlswatch_wal_sync_seconds",
            "Time each fsync of SQLite's write-ahead log took; every write waits for one, which covers every commit made before it began (this process; none on PostgreSQL).",
        );
    }

    #[cfg(test)]
    mod tests {
        use super::Histogram;

        #[test]
        fn buckets_are_cumulative_and_quantiles_take_the_bucket_bound() {
            static H: Histogram = Histogram::new(&[1.0, 2.0, 4.0]);
            assert_eq!(H.quantile_bound(0.5), None);
            for v in [0.5, 1.0, 1.5, 3.0, 9.0] {
                H.observe(v);
            }
            let mut out = String::new();
            H.write(&mut out, "t", "help");
            assert_eq!(
                out,
                "# HELP t help\n# TYPE t histogram\n\
                 t_bucket{le=\"1\"} 2\nt_bucket{le=\"2\"} 3\nt_bucket{le=\"4\"} 4\n\
                 t_bucket{le=\"+Inf\"} 5\nt_sum 15\nt_count 5\n"
            );
            assert_eq!(H.quantile_bound(0.4), Some(1.0));
            assert_eq!(H.quantile_bound(0.6), Some(2.0));
            assert_eq!(H.quantile_bound(0.8), Some(4.0));
            assert_eq!(H.quantile_bound(0.99), Some(f64::INFINITY));
            assert_eq!(H.count(), 5);
        }
    }
}
