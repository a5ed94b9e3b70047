//! Crash safety: the real `tlswatch` binary ingests reports through the HTTPS receiver from
//! concurrent clients and is killed with SIGKILL mid-stream. After a restart every report that
//! was answered 200 is present, none is partial, nothing unknown appeared, and the totals are
//! exact; re-sending what was not acknowledged completes the set without double counting.
//! SQLite (a file) and PostgreSQL.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tlswatch::store::{ReportFilter, Store};

use support::{gz, report_json};

const DOMAIN: &str = "crash.example";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn tlswatch(env: &[(&str, String)], args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tlswatch"));
    c.args(args)
        .env_remove("TLSWATCH_DATABASE_URL")
        .env("TLSWATCH_LOG", "warn")
        .env("TLSWATCH_SECRET_KEY", support::TEST_SECRET_KEY)
        .env("TLSWATCH_CHECK_INTERVAL_MINUTES", "0");
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

async fn start(env: &[(&str, String)]) -> (Child, String) {
    let port = free_port();
    let mut child = tlswatch(
        env,
        &[
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--receiver-rate-per-minute",
            "1000000",
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..300 {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await {
            if r.status() == 200 {
                return (child, base);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("tlswatch did not start");
}

/// Report `i`: its own id, day and session count, so each is recognisable and totals are known.
fn report(i: usize) -> (String, Vec<u8>, i64) {
    let id = format!("crash-{i}");
    let success = 1000 + i as u64;
    let day = format!("2026-07-{:02}", 1 + i % 28);
    let json = report_json(
        "killer.example",
        &id,
        DOMAIN,
        &day,
        success,
        &[("certificate-expired", "mx1.crash.example", 3)],
    );
    (id, gz(json.as_bytes()), success as i64 + 3)
}

async fn run(env: Vec<(&'static str, String)>, url: String) {
    let n = 3000;
    let reports: Arc<Vec<(String, Vec<u8>, i64)>> = Arc::new((0..n).map(report).collect());
    assert!(tlswatch(&env, &["domain", "add", DOMAIN])
        .status()
        .unwrap()
        .success());
    let (mut child, base) = start(&env).await;
    let acked: Arc<Mutex<BTreeSet<usize>>> = Arc::default();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..16 {
        let (reports, acked, http, next, base) = (
            reports.clone(),
            acked.clone(),
            http.clone(),
            next.clone(),
            base.clone(),
        );
        clients.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if i >= reports.len() {
                    return;
                }
                let r = http
                    .post(format!("{base}/tlsrpt"))
                    .header("content-type", "application/tlsrpt+gzip")
                    .body(reports[i].1.clone())
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 200 => {
                        acked.lock().unwrap().insert(i);
                    }
                    Ok(r) => panic!("report {i}: unexpected {}", r.status()),
                    Err(_) => return, // the server died
                }
            }
        }));
    }
    // Kill it while reports are flowing.
    for _ in 0..3000 {
        if acked.lock().unwrap().len() >= 300 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    for c in clients {
        let _ = c.await;
    }
    let acked: BTreeSet<usize> = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 300 && acked.len() < n,
        "killed mid-stream: {} acknowledged",
        acked.len()
    );

    // Restart and look: acknowledged ⊆ stored ⊆ sent, each stored report whole, totals exact.
    let (mut child, base) = start(&env).await;
    let store = Store::connect(&url, 2).await.unwrap();
    let stored = store
        .reports(&ReportFilter {
            domain: Some(DOMAIN.into()),
            reporter: None,
            from: None,
            to: None,
            failures_only: false,
            limit: 100_000,
            org: None,
        })
        .await
        .unwrap();
    let by_id: BTreeMap<String, i64> = stored
        .iter()
        .map(|r| (r.report_id.clone(), r.success + r.failure))
        .collect();
    assert_eq!(by_id.len(), stored.len(), "no report stored twice");
    for i in &acked {
        let (id, _, sessions) = &reports[*i];
        assert_eq!(
            by_id.get(id),
            Some(sessions),
            "acknowledged report {id} must be present and whole"
        );
    }
    let sent: BTreeMap<&String, i64> = reports.iter().map(|(id, _, s)| (id, *s)).collect();
    for (id, sessions) in &by_id {
        assert_eq!(
            sent.get(id),
            Some(sessions),
            "stored report {id} is whole and was sent"
        );
    }
    let totals = store
        .domain_stats(DOMAIN, 0, 100_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        totals.success + totals.failure,
        by_id.values().sum::<i64>(),
        "rollups equal the stored reports"
    );
    eprintln!(
        "killed after {} acknowledged; {} stored ({} beyond the acknowledged)",
        acked.len(),
        by_id.len(),
        by_id.len() - acked.len()
    );

    // Senders retry what was not acknowledged: the set completes, nothing counts twice.
    for (i, (_, body, _)) in reports.iter().enumerate() {
        if !acked.contains(&i) {
            let r = http
                .post(format!("{base}/tlsrpt"))
                .header("content-type", "application/tlsrpt+gzip")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
    }
    let totals = store
        .domain_stats(DOMAIN, 0, 100_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        totals.success + totals.failure,
        reports.iter().map(|r| r.2).sum::<i64>()
    );
    assert_eq!(totals.failure, 3 * n as i64);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_ingestion_loses_nothing_acknowledged_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("tlswatch.db").display());
    run(
        vec![("TLSWATCH_DATA_DIR", dir.path().display().to_string())],
        url,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_ingestion_loses_nothing_acknowledged_postgres() {
    let Some(db) = support::postgres().await else {
        return;
    };
    let url = db.url();
    let dir = tempfile::tempdir().unwrap();
    run(
        vec![
            ("TLSWATCH_DATA_DIR", dir.path().display().to_string()),
            ("TLSWATCH_DATABASE_URL", url.clone()),
        ],
        url,
    )
    .await;
}
