//! Upgrades keep data: a database at the first released schema (only the first migration
//! applied), holding a report and its rollups, is opened by this version: every later
//! migration applies (on PostgreSQL the report tables become partitioned by month and the rows
//! move into the partitions), and the report, its totals, its listing and its raw bytes read
//! back as before.

mod support;

use sqlx::{Connection, Executor};
use tlswatch::domain::days::parse_day;
use tlswatch::store::{ReportFilter, Store};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_database_at_the_first_schema_upgrades_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tlswatch.db");
    let url = format!("sqlite://{}", file.display());
    upgrade("sqlite", &format!("{url}?mode=rwc"), &url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_database_at_the_first_schema_upgrades_with_its_data() {
    let Some(db) = support::postgres().await else {
        return;
    };
    // A second, empty database beside the test's: the first schema only.
    let admin = support::pg_admin_url();
    let name = format!("tlswatch_up_{}", rand::random::<u64>());
    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
    conn.execute(format!("create database {name}").as_str())
        .await
        .unwrap();
    let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
    upgrade("postgres", &url, &url).await;
    conn.execute(format!("drop database {name} with (force)").as_str())
        .await
        .unwrap();
    drop(db);
}

async fn upgrade(kind: &str, first_url: &str, url: &str) {
    sqlx::any::install_default_drivers();
    // The first released schema, applied by sqlx exactly as that release did.
    let first = tempfile::tempdir().unwrap();
    let initial = std::fs::read_dir(format!(
        "{}/../migrations/{kind}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .map(|e| e.unwrap().path())
    .min()
    .unwrap();
    std::fs::copy(&initial, first.path().join(initial.file_name().unwrap())).unwrap();
    let mut conn = sqlx::AnyConnection::connect(first_url).await.unwrap();
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
    // The dedup key as the first release computed it (SHA-256 of organization, report-id and
    // dates): a copy arriving after the upgrade is found by it alone.
    let dedup_key = {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(b"Old Sender\0old-1\0");
        h.update(start.to_be_bytes());
        h.update((start + 86_399).to_be_bytes());
        hex::encode(h.finalize())
    };
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
         values (1, 'Old Sender', 'old-1', null, $1, $2, $3, 'cli', $1, $6, $4, $5, '[]', 1, 90, 10, $7)",
    )
    .bind(start)
    .bind(start + 86_399)
    .bind(day)
    .bind(&raw_gz)
    .bind(json.len() as i64)
    .bind(tlswatch::ingest::sha256_hex(json.as_bytes()))
    .bind(&dedup_key)
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
    sqlx::query(
        "insert into failure_detail (id, policy_id, result_type, sending_mta_ip, receiving_mx_hostname, failed_session_count)
         values (1, 1, 'certificate-expired', '192.0.2.1', 'mx.upgrade.example', 10)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();

    // This version opens it: the later migrations apply on top.
    let store = Store::connect(url, 2).await.unwrap();
    let (applied, known) = store.schema_versions().await.unwrap();
    assert_eq!(applied, Some(known));
    assert!(known > 20261128000001, "there are later migrations to test");
    if kind == "sqlite" {
        // The report table was rebuilt with foreign keys off: every reference still holds,
        // and they are on again.
        let mut check = sqlx::AnyConnection::connect(url).await.unwrap();
        let broken = sqlx::query("pragma foreign_key_check")
            .fetch_all(&mut check)
            .await
            .unwrap();
        assert!(broken.is_empty(), "{} dangling references", broken.len());
        let unique_on_content: i64 = sqlx::query_scalar(
            "select count(*) from pragma_index_list('report') l, pragma_index_info(l.name) i
             where l.\"unique\" and i.name = 'content_hash'",
        )
        .fetch_one(&mut check)
        .await
        .unwrap();
        assert_eq!(unique_on_content, 0, "the report table was rebuilt");
        check.close().await.unwrap();
    }
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
    let listed: Vec<(String, i64, i64)> = store
        .reports(&ReportFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.report_id, r.success, r.failure))
        .collect();
    assert_eq!(listed, vec![("old-1".to_string(), 90, 10)]);
    let mtas = store
        .top_sending_mtas("upgrade.example", day, day, 5)
        .await
        .unwrap();
    assert_eq!(mtas, vec![("192.0.2.1".to_string(), 10, 1)]);
    // New rows go in beside the old ones, and the old report still deduplicates.
    let again = support::import(&store, json.as_bytes(), "again.json").await;
    assert_eq!(
        again.status,
        tlswatch::ingest::Status::Duplicate,
        "{again:?}"
    );
    // A new report takes the next id: the sequences carried on from the old rows.
    let other = support::report_json(
        "New Sender",
        "new-1",
        "upgrade.example",
        "2026-11-21",
        5,
        &[],
    );
    let o = support::import(&store, other.as_bytes(), "new.json").await;
    assert_eq!(o.status, tlswatch::ingest::Status::Imported, "{o:?}");
    assert_eq!(store.report_count().await.unwrap(), 2);
    store.close().await;
}
