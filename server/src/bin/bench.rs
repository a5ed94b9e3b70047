//! `tlswatch-bench`: benchmarks that print numbers (not part of the test run).
//!
//! - `sizes [SITE_ROOT]`: WASM, JS, CSS and ECharts sizes raw and gzipped, and the first-load total.
//! - `ingest [N]`: generates N report mails (.eml, gzip attachment), imports them into a fresh
//!   SQLite file and prints mails/s, with the parse-only time beside it.
//! - `lab [DOMAIN] [MX]`: runs the loopback lab (DNS, policy host, MX hosts) for a healthy
//!   `testing` domain until killed, and prints one JSON line with the settings that point
//!   `tlswatch` at it (used by the end-to-end tests, and to try the checks offline).
//! - `receiver [N] [C]`: N gzip reports POSTed to `/tlsrpt` by C concurrent clients over real
//!   HTTP into a fresh SQLite file: reports/s, latency p50/p99, errors.
//! - `load [SECONDS]`: 200 concurrent uploaders (receiver) and 50 dashboard readers (API and the
//!   overview page) against one instance: requests, errors, latency per class.
//! - `memory`: resident memory of an idle server and while a 1 GiB gzip bomb is refused.
//! - `manyparts`: `tlswatch import` (the real command, in this process) of a 14 MB mail with 557
//!   report parts each inflating to ~19 MB: time, outcome and peak RSS.
//! - `check [N] [C]`: the checker against the loopback lab (real DNS, HTTPS and SMTP servers):
//!   one domain with 3 MX (median of 20 runs), then a sweep of N domains with C at a time.
#![forbid(unsafe_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("sizes") => sizes(Path::new(
            args.get(1).map(String::as_str).unwrap_or("target/site"),
        )),
        Some("bomb") => bomb(),
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
            eprintln!("usage: tlswatch-bench sizes [SITE_ROOT] | ingest [N] | bomb | manyparts | dashboard [N] [DATABASE_URL] | check [DOMAINS] [CONCURRENCY] | receiver [N] [CONCURRENCY] | load [SECONDS] | memory");
            std::process::exit(2);
        }
    }
}

fn gz_len(bytes: &[u8]) -> usize {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    let _ = e.write_all(bytes);
    e.finish().map(|v| v.len()).unwrap_or(0)
}

fn sizes(site: &Path) -> anyhow::Result<()> {
    let files: [(&str, PathBuf); 4] = [
        ("app WASM", site.join("pkg/tlswatch.wasm")),
        ("app JS glue", site.join("pkg/tlswatch.js")),
        ("CSS", site.join("pkg/tlswatch.css")),
        ("ECharts 5.5.1", site.join("echarts.min.js")),
    ];
    println!("{:<16} {:>12} {:>12}", "asset", "raw bytes", "gzip -6");
    let (mut raw_total, mut gz_total) = (0, 0);
    for (name, path) in &files {
        let bytes = std::fs::read(path).map_err(|e| {
            anyhow::anyhow!(
                "{}: {e} (run `cargo leptos build --release`)",
                path.display()
            )
        })?;
        let g = gz_len(&bytes);
        println!("{:<16} {:>12} {:>12}", name, bytes.len(), g);
        raw_total += bytes.len();
        gz_total += g;
    }
    println!("{:<16} {:>12} {:>12}", "first load", raw_total, gz_total);
    println!("(first load = the four assets above; the HTML page itself adds a few KB)");
    Ok(())
}

async fn ingest(n: usize) -> anyhow::Result<()> {
    use tlswatch::ingest::{import_pipelined, prepare, Batching, Limits};
    use tlswatch::store::{DomainPolicy, Store};

    let mails: Vec<Vec<u8>> = (0..n).map(make_mail).collect();
    let mails_copy = mails.clone();
    let total_bytes: usize = mails.iter().map(Vec::len).sum();
    let limits = Limits::default();

    let t = Instant::now();
    let mut parsed = 0;
    for m in &mails {
        parsed += prepare(m, None, None, String::new(), "cli", &limits, 0)
            .reports
            .len();
    }
    let parse_secs = t.elapsed().as_secs_f64();
    anyhow::ensure!(parsed == n, "parsed {parsed} of {n}");

    let dir = tempfile_dir()?;
    let store = Store::connect(&format!("sqlite://{}/bench.db", dir.display()), 4).await?;
    let t = Instant::now();
    let mut stored = 0;
    import_pipelined(
        &store,
        mails,
        Batching {
            items: 2_000,
            max_bytes: 64 * 1024 * 1024,
            domains: DomainPolicy::AutoRegister,
        },
        Vec::len,
        move |m: &Vec<u8>| vec![prepare(m, None, None, String::new(), "cli", &limits, 0)],
        |o| {
            stored += o.reports;
            Ok(())
        },
    )
    .await?;
    let ingest_secs = t.elapsed().as_secs_f64();
    anyhow::ensure!(
        stored == n && store.report_count().await? as usize == n,
        "stored count mismatch"
    );
    println!("mails: {n} ({:.1} MB)", total_bytes as f64 / 1e6);
    println!(
        "parse only (extract + gunzip + JSON):  {:>8.3} s  {:>10.0} mails/s",
        parse_secs,
        n as f64 / parse_secs
    );
    println!(
        "ingest into SQLite (parse + store):    {:>8.3} s  {:>10.0} mails/s",
        ingest_secs,
        n as f64 / ingest_secs
    );
    println!(
        "store share of ingest time: {:.0} %",
        100.0 * (ingest_secs - parse_secs).max(0.0) / ingest_secs
    );
    parsedmarc_compare(&dir, &mails_copy, parse_secs, ingest_secs)?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Runs parsedmarc (`pip install parsedmarc`) over the same mails, in the same run.
fn parsedmarc_compare(
    dir: &Path,
    mails: &[Vec<u8>],
    parse_secs: f64,
    ingest_secs: f64,
) -> anyhow::Result<()> {
    let eml_dir = dir.join("eml");
    std::fs::create_dir_all(&eml_dir)?;
    for (i, m) in mails.iter().enumerate() {
        std::fs::write(eml_dir.join(format!("{i:06}.eml")), m)?;
    }
    let out = std::process::Command::new("python3")
        .arg("scripts/parsedmarc_bench.py")
        .arg(&eml_dir)
        .output();
    let text = out
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let mut parts = text.split_whitespace();
    match (
        parts.next().and_then(|s| s.parse::<f64>().ok()),
        parts.next(),
    ) {
        (Some(secs), Some(ok)) => {
            println!("parsedmarc parse_report_file (same mails): {secs:>8.3} s  {:>10.0} mails/s  ({ok} parsed)", mails.len() as f64 / secs);
            println!("ratios: parsedmarc / tlswatch parse-only = {:.1}x, parsedmarc / tlswatch full ingest = {:.1}x", secs / parse_secs, secs / ingest_secs);
        }
        _ => println!(
            "parsedmarc: not measured ({}); pip install parsedmarc",
            if text.is_empty() {
                "python3 failed"
            } else {
                &text
            }
        ),
    }
    Ok(())
}

/// A 1 GiB gzip bomb through the extractor: refused at the limit, with the memory it took.
fn bomb() -> anyhow::Result<()> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..1024 {
        e.write_all(&zeros)?;
    }
    let gz = e.finish()?;
    drop(zeros);
    let before = peak_rss_kib();
    let t = Instant::now();
    let limits = tlswatch::ingest::Limits::default();
    let result =
        tlswatch::ingest::extract::extract(&gz, Some("application/tlsrpt+gzip"), None, &limits);
    let secs = t.elapsed().as_secs_f64();
    let after = peak_rss_kib();
    println!("gzip bomb: {} bytes compressed, 1 GiB expanded", gz.len());
    println!(
        "result: {}",
        match result {
            Ok(_) => "ACCEPTED (bug)".to_owned(),
            Err(e) => format!("refused: {e}"),
        }
    );
    println!("time to refuse: {secs:.3} s; peak RSS before {before} KiB, after {after} KiB (+{} KiB; limit {} bytes)", after.saturating_sub(before), limits.max_decompressed);
    Ok(())
}

/// The attack mail of issue 12 through the real `import` command.
fn manyparts() -> anyhow::Result<()> {
    use base64::Engine;
    use clap::Parser;
    let dir = tempfile_dir()?;
    let mut json = br#"{"organization-name":"big.example","date-range":{"start-datetime":"2026-02-01T00:00:00Z","end-datetime":"2026-02-01T23:59:59Z"},"contact-info":"x@big.example","report-id":"b1","policies":[{"policy":{"policy-type":"sts","policy-domain":"budget.example"},"summary":{"total-successful-session-count":1,"total-failure-session-count":0}}]}"#.to_vec();
    json.extend(std::iter::repeat_n(b' ', 19_000_000));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&json)?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(gz.finish()?);
    drop(json);
    let mut mail = String::from("From: a@evil.example\r\nSubject: many\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n");
    for i in 0..557 {
        mail.push_str(&format!("--b\r\nContent-Type: application/tlsrpt+gzip\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"r{i}.json.gz\"\r\n\r\n"));
        for line in b64.as_bytes().chunks(76) {
            mail.push_str(std::str::from_utf8(line)?);
            mail.push_str("\r\n");
        }
    }
    mail.push_str("--b--\r\n");
    let path = dir.join("many.eml");
    std::fs::write(&path, &mail)?;
    println!(
        "mail: {} bytes, 557 parts, each inflating to 19,000,xxx bytes",
        mail.len()
    );
    drop(mail);
    let before = peak_rss_kib();
    let t = Instant::now();
    let cli = tlswatch::config::Cli::parse_from([
        "tlswatch".as_ref(),
        "--data-dir".as_ref(),
        dir.join("data").as_os_str(),
        "import".as_ref(),
        "--format".as_ref(),
        "json".as_ref(),
        path.as_os_str(),
    ]);
    let code = tokio::runtime::Runtime::new()?.block_on(tlswatch::cli::run(cli))?;
    println!(
        "tlswatch import: exit {code} in {:.2} s; peak RSS {} MiB (before the import {} MiB)",
        t.elapsed().as_secs_f64(),
        peak_rss_kib() / 1024,
        before / 1024
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn peak_rss_kib() -> u64 {
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

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("tlswatch-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn make_mail(i: usize) -> Vec<u8> {
    use base64::Engine;
    let domain = format!("domain{}.example", i % 100);
    let day = 20_000 + (i / 100) as i64 % 1000;
    let start = day * 86_400;
    let date = chrono::DateTime::from_timestamp(start, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string();
    let json = format!(
        r#"{{"organization-name":"Sender {s}","date-range":{{"start-datetime":"{date}T00:00:00Z","end-datetime":"{date}T23:59:59Z"}},"contact-info":"tlsrpt@sender{s}.example","report-id":"bench-{i}","policies":[{{"policy":{{"policy-type":"sts","policy-string":["version: STSv1","mode: testing","mx: *.{domain}","max_age: 604800"],"policy-domain":"{domain}","mx-host":["*.{domain}"]}},"summary":{{"total-successful-session-count":{ok},"total-failure-session-count":{f}}},"failure-details":[{{"result-type":"certificate-expired","sending-mta-ip":"192.0.2.{ip}","receiving-mx-hostname":"mx1.{domain}","receiving-ip":"198.51.100.7","failed-session-count":{f}}}]}}]}}"#,
        s = i % 9,
        ok = 100 + i % 1000,
        f = i % 7,
        ip = i % 250,
    );
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = e.write_all(json.as_bytes());
    let gz = e.finish().unwrap_or_default();
    format!(
        "From: noreply-smtp-tls-reporting@sender{s}.example\r\nTo: tlsrpt@{domain}\r\nSubject: Report Domain: {domain} Submitter: sender{s}.example Report-ID: <bench-{i}@sender{s}.example>\r\nTLS-Report-Domain: {domain}\r\nTLS-Report-Submitter: sender{s}.example\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; boundary=\"b{i}\"; report-type=tlsrpt\r\n\r\n--b{i}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nThis is a TLS report.\r\n--b{i}\r\nContent-Type: application/tlsrpt+gzip\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"sender{s}.example!{domain}!{start}!{end}!{i}.json.gz\"\r\n\r\n{b64}\r\n--b{i}--\r\n",
        s = i % 9,
        end = start + 86_399,
        b64 = base64::engine::general_purpose::STANDARD.encode(&gz),
    )
    .into_bytes()
}

/// Seeds `n` reports (100 domains × 3 years × ~9 reporters, 3 policies each with failure
/// details) into a fresh database and measures the overview and the domain stats, through the
/// server functions' backend and through the HTTP API: p50/p95 over 200 calls each.
async fn dashboard(n: usize, url: Option<String>) -> anyhow::Result<()> {
    use app::auth::Role;
    use tlswatch::domain::{FailureDetail, PolicyResult, Report};
    use tlswatch::store::{DomainPolicy, NewReport, Store};

    let dir = tempfile_dir()?;
    let url = url.unwrap_or_else(|| format!("sqlite://{}/dash.db", dir.display()));
    let store = Store::connect(&url, 8).await?;
    anyhow::ensure!(store.report_count().await? == 0, "use an empty database");
    let (days, domains, reporters) = (1095usize, 100usize, 9usize);
    let last_day = tlswatch::domain::days::day_of(chrono::Utc::now());
    let t = Instant::now();
    let mut batch = Vec::with_capacity(5_000);
    for i in 0..n {
        let domain = format!("domain{:03}.example", i % domains);
        let reporter = (i / domains) % reporters;
        // Newest days first, so any N fills the ranges the dashboard shows.
        let day = last_day - ((i / (domains * reporters)) % days) as i64;
        let start = chrono::DateTime::from_timestamp(day * 86_400, 0).unwrap_or_default();
        let fail = (i % 7) as u64;
        let failures = (fail > 0)
            .then(|| FailureDetail {
                result_type: [
                    "certificate-expired",
                    "starttls-not-supported",
                    "validation-failure",
                ][i % 3]
                    .into(),
                receiving_mx_hostname: Some(format!("mx{}.{domain}", i % 2)),
                sending_mta_ip: Some("192.0.2.1".into()),
                failed_session_count: fail,
                ..Default::default()
            })
            .into_iter()
            .collect::<Vec<_>>();
        let policy = |ty: &str, ok: u64, f: u64, fd: Vec<FailureDetail>| PolicyResult {
            policy_type: ty.into(),
            policy_strings: vec!["version: STSv1".into(), "mode: testing".into()],
            policy_domain: domain.clone(),
            mx_hosts: vec![format!("*.{domain}")],
            success: ok,
            failure: f,
            failures: fd,
        };
        let report = Report {
            organization_name: format!("Reporter {reporter}"),
            report_id: format!("seed-{i}"),
            contact_info: Some("tlsrpt@reporter.example".into()),
            start,
            end: start + chrono::Duration::seconds(86_399),
            policies: vec![
                policy("sts", 100 + (i % 50) as u64, fail, failures.clone()),
                policy("tlsa", 100 + (i % 50) as u64, fail, failures),
                policy("no-policy-found", 3, 0, vec![]),
            ],
            warnings: vec![],
        };
        batch.push(NewReport {
            report,
            content_hash: format!("{i:064x}"),
            raw_gz: vec![0x1f, 0x8b],
            raw_size: 2,
            channel: "cli",
            received_at: 0,
        });
        if batch.len() == 5_000 || i + 1 == n {
            store
                .store_reports(&batch, DomainPolicy::AutoRegister)
                .await?;
            batch.clear();
        }
    }
    let seed_secs = t.elapsed().as_secs_f64();
    println!(
        "backend: {:?}; seeded {n} reports ({} policy rows) in {seed_secs:.1} s ({:.0} reports/s)",
        store.backend(),
        n * 3,
        n as f64 / seed_secs
    );

    let stats = tlswatch::service::stats::Stats::new(store.clone());
    let by = tlswatch::service::Actor::<tlswatch::service::Viewer>::operator();
    for range in [30u32, 365] {
        let from = last_day - i64::from(range) + 1;
        let p = percentiles(200, || async {
            Ok(stats.overview(&by, from, last_day).await.map(|_| ())?)
        })
        .await?;
        println!(
            "overview (server fn backend), {range:>3} days:      p50 {:>7.2} ms  p95 {:>7.2} ms",
            p.0, p.1
        );
        let p = percentiles(200, || async {
            Ok(stats.trends(&by, from, last_day).await.map(|_| ())?)
        })
        .await?;
        println!(
            "overview sparklines (second request), {range:>3} days: p50 {:>7.2} ms  p95 {:>7.2} ms",
            p.0, p.1
        );
    }
    // The HTTP API, over real HTTP with a bearer token.
    let (token, hash) = tlswatch::auth::new_secret("tlsw_");
    store
        .add_token("bench", &hash, Role::Viewer, "bench", 0)
        .await?;
    let app = tlswatch::http::Application::build(
        store.clone(),
        tlswatch::http::HttpSettings::local("127.0.0.1:0".parse()?),
    )
    .await?;
    let addr = app.local_addr();
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    let to = tlswatch::domain::days::format_day(last_day);
    for (label, from) in [("30 days", last_day - 29), ("365 days", last_day - 364)] {
        let from = tlswatch::domain::days::format_day(from);
        let path = format!("/api/v1/domains/domain042.example/stats?from={from}&to={to}");
        let p = percentiles(200, || http_get(addr, &path, &token)).await?;
        println!(
            "GET domain stats (HTTP API), {label:>8}:     p50 {:>7.2} ms  p95 {:>7.2} ms",
            p.0, p.1
        );
        let path = format!("/api/v1/domains?from={from}&to={to}");
        let p = percentiles(200, || http_get(addr, &path, &token)).await?;
        println!(
            "GET domains overview (HTTP API), {label:>8}: p50 {:>7.2} ms  p95 {:>7.2} ms",
            p.0, p.1
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

async fn percentiles<F, Fut>(runs: usize, mut f: F) -> anyhow::Result<(f64, f64)>
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

/// A plain HTTP/1.1 GET over a fresh connection; fails unless the answer is 200.
async fn http_get(addr: std::net::SocketAddr, path: &str, token: &str) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n").as_bytes()).await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    anyhow::ensure!(
        buf.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf[..buf.len().min(200)])
    );
    Ok(())
}

async fn check(n: usize, concurrency: usize) -> anyhow::Result<()> {
    use futures::StreamExt;
    use tlswatch::check::{lab::Lab, Checker};
    // One domain, 3 MX hosts: every check including 3 STARTTLS probes (and their no-SNI repeats).
    let lab = Lab::healthy("bench.test", 3).await?;
    let checker = Checker::new(lab.config.clone())?;
    let mut times = Vec::new();
    let mut findings = 0;
    for _ in 0..20 {
        let o = checker.check("bench.test", None).await;
        anyhow::ensure!(
            o.count(app::health::Severity::Fail) == 0,
            "the lab domain should not fail"
        );
        findings = o.findings.len();
        times.push(o.elapsed.as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "one domain, 3 MX: median {:.1} ms, min {:.1} ms, max {:.1} ms over 20 runs ({findings} findings each)",
        times[times.len() / 2],
        times[0],
        times[times.len() - 1]
    );
    drop(lab);
    // The sweep: N domains sharing 3 MX hosts, C checks at a time.
    let lab = Lab::many(n).await?;
    let checker = std::sync::Arc::new(Checker::new(lab.config.clone())?);
    let started = Instant::now();
    let results: Vec<(usize, usize, f64)> = futures::stream::iter(0..n)
        .map(|i| {
            let c = checker.clone();
            async move {
                let o = c.check(&format!("d{i}.lab.test"), None).await;
                (
                    o.count(app::health::Severity::Fail),
                    o.count(app::health::Severity::Error),
                    o.elapsed.as_secs_f64() * 1000.0,
                )
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let secs = started.elapsed().as_secs_f64();
    let fails = results.iter().filter(|r| r.0 > 0).count();
    let errors = results.iter().filter(|r| r.1 > 0).count();
    let mut per: Vec<f64> = results.iter().map(|r| r.2).collect();
    per.sort_by(f64::total_cmp);
    println!(
        "sweep: {n} domains (3 MX each) with {concurrency} at a time in {secs:.2} s ({:.0} domains/s); per domain median {:.0} ms, p95 {:.0} ms; domains with a fail: {fails}, with an error: {errors}",
        n as f64 / secs,
        per[per.len() / 2],
        per[(per.len() * 95 / 100).min(per.len() - 1)]
    );
    Ok(())
}

async fn lab(domain: String, mx: usize) -> anyhow::Result<()> {
    let lab = tlswatch::check::lab::Lab::healthy(&domain, mx).await?;
    let dir = std::env::temp_dir().join(format!("tlswatch-lab-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, &lab.ca.cert_pem)?;
    println!(
        "{}",
        serde_json::json!({
            "domain": domain,
            "TLSWATCH_DNS_SERVERS": lab.dns.addr.to_string(),
            "TLSWATCH_EXTRA_CA_FILE": ca.display().to_string(),
            "TLSWATCH_CHECK_ALLOW_PRIVATE": "true",
            "TLSWATCH_CHECK_HTTPS_PORT": lab.https.addr.port().to_string(),
            "TLSWATCH_CHECK_SMTP_PORT": lab.smtp[0].addr.port().to_string(),
        })
    );
    std::io::stdout().flush()?;
    tokio::signal::ctrl_c().await.ok();
    Ok(())
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

/// Resident set size of this process, in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// A server on a fresh SQLite file with `domains` registered; returns its address and store.
async fn bench_server(
    dir: &Path,
    domains: usize,
) -> anyhow::Result<(std::net::SocketAddr, tlswatch::store::Store)> {
    let store =
        tlswatch::store::Store::connect(&format!("sqlite://{}/bench.db", dir.display()), 8).await?;
    for d in 0..domains {
        store
            .add_domain(&format!("domain{d}.example"), "manual", 0)
            .await?;
    }
    let mut settings = tlswatch::http::HttpSettings::local("127.0.0.1:0".parse()?);
    settings.receiver_rate_per_minute = 100_000_000;
    let app = tlswatch::http::Application::build(store.clone(), settings).await?;
    let addr = app.local_addr();
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    Ok((addr, store))
}

fn gz_report(i: usize, domain: &str) -> Vec<u8> {
    let json = format!(
        r#"{{"organization-name":"Load {o}","date-range":{{"start-datetime":"2026-08-{d:02}T00:00:00Z","end-datetime":"2026-08-{d:02}T23:59:59Z"}},"contact-info":"x@load.example","report-id":"load-{i}","policies":[{{"policy":{{"policy-type":"sts","policy-string":["version: STSv1","mode: enforce","mx: *.{domain}","max_age: 86400"],"policy-domain":"{domain}","mx-host":["*.{domain}"]}},"summary":{{"total-successful-session-count":{s},"total-failure-session-count":1}},"failure-details":[{{"result-type":"certificate-expired","sending-mta-ip":"192.0.2.1","receiving-mx-hostname":"mx1.{domain}","failed-session-count":1}}]}}]}}"#,
        o = i % 9,
        d = 1 + i % 28,
        s = 100 + i % 50
    );
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = e.write_all(json.as_bytes());
    e.finish().unwrap_or_default()
}

fn pct(sorted: &[f64], p: usize) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

async fn receiver(n: usize, concurrency: usize) -> anyhow::Result<()> {
    let dir = tempfile_dir()?;
    let (addr, store) = bench_server(&dir, 100).await?;
    let bodies: std::sync::Arc<Vec<Vec<u8>>> = std::sync::Arc::new(
        (0..n)
            .map(|i| gz_report(i, &format!("domain{}.example", i % 100)))
            .collect(),
    );
    let client = reqwest_like_client();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (bodies, next, client) = (bodies.clone(), next.clone(), client.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0usize;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= bodies.len() {
                    return (lat, errors);
                }
                let t = Instant::now();
                match post(
                    &client,
                    addr,
                    "/tlsrpt",
                    "application/tlsrpt+gzip",
                    bodies[i].clone(),
                )
                .await
                {
                    Ok(200) => lat.push(t.elapsed().as_secs_f64() * 1000.0),
                    _ => errors += 1,
                }
            }
        }));
    }
    let mut lat = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await?;
        lat.extend(l);
        errors += e;
    }
    let secs = started.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    let stored = store.report_count().await?;
    println!(
        "receiver: {n} gzip reports over HTTP, {concurrency} concurrent clients, SQLite: {:.0} reports/s ({secs:.2} s); latency p50 {:.1} ms p99 {:.1} ms; errors {errors}; stored {stored}",
        n as f64 / secs,
        pct(&lat, 50),
        pct(&lat, 99)
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

type Client = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    http_body_util::Full<hyper::body::Bytes>,
>;

fn reqwest_like_client() -> Client {
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_max_idle_per_host(1024)
        .build_http()
}

async fn post(
    client: &Client,
    addr: std::net::SocketAddr,
    path: &str,
    ctype: &str,
    body: Vec<u8>,
) -> anyhow::Result<u16> {
    let req = http::Request::post(format!("http://{addr}{path}"))
        .header(http::header::CONTENT_TYPE, ctype)
        .body(http_body_util::Full::new(hyper::body::Bytes::from(body)))?;
    let resp = client.request(req).await?;
    let status = resp.status().as_u16();
    let _ = http_body_util::BodyExt::collect(resp.into_body()).await;
    Ok(status)
}

async fn get(
    client: &Client,
    addr: std::net::SocketAddr,
    path: &str,
    auth: &str,
) -> anyhow::Result<u16> {
    let req = http::Request::get(format!("http://{addr}{path}"))
        .header(http::header::AUTHORIZATION, auth)
        .header(
            http::header::COOKIE,
            auth.strip_prefix("cookie:").unwrap_or(""),
        )
        .body(http_body_util::Full::new(hyper::body::Bytes::new()))?;
    let resp = client.request(req).await?;
    let status = resp.status().as_u16();
    let _ = http_body_util::BodyExt::collect(resp.into_body()).await;
    Ok(status)
}

async fn load(secs: u64) -> anyhow::Result<()> {
    use app::auth::Role;
    let dir = tempfile_dir()?;
    let (addr, store) = bench_server(&dir, 100).await?;
    let (token, hash) = tlswatch::auth::new_secret("tlsw_");
    store
        .add_token("load", &hash, Role::Viewer, "bench", 0)
        .await?;
    let bearer = format!("Bearer {token}");
    let client = reqwest_like_client();
    let deadline = Instant::now() + std::time::Duration::from_secs(secs);
    let counter = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut uploaders = Vec::new();
    for _ in 0..200 {
        let (client, counter) = (client.clone(), counter.clone());
        uploaders.push(tokio::spawn(async move {
            let (mut lat, mut errors) = (Vec::new(), 0usize);
            while Instant::now() < deadline {
                let i = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let body = gz_report(i, &format!("domain{}.example", i % 100));
                let t = Instant::now();
                match post(&client, addr, "/tlsrpt", "application/tlsrpt+gzip", body).await {
                    Ok(200) => lat.push(t.elapsed().as_secs_f64() * 1000.0),
                    _ => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    let mut readers = Vec::new();
    for r in 0..50usize {
        let (client, bearer) = (client.clone(), bearer.clone());
        readers.push(tokio::spawn(async move {
            let (mut lat, mut errors) = (Vec::new(), 0usize);
            let mut k = r;
            while Instant::now() < deadline {
                k += 1;
                let path = match k % 3 {
                    0 => "/api/v1/domains?from=2026-08-01&to=2026-08-28".to_string(),
                    1 => format!(
                        "/api/v1/domains/domain{}.example/stats?from=2026-08-01&to=2026-08-28",
                        k % 100
                    ),
                    _ => "/metrics".to_string(),
                };
                let t = Instant::now();
                match get(&client, addr, &path, &bearer).await {
                    Ok(200) => lat.push(t.elapsed().as_secs_f64() * 1000.0),
                    _ => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    let collect = |v: Vec<(Vec<f64>, usize)>| {
        let mut lat: Vec<f64> = v.iter().flat_map(|x| x.0.clone()).collect();
        lat.sort_by(f64::total_cmp);
        (lat, v.iter().map(|x| x.1).sum::<usize>())
    };
    let mut up = Vec::new();
    for u in uploaders {
        up.push(u.await?);
    }
    let mut rd = Vec::new();
    for r in readers {
        rd.push(r.await?);
    }
    let (ul, ue) = collect(up);
    let (rl, re) = collect(rd);
    println!("load: {secs} s, 200 uploaders + 50 readers, one instance on SQLite");
    println!(
        "  uploads (POST /tlsrpt): {} ok ({:.0}/s), {ue} errors, p50 {:.1} ms p99 {:.1} ms",
        ul.len(),
        ul.len() as f64 / secs as f64,
        pct(&ul, 50),
        pct(&ul, 99)
    );
    println!("  reads (API stats, domains, /metrics): {} ok ({:.0}/s), {re} errors, p50 {:.1} ms p99 {:.1} ms", rl.len(), rl.len() as f64 / secs as f64, pct(&rl, 50), pct(&rl, 99));
    println!("  stored reports: {}", store.report_count().await?);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

async fn memory() -> anyhow::Result<()> {
    let dir = tempfile_dir()?;
    let before = rss_kib();
    let (addr, _store) = bench_server(&dir, 10).await?;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let idle = rss_kib();
    // A 1 GiB gzip bomb POSTed to the receiver.
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..1024 {
        e.write_all(&zeros)?;
    }
    let bomb = e.finish()?;
    let client = reqwest_like_client();
    let status = post(
        &client,
        addr,
        "/tlsrpt",
        "application/tlsrpt+gzip",
        bomb.clone(),
    )
    .await?;
    let after = rss_kib();
    println!(
        "memory: process before the server {} MiB; idle server {} MiB; after a 1 GiB gzip bomb ({} KiB on the wire, answered {status}) {} MiB",
        before / 1024,
        idle / 1024,
        bomb.len() / 1024,
        after / 1024
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
