//! No "database is locked" (issue 12, item 4): CLI imports and token creation run against a
//! live server on the same SQLite file while it ingests over HTTPS and evaluates alerts every
//! second. Every command succeeds, no log line mentions a locked database, and the totals are
//! exact. (PostgreSQL has no such lock; its writers are covered by the instances test.)

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::report_json;

fn tlswatch(data: &Path) -> Command {
    support::tlswatch_cmd(data)
}

fn run(mut cmd: Command) -> std::process::Output {
    cmd.stdin(Stdio::null()).output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_writes_beside_a_busy_server_never_meet_a_locked_database() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut add = tlswatch(&data);
    add.args(["domain", "add", "busy.example"]);
    assert!(run(add).status.success());
    let log = dir.path().join("serve.log");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = tlswatch(&data)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--receiver-rate-per-minute",
            "1000000",
        ])
        .env("TLSWATCH_ALERT_INTERVAL_SECONDS", "1")
        .env("TLSWATCH_ALERT_GROUP_WAIT_SECONDS", "0")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let mut up = false;
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "server did not start");

    const HTTP_REPORTS: usize = 300;
    const CLI_ROUNDS: usize = 6;
    const PER_ROUND: usize = 40;
    let sender = tokio::spawn({
        let base = base.clone();
        async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap();
            let mut failures = Vec::new();
            for i in 0..HTTP_REPORTS {
                let body = report_json(
                    "h.example",
                    &format!("h{i}"),
                    "busy.example",
                    "2026-03-01",
                    2,
                    &[("certificate-expired", "mx.busy.example", 1)],
                );
                let r = client
                    .post(format!("{base}/tlsrpt"))
                    .header("content-type", "application/tlsrpt+json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                if r.status() != 200 {
                    failures.push(format!(
                        "{}: {}",
                        r.status(),
                        r.text().await.unwrap_or_default()
                    ));
                }
            }
            failures
        }
    });
    let cli = tokio::task::spawn_blocking({
        let data = data.clone();
        let dir = dir.path().to_owned();
        move || {
            let mut problems = Vec::new();
            for round in 0..CLI_ROUNDS {
                let batch = dir.join(format!("batch{round}"));
                std::fs::create_dir_all(&batch).unwrap();
                for i in 0..PER_ROUND {
                    std::fs::write(
                        batch.join(format!("r{i}.json")),
                        report_json(
                            "c.example",
                            &format!("c{round}-{i}"),
                            "busy.example",
                            "2026-03-02",
                            3,
                            &[],
                        ),
                    )
                    .unwrap();
                }
                let mut import = tlswatch(&data);
                import.args(["import", "--format", "json"]).arg(&batch);
                let out = run(import);
                if !out.status.success() {
                    problems.push(format!("import: {}", String::from_utf8_lossy(&out.stderr)));
                }
                let mut token = tlswatch(&data);
                token.args([
                    "token",
                    "create",
                    "--name",
                    &format!("t{round}"),
                    "--role",
                    "viewer",
                ]);
                let out = run(token);
                if !out.status.success() {
                    problems.push(format!("token: {}", String::from_utf8_lossy(&out.stderr)));
                }
            }
            problems
        }
    });
    let http_failures = sender.await.unwrap();
    let cli_problems = cli.await.unwrap();
    let _ = server.kill();
    let _ = server.wait();
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(http_failures.is_empty(), "{http_failures:?}");
    assert!(cli_problems.is_empty(), "{cli_problems:?}");
    assert!(
        !log.to_ascii_lowercase().contains("locked"),
        "the server log mentions a locked database:\n{log}"
    );
    let store = tlswatch::store::Store::connect(
        &format!("sqlite://{}", data.join("tlswatch.db").display()),
        2,
    )
    .await
    .unwrap();
    assert_eq!(
        store.report_count().await.unwrap() as usize,
        HTTP_REPORTS + CLI_ROUNDS * PER_ROUND
    );
    let totals = store.domain_totals(0, 100_000).await.unwrap();
    assert_eq!(
        (totals[0].success, totals[0].failure),
        (
            (HTTP_REPORTS * 2 + CLI_ROUNDS * PER_ROUND * 3) as i64,
            HTTP_REPORTS as i64
        )
    );
    assert_eq!(store.tokens().await.unwrap().len(), CLI_ROUNDS);
}
