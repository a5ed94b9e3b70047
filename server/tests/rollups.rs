//! The weekly and instance-wide rollups (issue 18) agree with the reports: for ranges that
//! start and end anywhere in a week, shorter and longer than the sparkline's 60 days, the
//! overview's totals, its daily series and the sparklines equal sums computed from the inputs;
//! so do the all-time totals `/metrics` exports.

mod support;

use std::collections::BTreeMap;

use support::{import, prepare, report_json};
use tlswatch::domain::days::{format_day, parse_day};
use tlswatch::service::stats::Stats;
use tlswatch::service::{Actor, Viewer};
use tlswatch::store::{ReportFilter, Store};

async fn long_and_short_ranges_equal_the_inputs(store: &Store) {
    let first = parse_day("2026-03-02").unwrap();
    // (domain, day) -> (success, failure)
    let mut want: BTreeMap<(String, i64), (i64, i64)> = BTreeMap::new();
    let mut group = Vec::new();
    for i in 0..150i64 {
        for (k, domain) in ["a.rollup.example", "b.rollup.example"].iter().enumerate() {
            if (i + k as i64) % 5 == 3 {
                continue; // days without a report
            }
            let day = first + i;
            let (ok, fail) = (10 + (i * 7 + k as i64) % 13, (i + k as i64) % 4);
            let json = report_json(
                &format!("Sender {}", i % 3),
                &format!("r-{i}-{k}"),
                domain,
                &format_day(day),
                ok as u64,
                &[("certificate-expired", &format!("mx.{domain}"), fail as u64)],
            );
            // Groups of inputs, as the receiver and the importer commit them: a group holds
            // several days of both domains.
            group.push(prepare(json.as_bytes(), "r.json"));
            if group.len() == 9 {
                commit(store, &mut group).await;
            }
            want.insert((domain.to_string(), day), (ok, fail));
        }
    }
    commit(store, &mut group).await;
    // All-time totals: every input of a domain, and its failures per MX and result type.
    let totals = store.metric_totals().await.unwrap();
    let got: Vec<(String, i64, i64, i64)> = totals.domains.clone();
    let mut all: BTreeMap<String, (i64, i64, i64)> = BTreeMap::new();
    for ((d, _), (ok, fail)) in &want {
        let e = all.entry(d.clone()).or_default();
        *e = (e.0 + ok, e.1 + fail, e.2 + 1);
    }
    let all_vec: Vec<(String, i64, i64, i64)> = all
        .iter()
        .map(|(d, v)| (d.clone(), v.0, v.1, v.2))
        .collect();
    assert_eq!(got, all_vec, "all-time totals per domain");
    let failing = |v: &[(String, String, i64)]| -> Vec<(String, String, i64)> {
        v.iter().filter(|x| x.2 != 0).cloned().collect()
    };
    let mx: Vec<(String, String, i64)> = all
        .iter()
        .map(|(d, v)| (d.clone(), format!("mx.{d}"), v.1))
        .collect();
    assert_eq!(
        failing(&totals.mx),
        failing(&mx),
        "all-time failures per MX"
    );
    let result: Vec<(String, String, i64)> = all
        .iter()
        .map(|(d, v)| (d.clone(), "certificate-expired".to_string(), v.1))
        .collect();
    assert_eq!(
        failing(&totals.result_types),
        failing(&result),
        "all-time failures per result type"
    );
    let stats = Stats::new(store.clone());
    let by = Actor::<Viewer>::operator();
    for (from, to) in [
        (first, first + 149),
        (first + 3, first + 96),
        (first + 1, first + 61),
        (first + 5, first + 64),
        (first + 10, first + 16),
        (first + 12, first + 12),
        (first - 20, first + 200),
        // More than 60 weeks: two weeks per sparkline point.
        (first - 400, first + 149),
    ] {
        let sum = |domain: Option<&str>| {
            want.iter()
                .filter(|((d, day), _)| (from..=to).contains(day) && domain.is_none_or(|x| x == d))
                .fold((0, 0), |a, (_, v)| (a.0 + v.0, a.1 + v.1))
        };
        let o = stats.overview(&by, from, to).await.unwrap();
        for d in &o.domains {
            assert_eq!(
                (d.success, d.failure),
                sum(Some(&d.name)),
                "{} {}..={}",
                d.name,
                format_day(from),
                format_day(to)
            );
        }
        let series: (i64, i64) = o
            .series
            .iter()
            .fold((0, 0), |a, p| (a.0 + p.success, a.1 + p.failure));
        assert_eq!(series, sum(None), "the daily series {from}..={to}");
        assert_eq!(o.series.len() as i64, to - from + 1);
        for day in [from, to, (from + to) / 2] {
            let p = &o.series[(day - from) as usize];
            let want_day = want
                .iter()
                .filter(|((_, d), _)| *d == day)
                .fold((0, 0), |a, (_, v)| (a.0 + v.0, a.1 + v.1));
            assert_eq!((p.success, p.failure), want_day, "day {}", format_day(day));
        }
        let trends = stats.trends(&by, from, to).await.unwrap();
        for (name, spark) in &trends {
            assert!(spark.len() <= 60, "{} points", spark.len());
            let total = spark.iter().fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
            assert_eq!(total, sum(Some(name)), "sparkline of {name} {from}..={to}");
            if to - from < 60 {
                // A point a day: each in its place.
                for (i, point) in spark.iter().enumerate() {
                    let day = from + i as i64;
                    let want_point = want
                        .get(&(name.clone(), day))
                        .map_or((0, 0), |v| (v.0, v.1));
                    assert_eq!(*point, want_point, "{name} on {}", format_day(day));
                }
            }
        }
    }
}

async fn commit(store: &Store, group: &mut Vec<tlswatch::ingest::Prepared>) {
    let out = tlswatch::ingest::commit(
        store,
        std::mem::take(group),
        tlswatch::store::DomainPolicy::AutoRegister,
    )
    .await
    .unwrap();
    for o in out {
        assert_eq!(o.status, tlswatch::ingest::Status::Imported, "{o:?}");
    }
}

/// The report list, for all domains and for one, is the newest first whatever the limit:
/// the same rows as sorting every report by day, start and id.
async fn the_report_list_is_the_newest_first_at_any_limit(store: &Store) {
    let first = parse_day("2026-09-01").unwrap();
    let mut stored: Vec<(i64, String, String)> = Vec::new(); // (day, report id, domain)
    for i in 0..40i64 {
        let day = first + (i * 7) % 13;
        let domain = if i % 3 == 0 {
            "b.list.example"
        } else {
            "a.list.example"
        };
        let id = format!("l-{i}");
        let json = report_json(
            &format!("Sender {}", i % 4),
            &id,
            domain,
            &format_day(day),
            5,
            &[],
        );
        let o = import(store, json.as_bytes(), "l.json").await;
        assert_eq!(o.status, tlswatch::ingest::Status::Imported, "{o:?}");
        stored.push((day, id, domain.to_string()));
    }
    // Newest day first; the same day: the later stored (higher id) first.
    let order = |domain: Option<&str>, reporter: Option<&str>| -> Vec<String> {
        let mut v: Vec<(i64, usize, String)> = stored
            .iter()
            .enumerate()
            .filter(|(_, (_, _, d))| domain.is_none_or(|x| x == d))
            .filter(|(i, _)| reporter.is_none_or(|r| r == format!("Sender {}", i % 4)))
            .map(|(i, (day, id, _))| (*day, i, id.clone()))
            .collect();
        v.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
        v.into_iter().map(|x| x.2).collect()
    };
    for limit in [1, 3, 7, 26, 100] {
        for (domain, reporter) in [
            (None, None),
            (Some("a.list.example"), None),
            (Some("b.list.example"), None),
            (Some("a.list.example"), Some("Sender 1")),
        ] {
            let got: Vec<String> = store
                .reports(&ReportFilter {
                    domain: domain.map(str::to_string),
                    reporter: reporter.map(str::to_string),
                    limit,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.report_id)
                .collect();
            let mut want = order(domain, reporter);
            want.truncate(limit as usize);
            assert_eq!(got, want, "{domain:?} {reporter:?} limit {limit}");
        }
    }
}

/// `/metrics` counts check runs from a totals row per severity, kept by a trigger: it equals
/// the runs stored, including those made before the totals table existed (the migration).
async fn check_runs_are_counted_for_metrics(store: &Store) {
    use app::health::{Finding, Severity};
    use tlswatch::check::{Outcome, Snapshot};
    let run = |severity: Option<Severity>| Outcome {
        domain: "checks.rollup.example".into(),
        findings: severity
            .map(|severity| Finding {
                id: "STS-TXT-01".into(),
                severity,
                title: "t".into(),
                detail: "d".into(),
                fix: String::new(),
                rfc: String::new(),
                subject: None,
                result_type: None,
            })
            .into_iter()
            .collect(),
        snapshot: Snapshot::default(),
        mx_hosts: Vec::new(),
        policy_text: None,
        elapsed: std::time::Duration::from_millis(5),
    };
    for s in [
        Some(Severity::Fail),
        None,
        Some(Severity::Fail),
        Some(Severity::Warn),
    ] {
        store
            .save_check(&run(s), "manual", 1_700_000_000)
            .await
            .unwrap();
    }
    let want = vec![
        ("fail".to_string(), 2),
        ("pass".into(), 1),
        ("warn".into(), 1),
    ];
    let totals = store.metric_totals().await.unwrap();
    assert_eq!(totals.checks, want);
    assert_eq!((totals.rejected, totals.notifications.len()), (0, 0));
    // The rest of the one statement `/metrics` reads: rejected inputs, notifications by status.
    for (i, reason) in ["not json", "not gzip"].iter().enumerate() {
        store
            .quarantine(&tlswatch::store::NewRejected {
                channel: "upload",
                source_name: "bad.json",
                received_at: 1_700_000_000 + i as i64,
                reason,
                content_hash: &format!("{i:064}"),
                raw_gz: b"x",
                raw_size: 1,
            })
            .await
            .unwrap();
    }
    let channel = store
        .add_channel(
            &tlswatch::store::alerts::ChannelRow {
                id: 0,
                name: "hook".into(),
                kind: "webhook".into(),
                config: serde_json::json!({"url": "https://hooks.example/x"}),
                domains: vec![],
                enabled: true,
                org_id: tlswatch::store::DEFAULT_ORG,
            },
            0,
        )
        .await
        .unwrap();
    for k in 0..3 {
        store
            .queue_notification(
                channel,
                &format!("g{k}"),
                "firing",
                "{}",
                &[],
                1_700_000_000,
            )
            .await
            .unwrap();
    }
    let totals = store.metric_totals().await.unwrap();
    assert_eq!(totals.checks, want);
    assert_eq!(totals.rejected, 2);
    assert_eq!(totals.notifications, vec![("pending".to_string(), 3)]);
}

on_both_databases! {
    checks => check_runs_are_counted_for_metrics;
    ranges => long_and_short_ranges_equal_the_inputs;
    list => the_report_list_is_the_newest_first_at_any_limit;
}
