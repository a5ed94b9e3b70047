//! What real senders' reports showed (issue 12, item 10): each case parses and counts right,
//! on SQLite and PostgreSQL. The mails and reports are written here, shaped like the samples
//! that showed each problem.

mod support;

use base64::Engine;
use tlswatch::domain::{parse_report, ParseContext};
use tlswatch::ingest::{extract, Limits, Status};
use tlswatch::store::{ReportFilter, Store};

use support::{gz, import, report_json};

/// A multipart mail whose last part (the report, base64 on one long line) has no closing
/// boundary, as one sender's software writes it.
fn mail_without_closing_boundary(report: &[u8]) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(gz(report));
    format!(
        "From: noreply-smtp-tls-reporting@sender.example\r\n\
         To: tlsrpt@quirks.example\r\n\
         Subject: Report Domain: quirks.example Submitter: sender.example Report-ID: <q1>\r\n\
         TLS-Report-Domain: quirks.example\r\n\
         TLS-Report-Submitter: sender.example\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=\"tlsrpt\"; boundary=\"BOUNDARY42\"\r\n\
         \r\n\
         --BOUNDARY42\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         This is an aggregate TLS report from sender.example\r\n\
         \r\n\
         --BOUNDARY42\r\n\
         Content-Type: application/tlsrpt+gzip\r\n\
         Content-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"sender.example!quirks.example!1767225600!1767311999.json.gz\"\r\n\
         \r\n\
         {b64}\r\n"
    )
    .into_bytes()
}

#[test]
fn a_last_part_without_closing_boundary_is_read() {
    let json = report_json(
        "sender.example",
        "q1",
        "quirks.example",
        "2026-01-01",
        7,
        &[],
    );
    let mail = mail_without_closing_boundary(json.as_bytes());
    let found = extract::extract(&mail, None, Some("q.eml"), &Limits::default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].json, json.as_bytes());
}

/// Details listing 3 failed sessions under a summary of 2.
fn over_counted() -> String {
    report_json(
        "over.example",
        "over-1",
        "quirks.example",
        "2026-01-02",
        10,
        &[
            ("certificate-expired", "mx1.quirks.example", 2),
            ("starttls-not-supported", "mx2.quirks.example", 1),
        ],
    )
    .replace(
        "\"total-failure-session-count\":3",
        "\"total-failure-session-count\":2",
    )
}

#[test]
fn details_above_the_total_are_kept_and_warned() {
    let r = parse_report(over_counted().as_bytes(), &ParseContext::default()).unwrap();
    assert_eq!(r.policies[0].failure, 2);
    assert_eq!(
        r.policies[0]
            .failures
            .iter()
            .map(|f| f.failed_session_count)
            .sum::<u64>(),
        3,
        "details kept as sent"
    );
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("more than the summary")),
        "{:?}",
        r.warnings
    );
}

#[test]
fn receiving_mx_host_name_is_an_alias_and_unknown_keys_warn() {
    let json = report_json(
        "alias.example",
        "a-1",
        "quirks.example",
        "2026-01-03",
        1,
        &[("certificate-expired", "MX1.Quirks.Example.", 1)],
    )
    .replace("receiving-mx-hostname", "receiving-mx-host-name")
    .replace("\"report-id\"", "\"x-vendor\":1,\"report-id\"");
    let r = parse_report(json.as_bytes(), &ParseContext::default()).unwrap();
    assert_eq!(
        r.policies[0].failures[0].receiving_mx_hostname.as_deref(),
        Some("mx1.quirks.example")
    );
    assert!(r
        .warnings
        .iter()
        .any(|w| w.contains("receiving-mx-host-name")));
    assert!(
        r.warnings.iter().any(|w| w.contains("\"x-vendor\"")),
        "{:?}",
        r.warnings
    );
}

async fn breakdowns_never_exceed_their_total(store: &Store) {
    let o = import(store, over_counted().as_bytes(), "over.json").await;
    assert_eq!(o.status, Status::Imported, "{o:?}");
    let s = store
        .domain_stats("quirks.example", 0, 100_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.failure, 2);
    let by_mx: i64 = s.by_mx.iter().map(|r| r.1).sum();
    let by_rt: i64 = s.by_result_type.iter().map(|r| r.1).sum();
    assert_eq!(
        (by_mx, by_rt),
        (2, 2),
        "{:?} {:?}",
        s.by_mx,
        s.by_result_type
    );
    // The first-listed detail counts first.
    assert_eq!(s.by_mx, vec![("mx1.quirks.example".to_owned(), 2)]);
}

async fn a_two_domain_report_lists_one_row_per_domain(store: &Store) {
    let json = report_json(
        "two.example",
        "two-1",
        "a.quirks.example",
        "2026-01-04",
        5,
        &[("certificate-expired", "mx.a.quirks.example", 4)],
    );
    // Second policy for another domain: 9 successes, no failures.
    let second = r#"{"policy":{"policy-type":"sts","policy-string":["version: STSv1","mode: testing","mx: *.b.quirks.example","max_age: 86400"],"policy-domain":"b.quirks.example","mx-host":["*.b.quirks.example"]},"summary":{"total-successful-session-count":9,"total-failure-session-count":0}}"#;
    let json = json.trim_end();
    let json = format!("{},{second}]}}", &json[..json.len() - 2]);
    let o = import(store, json.as_bytes(), "two.json").await;
    assert_eq!(o.status, Status::Imported, "{o:?} {json}");
    let all = store
        .reports(&ReportFilter {
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    let rows: Vec<(String, i64, i64)> = all
        .iter()
        .filter(|r| r.report_id == "two-1")
        .map(|r| (r.domains.clone(), r.success, r.failure))
        .collect();
    assert_eq!(
        rows,
        vec![
            ("a.quirks.example".to_owned(), 5, 4),
            ("b.quirks.example".to_owned(), 9, 0)
        ]
    );
    let b_failures = store
        .reports(&ReportFilter {
            domain: Some("b.quirks.example".into()),
            failures_only: true,
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(b_failures.is_empty(), "{b_failures:?}");
    let b = store
        .reports(&ReportFilter {
            domain: Some("b.quirks.example".into()),
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!((b[0].success, b[0].failure), (9, 0));
}

async fn a_differing_duplicate_is_reported(store: &Store) {
    let first = report_json(
        "dup.example",
        "d-1",
        "quirks.example",
        "2026-01-05",
        10,
        &[],
    );
    let second = report_json(
        "dup.example",
        "d-1",
        "quirks.example",
        "2026-01-05",
        12,
        &[],
    );
    assert_eq!(
        import(store, first.as_bytes(), "1.json").await.status,
        Status::Imported
    );
    // The very same bytes again: a plain duplicate, nothing to say.
    let same = import(store, first.as_bytes(), "1.json").await;
    assert_eq!(same.status, Status::Duplicate);
    assert!(same.notes.is_empty(), "{same:?}");
    let o = import(store, second.as_bytes(), "2.json").await;
    assert_eq!(o.status, Status::Duplicate);
    assert_eq!(o.notes.len(), 1, "{o:?}");
    assert!(o.notes[0].contains("different content"), "{o:?}");
    let row = store
        .reports(&ReportFilter {
            reporter: Some("dup.example".into()),
            limit: 5,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(row.len(), 1);
    assert_eq!(row[0].success, 10, "the first copy stays counted");
    let (_, warnings) = store.report_raw(row[0].id).await.unwrap().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("different content") && w.contains("12 successful")),
        "{warnings:?}"
    );
}

on_both_databases! {
    capped_breakdowns => breakdowns_never_exceed_their_total;
    per_domain_rows => a_two_domain_report_lists_one_row_per_domain;
    differing_duplicates => a_differing_duplicate_is_reported;
}
