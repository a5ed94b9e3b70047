//! Input benchmarks: site sizes, import speed, bombs and many-part mails.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::{gz_len, peak_rss_kib, tempfile_dir};

pub(crate) fn sizes(site: &Path) -> anyhow::Result<()> {
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

pub(crate) async fn ingest(n: usize) -> anyhow::Result<()> {
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
    let written = crate::written_bytes();
    let cpu = crate::thread_cpu();
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
    let written = crate::written_bytes().saturating_sub(written);
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
    println!(
        "written to disk by the ingest: {:.1} MB ({:.1} KB a report)",
        written as f64 / 1e6,
        written as f64 / 1e3 / n as f64
    );
    crate::print_cpu_per_report(&cpu, n, ingest_secs);
    parsedmarc_compare(&dir, &mails_copy, parse_secs, ingest_secs)?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Runs parsedmarc (`pip install parsedmarc`) over the same mails, in the same run.
pub(crate) fn parsedmarc_compare(
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
pub(crate) fn bomb() -> anyhow::Result<()> {
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
pub(crate) fn manyparts() -> anyhow::Result<()> {
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

pub(crate) fn make_mail(i: usize) -> Vec<u8> {
    use base64::Engine;
    let domain = format!("domain{}.example", i % 100);
    // The 1,000 days before today: the store refuses reports dated more than a month ahead,
    // so fixed days would make a large run quarantine its last mails once the calendar
    // passes them.
    let today = chrono::Utc::now().timestamp() / 86_400;
    let day = today - 1000 + (i / 100) as i64 % 1000;
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

/// What preparing an input on an async worker can cost at most: `prepare_quick` on the
/// costliest inputs its bounds let through (and on ones it sends to a blocking thread, for the
/// time it takes to decide), `runs` times each.
pub(crate) fn quick(runs: usize) -> anyhow::Result<()> {
    use base64::Engine;
    use tlswatch::ingest::{prepare_quick, Limits, QUICK_INFLATED, QUICK_INPUT};
    let limits = Limits::default();
    let report = |i: usize, details: usize| {
        let detail = |k: usize| {
            format!(
                r#"{{"result-type":"certificate-host-mismatch","sending-mta-ip":"192.0.2.{k}","receiving-mx-hostname":"mx{k}.quick.example","receiving-ip":"198.51.100.{k}","failed-session-count":{k},"additional-information":"https://sender.example/{k}","failure-reason-code":"x{k}"}}"#,
                k = k % 250
            )
        };
        let details: Vec<String> = (0..details).map(detail).collect();
        format!(
            r#"{{"organization-name":"Quick Sender","date-range":{{"start-datetime":"2026-11-01T00:00:00Z","end-datetime":"2026-11-01T23:59:59Z"}},"contact-info":"tlsrpt@sender.example","report-id":"q-{i}","policies":[{{"policy":{{"policy-type":"sts","policy-string":["version: STSv1","mode: testing","mx: mx.quick.example","max_age: 86400"],"policy-domain":"quick.example","mx-host":["mx.quick.example"]}},"summary":{{"total-successful-session-count":41,"total-failure-session-count":{n}}},"failure-details":[{d}]}}]}}"#,
            n = details.len(),
            d = details.join(",")
        )
    };
    let gz = tlswatch::ingest::gzip;
    // The most failure details that keep the report within the quick bound.
    let mut details = 1;
    while report(0, details + 1).len() <= QUICK_INFLATED {
        details += 1;
    }
    let one_big = report(0, details);
    // A mail of as many small reports (one part each) as fit both bounds: the most reports,
    // each parsed, hashed and given its identity.
    let mut mail = String::from(
        "From: reports@sender.example\r\nTo: tlsrpt@quick.example\r\nSubject: many\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n",
    );
    let (mut parts, mut inflated) = (0, 0);
    loop {
        let json = report(parts, 1);
        let part = format!(
            "--b\r\nContent-Type: application/tlsrpt+gzip\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            base64::engine::general_purpose::STANDARD.encode(gz(json.as_bytes()))
        );
        if mail.len() + part.len() + 8 > QUICK_INPUT || inflated + json.len() > QUICK_INFLATED {
            break;
        }
        mail.push_str(&part);
        inflated += json.len();
        parts += 1;
    }
    mail.push_str("--b--\r\n");
    // Zeros up to the input bound: inflates far past the quick bound (sent to a blocking thread).
    let mut bomb = gz(&vec![0u8; 900 * QUICK_INPUT]);
    bomb.truncate(QUICK_INPUT);
    let cases: [(String, Vec<u8>, &str); 4] = [
        (
            format!(
                "one report, {details} failure details, {} B JSON",
                one_big.len()
            ),
            one_big.clone().into_bytes(),
            "application/tlsrpt+json",
        ),
        (
            format!("the same gzipped ({} B)", gz(one_big.as_bytes()).len()),
            gz(one_big.as_bytes()),
            "application/tlsrpt+gzip",
        ),
        (
            format!("a mail of {parts} gzipped reports ({} B)", mail.len()),
            mail.into_bytes(),
            "message/rfc822",
        ),
        (
            format!("gzip of zeros ({} B, inflating past the bound)", bomb.len()),
            bomb,
            "application/tlsrpt+gzip",
        ),
    ];
    println!("prepare_quick on an async worker: {runs} runs each (at most {QUICK_INPUT} B in, {QUICK_INFLATED} B inflated)");
    for (name, body, ct) in cases {
        let mut times = Vec::with_capacity(runs);
        let mut outcome = String::new();
        for _ in 0..runs {
            let t = Instant::now();
            let p = prepare_quick(&body, Some(ct), None, "bench", "https", &limits, 0);
            times.push(t.elapsed().as_secs_f64() * 1e6);
            outcome = match p {
                Some(p) => format!(
                    "prepared here: {} reports, {} errors",
                    p.reports.len(),
                    p.errors.len()
                ),
                None => "sent to a blocking thread".into(),
            };
        }
        times.sort_by(f64::total_cmp);
        println!(
            "  {name}: p50 {:.0} µs, max {:.0} µs; {outcome}",
            crate::pct(&times, 50),
            times.last().copied().unwrap_or_default()
        );
    }
    Ok(())
}
