//! `tlswatch-bench`: benchmarks that print numbers (not part of the test run).
//!
//! - `sizes [SITE_ROOT]`: WASM, JS, CSS and ECharts sizes raw and gzipped, and the first-load total.
//! - `ingest [N]`: generates N report mails (.eml, gzip attachment), imports them into a fresh
//!   SQLite file and prints mails/s, with the parse-only time beside it, and the CPU time a
//!   report cost each kind of thread.
//! - `lab [DOMAIN] [MX]`: runs the loopback lab (DNS, policy host, MX hosts) for a healthy
//!   `testing` domain until killed, and prints one JSON line with the settings that point
//!   `tlswatch` at it (used by the end-to-end tests, and to try the checks offline).
//! - `receiver [N] [C]`: N gzip reports POSTed to `/tlsrpt` by C concurrent clients over real
//!   HTTP into a fresh SQLite file: reports/s, latency p50/p99, errors, the group commits, and
//!   the CPU time a report cost each kind of thread (the SQLite writer's bounds the rate).
//! - `uploads [N] [C]`: the same through `POST /api/upload` by C signed-in editors (a session
//!   each, the dashboard's whole stack), into the same group commit.
//! - `load [SECONDS]`: 200 concurrent uploaders (receiver) and 50 dashboard readers (API and the
//!   overview page) against one instance: requests, errors, latency per class.
//! - `memory`: resident memory of an idle server and while a 1 GiB gzip bomb is refused.
//! - `quick [RUNS]`: the costliest inputs the receiver and uploads prepare on an async worker
//!   (`ingest::prepare_quick`), and one it sends to a blocking thread: time per input.
//! - `manyparts`: `tlswatch import` (the real command, in this process) of a 14 MB mail with 557
//!   report parts each inflating to ~19 MB: time, outcome and peak RSS.
//! - `check [N] [C]`: the checker against the loopback lab (real DNS, HTTPS and SMTP servers):
//!   one domain with 3 MX (median of 20 runs), then a sweep of N domains with C at a time.
#![forbid(unsafe_code)]

/// mimalloc: the receiver and the importer allocate per report from many threads, where it
/// is markedly faster than the system allocator (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod dashboard;
mod inputs;
mod serving;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use dashboard::{check, dashboard, lab};
use inputs::{bomb, ingest, manyparts, quick, sizes};
use serving::{load, memory, receiver, uploads};

fn main() -> anyhow::Result<()> {
    tlswatch::process::without_transparent_huge_pages();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("sizes") => sizes(Path::new(
            args.get(1).map(String::as_str).unwrap_or("target/site"),
        )),
        Some("bomb") => bomb(),
        Some("quick") => quick(args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1_000)),
        Some("manyparts") => manyparts(),
        Some("dashboard") => {
            let n = args
                .get(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(1_000_000);
            let url = args.get(2).cloned();
            tokio::runtime::Runtime::new()?.block_on(dashboard(n, url))
        }
        Some("ingest") => {
            let n = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10_000);
            tokio::runtime::Runtime::new()?.block_on(ingest(n))
        }
        Some("lab") => {
            let domain = args
                .get(1)
                .cloned()
                .unwrap_or_else(|| "example.test".into());
            let mx = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2);
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(lab(domain, mx))
        }
        Some("receiver") => {
            let n = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(20_000);
            let c = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(64);
            runtime()?.block_on(receiver(n, c))
        }
        Some("uploads") => {
            let n = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(20_000);
            let c = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(64);
            runtime()?.block_on(uploads(n, c))
        }
        Some("load") => {
            let secs = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(60);
            runtime()?.block_on(load(secs))
        }
        Some("memory") => runtime()?.block_on(memory()),
        Some("check") => {
            let n = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1_000);
            let concurrency = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(32);
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(check(n, concurrency))
        }
        _ => {
            eprintln!("usage: tlswatch-bench sizes [SITE_ROOT] | ingest [N] | bomb | manyparts | dashboard [N] [DATABASE_URL] | check [DOMAINS] [CONCURRENCY] | receiver [N] [CONCURRENCY] | uploads [N] [CONCURRENCY] | load [SECONDS] | memory");
            std::process::exit(2);
        }
    }
}

pub(crate) fn gz_len(bytes: &[u8]) -> usize {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    let _ = e.write_all(bytes);
    e.finish().map(|v| v.len()).unwrap_or(0)
}

pub(crate) fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

pub(crate) fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("tlswatch-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

pub(crate) async fn percentiles<F, Fut>(runs: usize, mut f: F) -> anyhow::Result<(f64, f64)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut ms = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        f().await?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    Ok((ms[runs / 2], ms[runs * 95 / 100]))
}

pub(crate) fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

/// Resident set size of this process, in KiB.
pub(crate) fn rss_kib() -> u64 {
    proc_self_field("status", "VmRSS:")
}

/// Bytes this process has caused to be written to storage (`write_bytes` of `/proc/self/io`,
/// counted when pages are dirtied): the database's log and file writes, independent of the
/// machine's speed.
pub(crate) fn written_bytes() -> u64 {
    proc_self_field("io", "write_bytes:")
}

/// CPU time each thread of this process has used so far, from `/proc/self/task/*/schedstat`
/// (nanoseconds on a CPU), by thread id, with the thread's name.
pub(crate) fn thread_cpu() -> std::collections::BTreeMap<u64, (String, u64)> {
    let mut out = std::collections::BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for task in tasks.flatten() {
        let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) else {
            continue;
        };
        let path = task.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let ns = std::fs::read_to_string(path.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse().ok()))
            .unwrap_or(0);
        out.insert(tid, (name.trim().to_owned(), ns));
    }
    out
}

/// Prints the CPU time the threads used between `before` ([`thread_cpu`]) and now, per
/// report (or mail), by kind of thread: where a report's cost goes, and the writer's share of
/// it (SQLite takes one writer at a time, so that thread's time bounds the rate). Tokio's
/// threads are the server's workers and blocking pool: HTTP, preparing inputs, the log's
/// fsyncs; the bench's HTTP clients run on threads of their own (`bench-client`, the load
/// generator, counted apart from the server); "other" is the bench's main thread (the
/// import's loop).
pub(crate) fn print_cpu_per_report(
    before: &std::collections::BTreeMap<u64, (String, u64)>,
    reports: usize,
    secs: f64,
) {
    let mut kinds: std::collections::BTreeMap<&str, f64> = std::collections::BTreeMap::new();
    let mut busiest_sqlite = 0f64;
    let now = thread_cpu();
    for (tid, (name, ns)) in &now {
        let used = ns.saturating_sub(before.get(tid).map_or(0, |b| b.1)) as f64 / 1e3;
        let kind = if name.starts_with("tokio-rt-worker") {
            "tokio threads"
        } else if name.starts_with("sqlx-sqlite") {
            busiest_sqlite = busiest_sqlite.max(used);
            "SQLite connection threads"
        } else if name.starts_with("tlswatch-commit") {
            "group committer"
        } else if name.starts_with("bench-client") {
            "bench clients"
        } else {
            "other"
        };
        *kinds.entry(kind).or_default() += used;
    }
    let n = reports.max(1) as f64;
    let total: f64 = kinds.values().sum();
    let clients = kinds.get("bench clients").copied();
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let parts: Vec<String> = kinds
        .iter()
        .map(|(k, us)| format!("{k} {:.0}", us / n))
        .collect();
    let server = clients.map_or(String::new(), |c| {
        format!(
            "; the server without the bench's clients {:.0}",
            (total - c) / n
        )
    });
    println!(
        "  CPU per report (µs): {}; busiest SQLite thread (the writer) {:.0}; total {:.0} ({:.0} % of {} cores){server}",
        parts.join(", "),
        busiest_sqlite / n,
        total / n,
        100.0 * total / 1e6 / secs.max(1e-9) / cores as f64,
        cores,
    );
}

/// The number after `key` in `/proc/self/{file}` (0 where there is none).
fn proc_self_field(file: &str, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/self/{file}"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

pub(crate) fn pct(sorted: &[f64], p: usize) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}
