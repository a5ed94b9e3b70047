//! Upgrades keep data: a database at the first released schema (only the first migration
//! applied), holding a report and its rollups, is opened by this version: every later
//! migration applies, and the report, its totals and its raw bytes read back as before.

mod support;

use sqlx::Connection;
use tlswatch::domain::days::parse_day;
use tlswatch::store::Store;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_at_the_first_schema_upgrades_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tlswatch.db");
    // The first released schema, applied by sqlx exactly as that release did.
    let first = tempfile::tempdir().unwrap();
    let initial = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations/sqlite"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .min()
        .unwrap();
    std::fs::copy(&initial, first.path().join(initial.file_name().unwrap())).unwrap();
    let url = format!("sqlite://{}?mode=rwc", file.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::migrate::Migrator::new(first.path())
        .await
        .unwrap()
        .run(&mut conn)
        .await
        .unwrap();
    // Data as that release wrote it.
    let json = support::report_json(
        "Old Sender",
        "old-1",
        "upgrade.example",
        "2026-11-20",
        90,
        &[("certificate-expired", "mx.upgrade.example", 10)],
    );
    let raw_gz = support::gz(json.as_bytes());
    let day = parse_day("2026-11-20").unwrap();
    let start = day * 86_400;
    for sql in [
        "insert into domain (id, name, created_at, origin) values (1, 'upgrade.example', 0, 'manual')".to_owned(),
        format!("insert into daily_domain (domain_id, day, success, failure, reports) values (1, {day}, 90, 10, 1)"),
        format!("insert into daily_reporter (domain_id, day, org_name, success, failure, reports) values (1, {day}, 'Old Sender', 90, 10, 1)"),
        format!("insert into daily_mx (domain_id, day, mx, failure) values (1, {day}, 'mx.upgrade.example', 10)"),
        format!("insert into daily_result (domain_id, day, result_type, failure) values (1, {day}, 'certificate-expired', 10)"),
    ] {
        sqlx::query(&sql).execute(&mut conn).await.unwrap();
    }
    sqlx::query(
        "insert into report (id, org_name, report_id, contact_info, start_time, end_time, start_day, channel, received_at, content_hash, raw_gz, raw_size, warnings, policy_count, success_count, failure_count, dedup_key)
         values (1, 'Old Sender', 'old-1', null, $1, $2, $3, 'cli', $1, $6, $4, $5, '[]', 1, 90, 10, 'dedup-1')",
    )
    .bind(start)
    .bind(start + 86_399)
    .bind(day)
    .bind(&raw_gz)
    .bind(json.len() as i64)
    .bind(tlswatch::ingest::sha256_hex(json.as_bytes()))
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::query(
        "insert into report_policy (id, report_id, position, policy_type, policy_domain, domain_id, policy_strings, mx_patterns, success_count, failure_count, counted)
         values (1, 1, 0, 'sts', 'upgrade.example', 1, '[]', '[\"*.upgrade.example\"]', 90, 10, 1)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();

    // This version opens it: the later migrations apply on top.
    let store = Store::connect(&format!("sqlite://{}", file.display()), 2)
        .await
        .unwrap();
    let (applied, known) = store.schema_versions().await.unwrap();
    assert_eq!(applied, Some(known));
    assert!(known > 20261128000001, "there are later migrations to test");
    let totals = store.domain_totals(day, day).await.unwrap();
    assert_eq!(
        totals
            .iter()
            .map(|t| (t.domain.as_str(), t.success, t.failure, t.reports))
            .collect::<Vec<_>>(),
        vec![("upgrade.example", 90, 10, 1)]
    );
    let (raw, _) = store.report_raw(1).await.unwrap().unwrap();
    assert_eq!(raw, raw_gz);
    // New rows go in beside the old ones, and the old report still deduplicates.
    let again = support::import(&store, json.as_bytes(), "again.json").await;
    assert_eq!(
        again.status,
        tlswatch::ingest::Status::Duplicate,
        "{again:?}"
    );
}
