//! Store behaviour on both databases: dedup, the no-double-count rule, rollups equal to a
//! direct computation, quarantine, concurrent writers.

mod support;

use tlswatch::domain::days::parse_day;
use tlswatch::domain::{parse_report, ParseContext};
use tlswatch::ingest::Status;
use tlswatch::service::stats::Stats;
use tlswatch::service::{Actor, Viewer};
use tlswatch::store::Store;

use support::{fixture_bytes, gz, import, prepare, report_json};

on_both_databases! {
    same_bytes_twice_are_stored_once => same_bytes_twice_are_stored_once;
    same_report_id_in_other_bytes_is_stored_once => same_report_id_in_other_bytes_is_stored_once;
    sts_and_tlsa_listing_are_not_double_counted => sts_and_tlsa_listing_are_not_double_counted;
    rollups_equal_a_direct_computation => rollups_equal_a_direct_computation;
    rejected_input_is_quarantined_and_nothing_is_stored => rejected_input_is_quarantined_and_nothing_is_stored;
    concurrent_writers_store_a_report_once => concurrent_writers_store_a_report_once;
    overview_fills_every_day_of_the_range => overview_fills_every_day_of_the_range;
    trends_top_mtas_and_policies_equal_a_direct_computation => trends_top_mtas_and_policies_equal_a_direct_computation;
    one_group_of_inputs_gets_each_its_own_outcome => one_group_of_inputs_gets_each_its_own_outcome;
}

async fn totals(store: &Store, domain: &str) -> (i64, i64, i64) {
    let rows = store.domain_totals(0, 100_000).await.unwrap();
    rows.iter()
        .find(|d| d.domain == domain)
        .map(|d| (d.success, d.failure, d.reports))
        .unwrap_or_default()
}

async fn same_bytes_twice_are_stored_once(store: &Store) {
    let json = report_json(
        "sender.example",
        "r-1",
        "dedup.example",
        "2026-03-01",
        10,
        &[("certificate-expired", "mx1.dedup.example", 2)],
    );
    assert_eq!(
        import(store, json.as_bytes(), "a.json").await.status,
        Status::Imported
    );
    let again = import(store, json.as_bytes(), "b.json").await;
    assert_eq!((again.status, again.duplicates), (Status::Duplicate, 1));
    // The same JSON gzipped is still the same report.
    assert_eq!(
        import(store, &gz(json.as_bytes()), "c.json.gz")
            .await
            .status,
        Status::Duplicate
    );
    assert_eq!(store.report_count().await.unwrap(), 1);
    assert_eq!(totals(store, "dedup.example").await, (10, 2, 1));
}

async fn same_report_id_in_other_bytes_is_stored_once(store: &Store) {
    let a = report_json(
        "sender.example",
        "r-2",
        "dedup2.example",
        "2026-03-02",
        5,
        &[],
    );
    let b = a.replace(",", " , "); // other bytes, same organization + report-id + range
    assert_ne!(a, b);
    assert_eq!(
        import(store, a.as_bytes(), "a.json").await.status,
        Status::Imported
    );
    assert_eq!(
        import(store, b.as_bytes(), "b.json").await.status,
        Status::Duplicate
    );
    assert_eq!(totals(store, "dedup2.example").await, (5, 0, 1));
}

async fn sts_and_tlsa_listing_are_not_double_counted(store: &Store) {
    let out = import(
        store,
        &fixture_bytes("reports/d02-d06-microsoft-sts-and-tlsa.json"),
        "ms.json",
    )
    .await;
    assert_eq!(out.status, Status::Imported);
    assert_eq!(totals(store, "dual.example").await, (40, 2, 1));
    let stats = Stats::new(store.clone());
    let by = Actor::<Viewer>::operator();
    let day = parse_day("2026-05-23").unwrap();
    let o = stats.overview(&by, day, day).await.unwrap();
    assert_eq!((o.series[0].success, o.series[0].failure), (40, 2));
}

async fn rollups_equal_a_direct_computation(store: &Store) {
    // A spread of reports over domains, days and reporters, plus duplicates.
    let mut expected = std::collections::BTreeMap::<(String, String), (i64, i64)>::new();
    let mut seen = std::collections::HashSet::new();
    for i in 0..60u64 {
        let domain = format!("d{}.example", i % 4);
        let day = format!("2026-04-{:02}", 1 + (i % 9));
        let org = format!("org{}.example", i % 3);
        let id = format!("id-{}", i % 50); // ids 0..9 repeat: duplicates
        let fail = if i % 5 == 0 {
            vec![
                ("certificate-expired", "mx1.x", i % 7),
                ("starttls-not-supported", "mx2.x", 1),
            ]
        } else {
            vec![]
        };
        let json = report_json(&org, &id, &domain, &day, 100 + i, &fail);
        let report = parse_report(json.as_bytes(), &ParseContext::default()).unwrap();
        if seen.insert((org.clone(), id.clone(), day.clone())) {
            let e = expected.entry((domain.clone(), day.clone())).or_default();
            e.0 += report.policies[0].success as i64;
            e.1 += report.policies[0].failure as i64;
        }
        import(store, json.as_bytes(), "gen.json").await;
    }
    let stats = Stats::new(store.clone());
    let by = Actor::<Viewer>::operator();
    let to = parse_day("2026-04-09").unwrap();
    let o = stats.overview(&by, to - 8, to).await.unwrap();
    for p in &o.series {
        let want: (i64, i64) = expected
            .iter()
            .filter(|((_, d), _)| *d == p.day)
            .fold((0, 0), |a, (_, v)| (a.0 + v.0, a.1 + v.1));
        assert_eq!((p.success, p.failure), want, "day {}", p.day);
    }
    for d in &o.domains {
        let want: (i64, i64) = expected
            .iter()
            .filter(|((dom, _), _)| *dom == d.name)
            .fold((0, 0), |a, (_, v)| (a.0 + v.0, a.1 + v.1));
        assert_eq!((d.success, d.failure), want, "domain {}", d.name);
    }
}

async fn rejected_input_is_quarantined_and_nothing_is_stored(store: &Store) {
    for name in [
        "reject-negative-count.json",
        "reject-fractional-count.json",
        "reject-count-above-2-53.json",
        "reject-no-date-range.json",
    ] {
        let out = import(store, &fixture_bytes(&format!("reports/{name}")), name).await;
        assert_eq!(out.status, Status::Rejected, "{name}");
        assert!(out.reason.is_some());
    }
    assert_eq!(store.report_count().await.unwrap(), 0);
    assert!(totals(store, "bad.example").await == (0, 0, 0));
    let q = store.list_rejected(10).await.unwrap();
    assert_eq!(q.len(), 4);
    assert!(q.iter().any(|r| r.reason.contains("negative")), "{q:?}");
    assert!(q.iter().any(|r| r.reason.contains("above 2^53")), "{q:?}");
}

async fn concurrent_writers_store_a_report_once(store: &Store) {
    let json = report_json(
        "race.example",
        "race-1",
        "race.example",
        "2026-05-01",
        7,
        &[],
    );
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            let json = json.clone();
            tokio::spawn(async move { import(&store, json.as_bytes(), "race.json").await.status })
        })
        .collect();
    let mut imported = 0;
    for t in tasks {
        if t.await.unwrap() == Status::Imported {
            imported += 1;
        }
    }
    assert_eq!(imported, 1);
    assert_eq!(totals(store, "race.example").await, (7, 0, 1));
}

async fn overview_fills_every_day_of_the_range(store: &Store) {
    import(
        store,
        report_json("o.example", "x", "fill.example", "2026-04-03", 9, &[]).as_bytes(),
        "x.json",
    )
    .await;
    let stats = Stats::new(store.clone());
    let by = Actor::<Viewer>::operator();
    let o = stats
        .overview(
            &by,
            parse_day("2026-04-01").unwrap(),
            parse_day("2026-04-07").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        (o.from.as_str(), o.to.as_str(), o.series.len()),
        ("2026-04-01", "2026-04-07", 7)
    );
    assert_eq!(
        o.series.iter().map(|p| p.success).collect::<Vec<_>>(),
        vec![0, 0, 9, 0, 0, 0, 0]
    );
    assert_eq!(o.domains.len(), 1);
}

async fn trends_top_mtas_and_policies_equal_a_direct_computation(store: &Store) {
    use std::collections::BTreeMap;
    use tlswatch::domain::counting::counted_policies;
    let mut inputs: Vec<String> = Vec::new();
    for i in 0..30u64 {
        let day = format!("2026-06-{:02}", 1 + i % 20);
        let mode = if i < 15 { "testing" } else { "enforce" };
        let json = report_json(
            &format!("org{}.example", i % 4),
            &format!("t{}", i % 25),
            "trend.example",
            &day,
            50 + i,
            &[
                ("certificate-expired", "mx1.trend.example", i % 5),
                ("starttls-not-supported", "mx2.trend.example", i % 3),
            ],
        )
        .replacen("192.0.2.1", &format!("198.51.100.{}", i % 7), 1)
        .replace("mode: testing", &format!("mode: {mode}"));
        inputs.push(json);
    }
    inputs.push(
        String::from_utf8(fixture_bytes("reports/d02-d06-microsoft-sts-and-tlsa.json"))
            .unwrap()
            .replace("dual.example", "trend.example"),
    );
    let mut seen = std::collections::HashSet::new();
    let mut by_ip: BTreeMap<String, i64> = BTreeMap::new();
    let mut by_day: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    // (mode, mx patterns) -> (first day, last day, reports)
    type PolicyKey = (Option<String>, Vec<String>);
    let mut modes: BTreeMap<PolicyKey, (i64, i64, i64)> = BTreeMap::new();
    for input in &inputs {
        import(store, input.as_bytes(), "t.json").await;
        let r = parse_report(input.as_bytes(), &ParseContext::default()).unwrap();
        if !seen.insert((r.organization_name.clone(), r.report_id.clone(), r.start)) {
            continue;
        }
        let day = tlswatch::domain::days::day_of(r.start);
        for (p, counted) in r.policies.iter().zip(counted_policies(&r)) {
            let mode = p
                .policy_strings
                .iter()
                .find_map(|s| s.strip_prefix("mode:").map(|m| m.trim().to_string()));
            if p.policy_type == "sts" {
                let mut mx = p.mx_hosts.clone();
                mx.sort();
                mx.dedup();
                let e = modes.entry((mode, mx)).or_insert((i64::MAX, i64::MIN, 0));
                e.0 = e.0.min(day);
                e.1 = e.1.max(day);
                e.2 += 1;
            }
            if !counted {
                continue;
            }
            let d = by_day.entry(day).or_default();
            d.0 += p.success as i64;
            d.1 += p.failure as i64;
            for f in &p.failures {
                *by_ip
                    .entry(f.sending_mta_ip.clone().unwrap_or_default())
                    .or_default() += f.failed_session_count as i64;
            }
        }
    }
    let from = *by_day.keys().next().unwrap();
    let to = *by_day.keys().last().unwrap();
    // Top sending MTAs: counted policies only, duplicates once.
    let top = store
        .top_sending_mtas("trend.example", from, to, 100)
        .await
        .unwrap();
    let got: BTreeMap<String, i64> = top
        .iter()
        .filter(|t| t.1 > 0)
        .map(|t| (t.0.clone(), t.1))
        .collect();
    let want: BTreeMap<String, i64> = by_ip.into_iter().filter(|(_, n)| *n > 0).collect();
    assert_eq!(got, want);
    assert!(
        top.windows(2).all(|w| w[0].1 >= w[1].1),
        "most failures first"
    );
    // Policies seen: the testing and enforce sts policies with their first and last days.
    let seen = store
        .policies_seen("trend.example", from, to)
        .await
        .unwrap();
    for ((mode, mx), (first, last, n)) in &modes {
        let p = seen
            .iter()
            .find(|p| p.policy_type == "sts" && &p.mode == mode && &p.mx == mx)
            .unwrap_or_else(|| panic!("{mode:?} {mx:?} missing: {seen:?}"));
        assert_eq!(
            (p.first_day, p.last_day, p.reports),
            (*first, *last, *n),
            "{mode:?} {mx:?}"
        );
    }
    assert!(
        seen.iter().any(|p| p.mode.as_deref() == Some("testing"))
            && seen.iter().any(|p| p.mode.as_deref() == Some("enforce"))
    );
    assert!(seen.iter().any(|p| p.policy_type == "tlsa"), "{seen:?}");
    // The overview's custom range and sparkline equal the per-day computation.
    let stats = Stats::new(store.clone());
    let by = Actor::<Viewer>::operator();
    let o = stats.overview(&by, from, to).await.unwrap();
    let d = o
        .domains
        .iter()
        .find(|d| d.name == "trend.example")
        .unwrap();
    let (s, f) = by_day.values().fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    assert_eq!((d.success, d.failure), (s, f));
    let trends = stats.trends(&by, from, to).await.unwrap();
    let spark = &trends.iter().find(|t| t.0 == "trend.example").unwrap().1;
    assert!(spark.len() <= 60);
    let sum = spark.iter().fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    assert_eq!(sum, (s, f), "the sparkline buckets add up to the totals");
    assert_eq!(o.series.len() as i64, to - from + 1);
    assert!(d.health.is_none() && d.mode.is_none(), "no check has run");
    assert_eq!(d.alerts, 0);
}

/// Several inputs committed together (as the receiver's group commit and the importer do):
/// reports are written in the order of their identity, which is not the inputs' order, and
/// each input still gets the outcome of its own reports.
async fn one_group_of_inputs_gets_each_its_own_outcome(store: &Store) {
    let first = report_json("s.example", "g-1", "group.example", "2026-03-01", 7, &[]);
    assert_eq!(
        import(store, first.as_bytes(), "first.json").await.status,
        Status::Imported
    );
    // Ids chosen so that the sorted order differs from the inputs' order.
    let mut inputs = Vec::new();
    let mut expected = Vec::new();
    for (i, id) in ["z-9", "a-1", "m-5", "g-1", "c-3", "x-7", "b-2"]
        .iter()
        .enumerate()
    {
        let name = format!("input-{i}.json");
        let json = report_json(
            "s.example",
            id,
            "group.example",
            "2026-03-01",
            100 + i as u64,
            &[],
        );
        inputs.push(prepare(json.as_bytes(), &name));
        expected.push((
            name,
            if *id == "g-1" {
                Status::Duplicate
            } else {
                Status::Imported
            },
        ));
    }
    // And a broken input in the middle.
    inputs.insert(3, prepare(b"{not json", "broken.json"));
    expected.insert(3, ("broken.json".to_owned(), Status::Rejected));
    let outcomes =
        tlswatch::ingest::commit(store, inputs, tlswatch::store::DomainPolicy::AutoRegister)
            .await
            .unwrap();
    let got: Vec<(String, Status)> = outcomes
        .iter()
        .map(|o| (o.path.clone(), o.status))
        .collect();
    assert_eq!(got, expected);
    // Each stored report counts its own sessions: 7 from the first import, 100+i from the rest
    // except the duplicate (index 3 of the ids, "g-1").
    let success: i64 = 7 + [0, 1, 2, 4, 5, 6].iter().map(|i| 100 + i).sum::<i64>();
    assert_eq!(totals(store, "group.example").await, (success, 0, 7));
}

/// SQLite's write-ahead log is copied into the database file in the background and starts
/// again from the beginning while a writer keeps committing: the log file stays under the
/// writer's own checkpoint threshold (10,000 pages, about 41 MB), which it reaches without the
/// background checkpointer (about 25,000 pages are written here; with it the log peaked at
/// ~4,500), and far under what was written (an earlier checkpointer that never finished let it
/// grow until the disk was full).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_write_ahead_log_stays_bounded_under_continuous_writes() {
    let db = support::sqlite().await;
    let store = &db.store;
    let wal = db.sqlite_path().with_extension("db-wal");
    let mut most = 0u64;
    for batch in 0..200 {
        let inputs = (0..32)
            .map(|i| {
                let json = report_json(
                    "wal.example",
                    &format!("wal-{batch}-{i}"),
                    &format!("d{}.example", i % 7),
                    "2026-03-01",
                    10 + i,
                    &[("validation-failure", "mx.example", 1)],
                );
                prepare(json.as_bytes(), "wal.json")
            })
            .collect();
        let outcomes =
            tlswatch::ingest::commit(store, inputs, tlswatch::store::DomainPolicy::AutoRegister)
                .await
                .unwrap();
        assert!(outcomes.iter().all(|o| o.status == Status::Imported));
        most = most.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
    }
    assert_eq!(store.report_count().await.unwrap(), 6_400);
    let frame = 4096 + 24;
    assert!(
        most < 9_000 * frame,
        "the write-ahead log reached {most} bytes ({} frames)",
        most / frame
    );
}

/// The SQLite writer connection stays with the store between transactions, so a store whose
/// last handle is dropped after its runtime ended still holds it: it is closed then, without a
/// runtime (sqlx returns pooled connections through a task, which would panic), and what was
/// written is there when the database is opened again.
#[test]
fn a_store_dropped_after_its_runtime_keeps_what_it_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let db = runtime.block_on(async {
        let db = support::sqlite_in(dir.path()).await;
        let json = report_json(
            "late.example",
            "late-1",
            "late.example",
            "2026-03-01",
            5,
            &[],
        );
        let o = import(&db.store, json.as_bytes(), "late.json").await;
        assert_eq!(o.status, Status::Imported);
        db
    });
    drop(runtime);
    drop(db);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let db = support::sqlite_in(dir.path()).await;
        assert_eq!(db.store.report_count().await.unwrap(), 1);
    });
}

/// Another connection to a SQLite test database (outside the store).
async fn other_connection(db: &support::TestDb) -> sqlx::SqliteConnection {
    use sqlx::Connection as _;
    sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.sqlite_path().display()))
        .await
        .unwrap()
}

/// A SQLite test database holding one report (10 successful sessions for `domain` on
/// 2026-03-01, report-id `id`).
async fn sqlite_with_one_report(id: &str, domain: &str) -> support::TestDb {
    let db = support::sqlite().await;
    let json = report_json("s.example", id, domain, "2026-03-01", 10, &[]);
    assert_eq!(
        import(&db.store, json.as_bytes(), "first.json")
            .await
            .status,
        Status::Imported
    );
    db
}

/// The SQLite writer keeps its connection between transactions. A statement that fails inside
/// a batch's transaction (here a trigger refuses one day's rollup) leaves nothing of the batch,
/// and the connection takes the next batch: the transaction was rolled back, not left open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_failing_inside_its_transaction_leaves_nothing_on_sqlite() {
    use sqlx::Executor as _;
    let db = sqlite_with_one_report("f-1", "fail.example").await;
    let store = &db.store;
    let mut other = other_connection(&db).await;
    other
        .execute(
            "create trigger refuse before insert on daily_total when new.success = 4242
             begin select raise(abort, 'refused by the test'); end",
        )
        .await
        .unwrap();
    let batch = |reports: &[(&str, u64)]| {
        reports
            .iter()
            .map(|(id, success)| {
                let json = report_json(
                    "s.example",
                    id,
                    "fail.example",
                    "2026-03-02",
                    *success,
                    &[("validation-failure", "mx.fail.example", 1)],
                );
                prepare(json.as_bytes(), &format!("{id}.json"))
            })
            .collect::<Vec<_>>()
    };
    let policy = tlswatch::store::DomainPolicy::AutoRegister;
    let failed = tlswatch::ingest::commit(store, batch(&[("f-2", 4_242)]), policy).await;
    assert!(failed.is_err(), "the trigger refused the batch");
    assert_eq!(store.report_count().await.unwrap(), 1);
    assert_eq!(totals(store, "fail.example").await, (10, 0, 1));
    // The writer's next batch is stored whole (the day's sum is 8,121: not refused).
    let outcomes =
        tlswatch::ingest::commit(store, batch(&[("f-3", 4_000), ("f-4", 4_121)]), policy)
            .await
            .unwrap();
    assert!(outcomes.iter().all(|o| o.status == Status::Imported));
    assert_eq!(store.report_count().await.unwrap(), 3);
    assert_eq!(
        totals(store, "fail.example").await,
        (10 + 4_000 + 4_121, 2, 3)
    );
}

/// A write whose caller gives up while its `BEGIN IMMEDIATE` waits for another process's write
/// (its future dropped) is not committed later, and does not leave its transaction open on the
/// writer's connection, which the next write uses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_given_up_while_waiting_for_the_lock_blocks_nothing_on_sqlite() {
    use sqlx::Executor as _;
    let db = sqlite_with_one_report("c-1", "cancel.example").await;
    let store = &db.store;
    let mut other = other_connection(&db).await;
    other.execute("BEGIN IMMEDIATE").await.unwrap();
    let json = report_json("s.example", "c-2", "cancel.example", "2026-03-01", 20, &[]);
    let given_up = tokio::time::timeout(
        std::time::Duration::from_millis(300),
        tlswatch::ingest::commit(
            store,
            vec![prepare(json.as_bytes(), "c-2.json")],
            tlswatch::store::DomainPolicy::AutoRegister,
        ),
    )
    .await;
    assert!(given_up.is_err(), "the write waited for the other's lock");
    other.execute("ROLLBACK").await.unwrap();
    let json = report_json("s.example", "c-3", "cancel.example", "2026-03-01", 30, &[]);
    let o = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        import(store, json.as_bytes(), "c-3.json"),
    )
    .await
    .expect("the next write does not wait for the one given up");
    assert_eq!(o.status, Status::Imported);
    assert_eq!(store.report_count().await.unwrap(), 2);
    assert_eq!(totals(store, "cancel.example").await, (40, 0, 2));
}
