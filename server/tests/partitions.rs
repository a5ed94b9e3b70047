//! Months of reports (issue 18): on PostgreSQL the report tables are partitioned by month and
//! retention drops whole months; on both databases reports keep deduplicating, listing and
//! drilling down across months, and a report dated where no report can be is refused and kept.

mod support;

use support::{import, report_json};
use tlswatch::domain::days::parse_day;
use tlswatch::ingest::Status;
use tlswatch::store::{Backend, ReportFilter, Store};

fn day(s: &str) -> i64 {
    parse_day(s).unwrap()
}

async fn months_hold_reports_and_retention_drops_them(store: &Store) {
    let dates = [
        ("a-1", "2025-01-15"),
        ("a-2", "2025-01-31"),
        ("b-1", "2025-02-10"),
        ("c-1", "2026-11-20"),
    ];
    for (id, date) in dates {
        let json = report_json(
            "Sender",
            id,
            "months.example",
            date,
            50,
            &[("certificate-expired", "mx1.months.example", 5)],
        );
        let o = import(store, json.as_bytes(), id).await;
        assert_eq!(o.status, Status::Imported, "{o:?}");
        // The same report again, in the same month: a duplicate, not a second row.
        let again = import(store, json.as_bytes(), id).await;
        assert_eq!(again.status, Status::Duplicate, "{again:?}");
    }
    assert_eq!(store.report_count().await.unwrap(), 4);

    let months: Vec<String> = store
        .report_months()
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect();
    match store.backend() {
        Backend::Postgres => {
            for m in ["202501", "202502", "202611"] {
                assert!(months.contains(&m.to_string()), "{months:?}");
            }
            assert!(!months.contains(&"202503".to_string()), "{months:?}");
        }
        Backend::Sqlite => assert!(months.is_empty()),
    }

    // Listing and drilling down read across months.
    let all = ReportFilter {
        limit: 50,
        ..Default::default()
    };
    let listed: Vec<(String, i64, i64)> = store
        .reports(&all)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.report_id, r.success, r.failure))
        .collect();
    assert_eq!(
        listed,
        vec![
            ("c-1".to_string(), 50, 5),
            ("b-1".to_string(), 50, 5),
            ("a-2".to_string(), 50, 5),
            ("a-1".to_string(), 50, 5),
        ]
    );
    let mtas = store
        .top_sending_mtas("months.example", day("2025-01-01"), day("2025-02-28"), 10)
        .await
        .unwrap();
    assert_eq!(mtas, vec![("192.0.2.1".to_string(), 15, 1)]);
    let seen = store
        .policies_seen("months.example", day("2025-01-01"), day("2026-12-31"))
        .await
        .unwrap();
    assert_eq!(seen.iter().map(|p| p.reports).sum::<i64>(), 4);

    // Retention: everything that ended before March 2025 goes (on PostgreSQL the two months'
    // partitions are dropped whole); the daily totals stay.
    let before = day("2025-03-01") * 86_400;
    assert_eq!(store.prune_reports(before).await.unwrap(), 3);
    assert_eq!(store.report_count().await.unwrap(), 1);
    let months: Vec<String> = store
        .report_months()
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert!(!months.contains(&"202501".to_string()), "{months:?}");
    assert!(!months.contains(&"202502".to_string()), "{months:?}");
    let totals = store
        .domain_totals(day("2025-01-01"), day("2025-02-28"))
        .await
        .unwrap();
    assert_eq!(
        totals
            .iter()
            .map(|t| (t.success, t.failure, t.reports))
            .collect::<Vec<_>>(),
        vec![(150, 15, 3)]
    );
    // A month dropped is made again when a report of it arrives.
    let late = report_json(
        "Late Sender",
        "late-1",
        "months.example",
        "2025-01-20",
        7,
        &[],
    );
    let o = import(store, late.as_bytes(), "late").await;
    assert_eq!(o.status, Status::Imported, "{o:?}");
    assert_eq!(store.report_count().await.unwrap(), 2);
}

async fn reports_dated_where_none_can_be_are_refused_and_kept(store: &Store) {
    let future =
        tlswatch::domain::days::format_day(tlswatch::domain::days::day_of(chrono::Utc::now()) + 62);
    for (id, date) in [("old", "1999-12-31"), ("ahead", future.as_str())] {
        let json = report_json("Sender", id, "dates.example", date, 10, &[]);
        let o = import(store, json.as_bytes(), id).await;
        assert_eq!(o.status, Status::Rejected, "{o:?}");
        let reason = o.reason.unwrap_or_default();
        assert!(reason.contains("outside 2000-01-01 to"), "{reason}");
    }
    assert_eq!(store.report_count().await.unwrap(), 0);
    assert_eq!(store.list_rejected(10).await.unwrap().len(), 2);
    assert!(store.report_months().await.unwrap().len() <= 3);
}

on_both_databases! {
    months => months_hold_reports_and_retention_drops_them;
    dates => reports_dated_where_none_can_be_are_refused_and_kept;
}
