//! Dashboard reads at scale and the checker against the loopback lab.

use std::io::Write;
use std::time::Instant;

use crate::{percentiles, tempfile_dir};

/// Seeds `n` reports (one domain per 10,000 reports: 100 domains at 1 M, 1,000 at 10 M; 3 years
/// × ~9 reporters; 3 policies each with failure details) into a fresh database and measures the
/// overview and the domain stats, through the server functions' backend and through the HTTP
/// API, and the report list's first page: p50/p95 over 200 calls each.
pub(crate) async fn dashboard(n: usize, url: Option<String>) -> anyhow::Result<()> {
    use app::auth::Role;
    use tlswatch::domain::{FailureDetail, PolicyResult, Report};
    use tlswatch::store::{DomainPolicy, NewReport, Store};

    let dir = tempfile_dir()?;
    let url = url.unwrap_or_else(|| format!("sqlite://{}/dash.db", dir.display()));
    let store = Store::connect(&url, 8).await?;
    // A database this command seeded before (with the same N, today) is measured again
    // without seeding: a second build can be compared on the same 10 M reports.
    let already = store.report_count().await?;
    anyhow::ensure!(
        already == 0 || already as usize == n,
        "use an empty database (or one this command seeded with the same N)"
    );
    let (days, domains, reporters) = (1095usize, (n / 10_000).max(1), 9usize);
    let last_day = tlswatch::domain::days::day_of(chrono::Utc::now());
    let t = Instant::now();
    let mut batch = Vec::with_capacity(5_000);
    for i in (0..n).filter(|_| already == 0) {
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
        batch.push(NewReport::new(
            report,
            format!("{i:064x}"),
            vec![0x1f, 0x8b],
            2,
            "cli",
            0,
        ));
        if batch.len() == 5_000 || i + 1 == n {
            store
                .store_reports(std::mem::take(&mut batch), DomainPolicy::AutoRegister)
                .await?;
        }
    }
    let seed_secs = t.elapsed().as_secs_f64();
    if already == 0 && store.backend() == tlswatch::store::Backend::Postgres {
        // As after any bulk load: the planner's statistics of the new partitions, and the
        // rollups' old row versions vacuumed (`Store::analyze`).
        let t = Instant::now();
        store.analyze().await?;
        println!(
            "vacuum (analyze) after seeding: {:.1} s",
            t.elapsed().as_secs_f64()
        );
    }
    if already > 0 {
        println!(
            "backend: {:?}; {n} reports ({domains} domains) already seeded: measuring only",
            store.backend()
        );
    } else {
        println!(
        "backend: {:?}; seeded {n} reports ({domains} domains, {} policy rows) in {seed_secs:.1} s ({:.0} reports/s)",
        store.backend(),
        n * 3,
        n as f64 / seed_secs
    );
    }

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
    let one = format!("domain{:03}.example", 42.min(domains - 1));
    for (label, from) in [("30 days", last_day - 29), ("365 days", last_day - 364)] {
        let from = tlswatch::domain::days::format_day(from);
        let path = format!("/api/v1/domains/{one}/stats?from={from}&to={to}");
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
    // The report list's first page (the Reports page asks for 500 rows): everything, one
    // domain, and failures only.
    for (label, query) in [
        ("all", "limit=500".to_string()),
        ("one domain", format!("domain={one}&limit=500")),
        ("failures only", "failures=true&limit=500".to_string()),
        (
            "one domain, 30 days",
            format!(
                "domain={one}&from={}&to={to}&limit=500",
                tlswatch::domain::days::format_day(last_day - 29)
            ),
        ),
    ] {
        let path = format!("/api/v1/reports?{query}");
        let p = percentiles(200, || http_get(addr, &path, &token)).await?;
        println!(
            "GET report list first page (HTTP API), {label:>20}: p50 {:>7.2} ms  p95 {:>7.2} ms",
            p.0, p.1
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// A plain HTTP/1.1 GET over a fresh connection; fails unless the answer is 200.
pub(crate) async fn http_get(
    addr: std::net::SocketAddr,
    path: &str,
    token: &str,
) -> anyhow::Result<()> {
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

pub(crate) async fn check(n: usize, concurrency: usize) -> anyhow::Result<()> {
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

pub(crate) async fn lab(domain: String, mx: usize) -> anyhow::Result<()> {
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
