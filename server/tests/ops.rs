//! Keeping the data: `tlswatch backup` of a database in use restored into a new data
//! directory gives the same totals; `restore` refuses what is not a tlswatch database and never
//! replaces a database silently; retention deletes old reports but keeps the daily totals, and
//! refuses to import reports older than the period; `doctor` says what is wrong.

mod support;

use support::{import, report_json, tlswatch_cmd};
use tlswatch::domain::days::{day_of, format_day};
use tlswatch::store::Store;

fn day(offset: i64) -> String {
    format_day(day_of(chrono::Utc::now()) + offset)
}

async fn open(dir: &std::path::Path) -> Store {
    Store::connect(
        &format!("sqlite://{}", dir.join("tlswatch.db").display()),
        4,
    )
    .await
    .unwrap()
}

/// `(domain, success, failure, reports)` over the last ten years.
async fn totals(store: &Store) -> Vec<(String, i64, i64, i64)> {
    let today = day_of(chrono::Utc::now());
    store
        .domain_totals(today - 3650, today)
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.domain, t.success, t.failure, t.reports))
        .collect()
}

fn run(cmd: &mut std::process::Command) -> (i32, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_of_a_database_in_use_restores_to_the_same_totals() {
    let live = tempfile::tempdir().unwrap();
    let store = open(live.path()).await;
    for i in 0..20 {
        let json = report_json(
            &format!("Sender {}", i % 4),
            &format!("b-{i}"),
            if i % 2 == 0 { "a.example" } else { "b.example" },
            &day(-(i as i64)),
            100 + i,
            &[("certificate-expired", "mx.a.example", i % 3)],
        );
        import(&store, json.as_bytes(), &format!("r{i}.json")).await;
    }
    let before = totals(&store).await;
    assert_eq!(before.len(), 2);
    // The store stays open, in WAL mode, with a read in progress while the backup runs.
    let mut reader = store.clone();
    let backup = live.path().join("backup.db");
    let (code, out) = run(tlswatch_cmd(live.path()).arg("backup").arg(&backup));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("backup written"), "{out}");
    // Writes after the backup are not in it.
    import(
        &reader,
        report_json("Late", "late", "a.example", &day(0), 7, &[]).as_bytes(),
        "late.json",
    )
    .await;
    reader = store.clone();
    assert_ne!(totals(&reader).await, before);

    let fresh = tempfile::tempdir().unwrap();
    let (code, out) = run(tlswatch_cmd(fresh.path()).arg("restore").arg(&backup));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("20 reports, 2 domains"), "{out}");
    let restored = open(fresh.path()).await;
    assert_eq!(totals(&restored).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_refuses_foreign_files_and_keeps_the_replaced_database() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, b"this is not a database").unwrap();
    let target = tempfile::tempdir().unwrap();
    let (code, out) = run(tlswatch_cmd(target.path()).arg("restore").arg(&junk));
    assert_ne!(code, 0);
    assert!(out.contains("is not a tlswatch database"), "{out}");
    assert!(!target.path().join("tlswatch.db").exists());

    // A real backup over an existing database: only with --force, the old one kept.
    let source = tempfile::tempdir().unwrap();
    let store = open(source.path()).await;
    import(
        &store,
        report_json("S", "r", "c.example", &day(-1), 5, &[]).as_bytes(),
        "r.json",
    )
    .await;
    let backup = source.path().join("b.db");
    assert_eq!(
        run(tlswatch_cmd(source.path()).arg("backup").arg(&backup)).0,
        0
    );
    open(target.path()).await.close().await;
    let (code, out) = run(tlswatch_cmd(target.path()).arg("restore").arg(&backup));
    assert_ne!(code, 0);
    assert!(out.contains("--force"), "{out}");
    let (code, out) = run(tlswatch_cmd(target.path())
        .arg("restore")
        .arg("--force")
        .arg(&backup));
    assert_eq!(code, 0, "{out}");
    assert!(target.path().join("tlswatch.db.before-restore").exists());
    assert_eq!(totals(&open(target.path()).await).await.len(), 1);
    // PostgreSQL databases are not copied by tlswatch: the answer names pg_dump.
    if let Some(pg) = support::postgres().await {
        let e = pg
            .store
            .backup_to(&dir.path().join("pg.db"))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("pg_dump"), "{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_old_reports_but_keeps_the_daily_totals() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    for (id, offset) in [("old", -400), ("older", -500), ("recent", -3)] {
        import(
            &store,
            report_json(
                "S",
                id,
                "r.example",
                &day(offset),
                10,
                &[("starttls-not-supported", "mx.r.example", 2)],
            )
            .as_bytes(),
            &format!("{id}.json"),
        )
        .await;
    }
    let before = totals(&store).await;
    assert_eq!(before, vec![("r.example".to_owned(), 30, 6, 3)]);
    let cutoff = tlswatch::ingest::now_unix() - 30 * 86_400;
    assert_eq!(store.prune_reports(cutoff).await.unwrap(), 2);
    assert_eq!(store.prune_reports(cutoff).await.unwrap(), 0, "idempotent");
    assert_eq!(totals(&store).await, before, "the rollups are kept");
    let (reports, _) = store.totals_for_restore().await.unwrap();
    assert_eq!(reports, 1);

    // With a retention period, a re-delivered old report is refused (it would count twice).
    let old = dir.path().join("old-again.json");
    std::fs::write(
        &old,
        report_json("S", "old", "r.example", &day(-400), 10, &[]),
    )
    .unwrap();
    let (code, out) = run(tlswatch_cmd(dir.path())
        .env("TLSWATCH_RETENTION_DAYS", "30")
        .args(["import", "--format", "json"])
        .arg(&old));
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("retention period (30 days)"), "{out}");
    assert_eq!(totals(&store).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_says_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let (_, out) = run(tlswatch_cmd(dir.path()).arg("doctor"));
    assert!(out.contains("ok    database"), "{out}");
    assert!(out.contains("ok    schema: version"), "{out}");
    assert!(out.contains("ok    secret key"), "{out}");
    let (code, out) = run(tlswatch_cmd(dir.path())
        .env(
            "TLSWATCH_DATABASE_URL",
            "postgres://nobody@127.0.0.1:1/none",
        )
        .arg("doctor"));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAIL  database"), "{out}");
    assert!(out.contains("fix: check TLSWATCH_DATABASE_URL"), "{out}");
}
