//! The RFC 8460 HTTPS receiver, over real HTTP against the real application.

mod support;

use std::io::Write;

use tlswatch::ingest::Limits;

use support::{gz, report_json, server, TestServer};

async fn post(s: &TestServer, path: &str, content_type: &str, body: Vec<u8>) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(format!("{}{path}", s.base))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

async fn registered(limits: Limits, secret: Option<&str>, rate: u32) -> TestServer {
    let s = server(limits, secret, rate).await;
    s.store.add_domain("rx.example", "manual", 0).await.unwrap();
    s
}

fn report(id: &str) -> Vec<u8> {
    report_json(
        "sender.example",
        id,
        "rx.example",
        "2026-05-05",
        20,
        &[("certificate-expired", "mx1.rx.example", 3)],
    )
    .into_bytes()
}

#[tokio::test]
async fn receiver_stores_gzip_report_and_answers_200() {
    let s = registered(Limits::default(), None, 100).await;
    assert_eq!(
        post(&s, "/tlsrpt", "application/tlsrpt+gzip", gz(&report("a")))
            .await
            .0,
        200
    );
    assert_eq!(s.store.report_count().await.unwrap(), 1);
    let t = s.store.domain_totals(0, 100_000).await.unwrap();
    assert_eq!((t[0].success, t[0].failure), (20, 3));
}

/// Sending mail servers neither sign in nor hold cookies: the receiver stands outside the
/// dashboard's sessions, sign-in and CSRF check. A POST that looks like a cross-site browser
/// form with a (stale) session cookie is a report like any other, and gets no cookie back.
#[tokio::test]
async fn receiver_takes_no_session_and_no_cross_site_check() {
    let s = registered(Limits::default(), None, 100).await;
    let r = reqwest::Client::new()
        .post(format!("{}/tlsrpt", s.base))
        .header("content-type", "application/tlsrpt+gzip")
        .header("origin", "https://elsewhere.example")
        .header("sec-fetch-site", "cross-site")
        .header(
            "cookie",
            format!(
                "{}=stale-session-id",
                tlswatch::http::security::SESSION_COOKIE
            ),
        )
        .body(gz(&report("cookie")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.headers().get("set-cookie").is_none());
    assert_eq!(s.store.report_count().await.unwrap(), 1);
}

#[tokio::test]
async fn receiver_sniffs_gzip_whatever_the_header_says() {
    let s = registered(Limits::default(), None, 100).await;
    assert_eq!(
        post(&s, "/tlsrpt", "application/tlsrpt+json", gz(&report("b")))
            .await
            .0,
        200
    );
    assert_eq!(
        post(
            &s,
            "/tlsrpt",
            "application/tlsrpt+json; charset=utf-8",
            report("c")
        )
        .await
        .0,
        200
    );
    assert_eq!(s.store.report_count().await.unwrap(), 2);
}

#[tokio::test]
async fn receiver_same_report_twice_is_stored_once() {
    let s = registered(Limits::default(), None, 100).await;
    assert_eq!(
        post(&s, "/tlsrpt", "application/tlsrpt+gzip", gz(&report("d")))
            .await
            .0,
        200
    );
    assert_eq!(
        post(&s, "/tlsrpt", "application/tlsrpt+json", report("d"))
            .await
            .0,
        200
    );
    assert_eq!(s.store.report_count().await.unwrap(), 1);
}

/// Waits until `n` reports are visible to readers (committed).
async fn until_committed(s: &TestServer, n: i64) {
    for _ in 0..500 {
        if s.store.report_count().await.unwrap() == n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("{n} reports were never committed");
}

/// SQLite's writer commits to the write-ahead log and the log is fsynced beside the next
/// transaction: no sender is answered before the fsync covering its report, nor is a copy
/// answered "duplicate" on the strength of a stored report that is not yet durable.
#[tokio::test]
async fn receiver_answers_only_once_the_report_is_durable() {
    let s = registered(Limits::default(), None, 100).await;
    let held = s.store.hold_durability().await.expect("a SQLite file");
    let send = || {
        let base = s.base.clone();
        let json = String::from_utf8(report("durable")).unwrap();
        tokio::spawn(async move { support::post_report(&base, &json).await.0 })
    };
    let first = send();
    until_committed(&s, 1).await;
    let copy = send();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !first.is_finished(),
        "answered before its report was durable"
    );
    assert!(
        !copy.is_finished(),
        "a copy answered before the stored report was durable"
    );
    drop(held);
    assert_eq!(first.await.unwrap(), 200);
    assert_eq!(copy.await.unwrap(), 200);
    assert_eq!(s.store.report_count().await.unwrap(), 1);
}

/// The import channels (`tlswatch import`, mailboxes) report an input stored only once it is
/// durable, too: a mailbox's mail is moved or deleted after that.
#[tokio::test]
async fn an_import_returns_only_once_its_reports_are_durable() {
    let s = registered(Limits::default(), None, 100).await;
    let held = s.store.hold_durability().await.expect("a SQLite file");
    let store = s.store.clone();
    let import =
        tokio::spawn(async move { support::import(&store, &report("imported"), "r.json").await });
    until_committed(&s, 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !import.is_finished(),
        "returned before its report was durable"
    );
    drop(held);
    assert_eq!(import.await.unwrap().reports, 1);
}

#[tokio::test]
async fn receiver_refuses_unregistered_domains_and_never_registers_them() {
    let s = server(Limits::default(), None, 100).await;
    let (status, body) = post(&s, "/tlsrpt", "application/tlsrpt+gzip", gz(&report("e"))).await;
    assert_eq!(status, 400);
    assert!(body.contains("not registered"), "{body}");
    assert_eq!(s.store.report_count().await.unwrap(), 0);
    assert!(s.store.domain_names().await.unwrap().is_empty());
}

#[tokio::test]
async fn receiver_rejects_bad_reports_with_the_reason_and_quarantines_them() {
    let s = registered(Limits::default(), None, 100).await;
    let (status, body) = post(
        &s,
        "/tlsrpt",
        "application/tlsrpt+json",
        b"{\"policies\": 5}".to_vec(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("date-range"), "{body}");
    let q = s.store.list_rejected(10).await.unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].channel, "https");
}

#[tokio::test]
async fn receiver_answers_415_for_other_media_types() {
    let s = registered(Limits::default(), None, 100).await;
    assert_eq!(post(&s, "/tlsrpt", "text/plain", report("f")).await.0, 415);
    assert_eq!(
        post(
            &s,
            "/tlsrpt",
            "multipart/form-data; boundary=x",
            report("f")
        )
        .await
        .0,
        415
    );
}

#[tokio::test]
async fn receiver_answers_413_above_the_size_limit() {
    let limits = Limits {
        max_input: 10_000,
        ..Limits::default()
    };
    let s = registered(limits, None, 100).await;
    assert_eq!(
        post(&s, "/tlsrpt", "application/tlsrpt+json", vec![b' '; 20_000])
            .await
            .0,
        413
    );
}

#[tokio::test]
async fn receiver_rejects_gzip_that_expands_past_the_limit() {
    let limits = Limits {
        max_decompressed: 1_000_000,
        ..Limits::default()
    };
    let s = registered(limits, None, 100).await;
    // 64 MiB of zeros: ~64 KB compressed, refused after 1 MB of output.
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 {
        e.write_all(&zeros).unwrap();
    }
    let (status, body) = post(
        &s,
        "/tlsrpt",
        "application/tlsrpt+gzip",
        e.finish().unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("inflates to more than"), "{body}");
}

#[tokio::test]
async fn receiver_secret_path_hides_the_open_path() {
    let s = registered(Limits::default(), Some("s3cr3t"), 100).await;
    assert_eq!(
        post(&s, "/tlsrpt", "application/tlsrpt+gzip", gz(&report("g")))
            .await
            .0,
        404
    );
    assert_eq!(
        post(
            &s,
            "/tlsrpt/wrong",
            "application/tlsrpt+gzip",
            gz(&report("g"))
        )
        .await
        .0,
        404
    );
    assert_eq!(
        post(
            &s,
            "/tlsrpt/s3cr3t",
            "application/tlsrpt+gzip",
            gz(&report("g"))
        )
        .await
        .0,
        200
    );
    assert_eq!(s.store.report_count().await.unwrap(), 1);
}

#[tokio::test]
async fn receiver_rate_limits_per_client_address() {
    let s = registered(Limits::default(), None, 3).await;
    let mut codes = Vec::new();
    for i in 0..5 {
        codes.push(
            post(
                &s,
                "/tlsrpt",
                "application/tlsrpt+gzip",
                gz(&report(&format!("r{i}"))),
            )
            .await
            .0,
        );
    }
    assert_eq!(codes, vec![200, 200, 200, 429, 429]);
}

#[tokio::test]
async fn healthz_answers_after_pinging_the_database() {
    let s = server(Limits::default(), None, 10).await;
    let r = reqwest::get(format!("{}/healthz", s.base)).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers().get("x-content-type-options").unwrap(),
        "nosniff"
    );
}
