//! The open-internet boundary (issue 12): request deadlines, the receiver's bounds, the
//! quarantine quota, sealed secrets, alert channels that cannot be aimed inward, and accounts.

mod support;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use app::auth::Role;
use sqlx::{Connection, Executor};
use tlswatch::http::receiver::{rate_key, Receiver};
use tlswatch::http::HttpSettings;
use tlswatch::store::{NewRejected, QuarantineQuota, Store};

use support::{login, post_report, report_json, server_with, sqlite};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_would_wait_ends_at_its_deadline() {
    let db = sqlite().await;
    db.store
        .add_domain("slow.example", "manual", 0)
        .await
        .unwrap();
    // Another process holds SQLite's write lock for longer than any deadline.
    let mut blocker =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.sqlite_path().display()))
            .await
            .unwrap();
    blocker.execute("BEGIN IMMEDIATE").await.unwrap();
    let settings = HttpSettings {
        request_timeout: Duration::from_secs(1),
        upload_timeout: Duration::from_secs(2),
        receiver_rate_per_minute: 1000,
        ..HttpSettings::local("127.0.0.1:0".parse().unwrap())
    };
    let s = server_with(db, settings).await;
    let report = report_json("s.example", "w1", "slow.example", "2026-01-01", 1, &[]);
    let started = Instant::now();
    let (status, _) = post_report(&s.base, &report).await;
    let took = started.elapsed();
    assert_eq!(status, 503);
    assert!(
        took < Duration::from_secs(6),
        "took {took:?}: the busy timeout, not the deadline, ended it"
    );
    // Reads still answer while the writer is blocked.
    let health = client()
        .get(format!("{}/healthz", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    blocker.execute("ROLLBACK").await.unwrap();
    // After the lock is gone the same report is stored: nothing was half-written.
    let (status, body) = post_report(&s.base, &report).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(s.store.report_count().await.unwrap(), 1);
}

#[test]
fn the_rate_limit_key_is_the_ipv4_address_or_the_ipv6_slash_64() {
    let k = |s: &str| rate_key(s.parse::<IpAddr>().unwrap()).to_string();
    assert_eq!(k("192.0.2.7"), "192.0.2.7");
    assert_eq!(k("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::");
    assert_eq!(k("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::");
    assert_ne!(k("2001:db8:1:3::1"), k("2001:db8:1:2::1"));
    assert_eq!(k("::ffff:192.0.2.7"), "192.0.2.7");
}

#[test]
fn forwarded_for_is_believed_from_trusted_proxies_only() {
    let r = Receiver::new(None, 10).with_trusted_proxies(vec!["10.0.0.0/8".parse().unwrap()]);
    let mut h = http::HeaderMap::new();
    h.insert("x-forwarded-for", "203.0.113.9, 10.1.1.1".parse().unwrap());
    // From the proxy: the right-most address that is not a proxy.
    assert_eq!(
        r.client("10.2.2.2".parse().unwrap(), &h).to_string(),
        "203.0.113.9"
    );
    // From anyone else: the peer, whatever the header claims.
    assert_eq!(
        r.client("198.51.100.1".parse().unwrap(), &h).to_string(),
        "198.51.100.1"
    );
    // A forged left-most entry does not help a client behind the proxy.
    h.insert("x-forwarded-for", "1.2.3.4, 203.0.113.9".parse().unwrap());
    assert_eq!(
        r.client("10.2.2.2".parse().unwrap(), &h).to_string(),
        "203.0.113.9"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_receiver_refuses_before_reading_the_body_and_when_saturated() {
    let db = sqlite().await;
    db.store
        .add_domain("rate.example", "manual", 0)
        .await
        .unwrap();
    let settings = HttpSettings {
        receiver_rate_per_minute: 2,
        receiver_max_in_flight: 1,
        ..HttpSettings::local("127.0.0.1:0".parse().unwrap())
    };
    let s = server_with(db, settings).await;
    let post = |id: &'static str| {
        let base = s.base.clone();
        async move {
            let json = report_json("s.example", id, "rate.example", "2026-01-01", 1, &[]);
            post_report(&base, &json).await
        }
    };
    assert_eq!(post("a").await.0, 200);
    assert_eq!(post("b").await.0, 200);
    // Over the rate: 429 without reading the body. A request that announces a megabyte and
    // sends one byte shows it: the answer comes although the body never arrives.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(s.base.trim_start_matches("http://"))
        .await
        .unwrap();
    tcp.write_all(
        b"POST /tlsrpt HTTP/1.1\r\nHost: x\r\nContent-Type: application/tlsrpt+json\r\nContent-Length: 1000000\r\n\r\n{",
    )
    .await
    .unwrap();
    let mut answer = vec![0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut answer))
        .await
        .expect("answered before the body arrived")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 60"),
        "{answer}"
    );
    let metrics = s.store.report_count().await.unwrap();
    assert_eq!(metrics, 2);
}

async fn quarantine_quota_evicts_open_channel_rejects_first(store: &Store) {
    let store = store.clone().with_quarantine_quota(QuarantineQuota {
        max_entries: 5,
        max_bytes: i64::MAX,
    });
    let put = |channel: &'static str, i: i64| {
        let store = store.clone();
        async move {
            let hash = format!("{channel}-{i}");
            store
                .quarantine(&NewRejected {
                    channel,
                    source_name: &hash,
                    received_at: 1_000 + i,
                    reason: "test",
                    content_hash: &hash,
                    raw_gz: b"x",
                    raw_size: 1,
                })
                .await
                .unwrap();
        }
    };
    put("cli", 0).await;
    put("upload", 1).await;
    for i in 2..6 {
        put("imap", i).await;
    }
    for i in 6..12 {
        put("https", i).await;
    }
    let kept = store.list_rejected(100).await.unwrap();
    assert_eq!(kept.len(), 5);
    let channels: Vec<&str> = kept.iter().map(|r| r.channel.as_str()).collect();
    // Every https reject went (oldest first), then the oldest mailbox rejects; CLI and upload stay.
    assert!(
        channels.contains(&"cli") && channels.contains(&"upload"),
        "{channels:?}"
    );
    assert!(
        !channels.contains(&"https") || channels.iter().filter(|c| **c == "imap").count() == 4,
        "{channels:?}"
    );
    assert_eq!(store.quarantine_usage().await.unwrap().0, 5);
}

async fn secrets_are_sealed_at_rest(store: &Store) {
    let m = tlswatch::store::Mailbox {
        id: 0,
        name: "sealed".into(),
        host: "imap.example".into(),
        port: 993,
        tls_mode: "implicit".into(),
        username: "u".into(),
        password: "very secret imap password".into(),
        folder: "INBOX".into(),
        archive_folder: None,
        rejected_folder: None,
        poll_seconds: 300,
        enabled: true,
        auto_register: false,
        kind: "imap".into(),
        auth: "password".into(),
        ..Default::default()
    };
    store.add_mailbox(&m).await.unwrap();
    store
        .add_channel(
            &tlswatch::store::alerts::ChannelRow {
                id: 0,
                name: "hook".into(),
                kind: "webhook".into(),
                config: serde_json::json!({"url": "https://hooks.example/T0KEN-IN-PATH", "secret": "hmac secret"}),
                domains: vec![],
                enabled: true,
                org_id: tlswatch::store::DEFAULT_ORG,
            },
            0,
        )
        .await
        .unwrap();
    // What the database holds: no secret in the clear.
    let dump = store.debug_dump_secret_columns().await.unwrap();
    for needle in ["very secret imap password", "T0KEN-IN-PATH", "hmac secret"] {
        assert!(
            !dump.contains(needle),
            "{needle} stored in the clear: {dump}"
        );
    }
    // What the application reads: the secrets.
    assert_eq!(
        store.mailboxes().await.unwrap()[0].password,
        "very secret imap password"
    );
    assert_eq!(
        store.channels().await.unwrap()[0].config["secret"],
        "hmac secret"
    );
    // Rotation: sealed with the new key, readable with it, not with the old one.
    let new =
        tlswatch::secrets::Sealer::from_base64(&tlswatch::secrets::Sealer::generate_key()).unwrap();
    assert_eq!(store.reseal_secrets(&new).await.unwrap(), 2);
    let rotated = store.clone().with_sealer(new);
    assert_eq!(
        rotated.mailboxes().await.unwrap()[0].password,
        "very secret imap password"
    );
    let err = store.mailboxes().await.unwrap_err();
    assert!(format!("{err:#}").contains("sealed with key"), "{err:#}");
}

async fn failed_sign_ins_count_atomically_and_reset_after_the_lock(store: &Store) {
    let id = tlswatch::auth::create_user(
        store,
        "count@example.com",
        "correct horse battery staple",
        Role::Viewer,
    )
    .await
    .unwrap();
    // 20 concurrent failures all count.
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .record_failed_login(id, 1_000, 1_000, 900)
                .await
                .unwrap()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let u = store.user_by_id(id).await.unwrap().unwrap();
    assert_eq!(u.failed_logins, 20);
    // The fifth failure (with max 5) locks…
    let id2 = tlswatch::auth::create_user(
        store,
        "lock@example.com",
        "correct horse battery staple",
        Role::Viewer,
    )
    .await
    .unwrap();
    for n in 1..=5 {
        let (count, lock) = store.record_failed_login(id2, 1_000, 5, 900).await.unwrap();
        assert_eq!(count, n);
        assert_eq!(lock.is_some(), n == 5);
    }
    // …and after the lock has expired, one more failure starts the count again.
    let (count, lock) = store
        .record_failed_login(id2, 1_000 + 901, 5, 900)
        .await
        .unwrap();
    assert_eq!((count, lock), (1, None));
    // A duplicate e-mail is a conflict with a clear message, not a database error.
    let err = tlswatch::auth::create_user(
        store,
        "lock@example.com",
        "correct horse battery staple",
        Role::Viewer,
    )
    .await
    .unwrap_err();
    let conflict = tlswatch::store::conflict_of(&err).expect("a conflict");
    assert_eq!(conflict.0, "a user with this e-mail address exists");
}

on_both_databases! {
    quarantine_quota => quarantine_quota_evicts_open_channel_rejects_first;
    sealed_secrets => secrets_are_sealed_at_rest;
    sign_in_counting => failed_sign_ins_count_atomically_and_reset_after_the_lock;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_answers_the_same_whether_or_not_the_account_exists() {
    let db = sqlite().await;
    tlswatch::auth::create_user(
        &db.store,
        "real@example.com",
        "correct horse battery staple",
        Role::Viewer,
    )
    .await
    .unwrap();
    let s = support::server_on(db, tlswatch::ingest::Limits::default(), None, 100).await;
    let attempt = |email: &'static str| {
        let base = s.base.clone();
        async move {
            let (status, body, _) = login(&base, email, "wrong password here").await;
            (status, body)
        }
    };
    let real = attempt("real@example.com").await;
    let ghost = attempt("ghost@example.com").await;
    assert_eq!(real, ghost);
    assert!(real.1.contains("wrong e-mail or password"), "{real:?}");
    // Locked after five failures: still the same answer as for a stranger.
    for _ in 0..5 {
        attempt("real@example.com").await;
    }
    assert_eq!(
        attempt("real@example.com").await,
        attempt("ghost@example.com").await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_channels_cannot_be_aimed_inward() {
    use tlswatch::alerts::channels::Delivery;
    use tlswatch::store::alerts::ChannelRow;
    // A service on loopback that answers with a body an attacker would like to read.
    let app = axum::Router::new().fallback(axum::routing::post(|| async {
        (http::StatusCode::FORBIDDEN, "internal-admin-token=abc123")
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let channel = ChannelRow {
        id: 1,
        name: "inward".into(),
        kind: "webhook".into(),
        config: serde_json::json!({"url": format!("http://localhost:{}/hook", addr.port())}),
        domains: vec![],
        enabled: true,
        org_id: tlswatch::store::DEFAULT_ORG,
    };
    let payload = serde_json::json!({"status": "test", "alerts": []});
    let mut d = Delivery {
        tls: tlswatch::net::tls::client_config(None).unwrap(),
        extra_ca_pem: None,
        timeout: Duration::from_secs(5),
        allow_private: false,
    };
    let err = d.send(&channel, &payload).await.unwrap_err();
    assert!(err.contains("non-public"), "{err}");
    for kind in ["slack", "teams"] {
        let c = ChannelRow {
            kind: kind.into(),
            ..channel.clone()
        };
        assert!(d
            .send(&c, &payload)
            .await
            .unwrap_err()
            .contains("non-public"));
    }
    let smtp = ChannelRow {
        kind: "email".into(),
        config: serde_json::json!({"host": "127.0.0.1", "port": addr.port(), "tls": "none", "from": "a@b.example", "to": ["c@d.example"]}),
        ..channel.clone()
    };
    assert!(d
        .send(&smtp, &payload)
        .await
        .unwrap_err()
        .contains("non-public"));
    // Allowed: it connects, and the error names the status only, never the body.
    d.allow_private = true;
    let err = d.send(&channel, &payload).await.unwrap_err();
    assert!(err.contains("403"), "{err}");
    assert!(!err.contains("abc123"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saturated_receiver_answers_503_and_metrics_show_the_boundary() {
    use tokio::io::AsyncWriteExt;
    let db = sqlite().await;
    db.store
        .add_domain("busy.example", "manual", 0)
        .await
        .unwrap();
    tlswatch::auth::create_user(
        &db.store,
        "m@example.com",
        "correct horse battery staple",
        Role::Viewer,
    )
    .await
    .unwrap();
    let settings = HttpSettings {
        receiver_rate_per_minute: 1000,
        receiver_max_in_flight: 1,
        ..HttpSettings::local("127.0.0.1:0".parse().unwrap())
    };
    let s = server_with(db, settings).await;
    // One slow sender holds the only slot: headers sent, body still coming.
    let mut slow = tokio::net::TcpStream::connect(s.base.trim_start_matches("http://"))
        .await
        .unwrap();
    slow.write_all(
        b"POST /tlsrpt HTTP/1.1\r\nHost: x\r\nContent-Type: application/tlsrpt+json\r\nContent-Length: 100000\r\n\r\n{",
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let send = |report_id: &'static str| {
        client()
            .post(format!("{}/tlsrpt", s.base))
            .header("content-type", "application/tlsrpt+json")
            .body(report_json(
                "s.example",
                report_id,
                "busy.example",
                "2026-01-01",
                1,
                &[],
            ))
            .send()
    };
    let r = send("x").await.unwrap();
    assert_eq!(r.status().as_u16(), 503);
    assert_eq!(r.headers()["retry-after"], "5");
    drop(slow);
    // Once the slot is free a report is stored (by the group commit, which /metrics shows).
    let mut stored = false;
    for _ in 0..50 {
        if send("after").await.unwrap().status().as_u16() == 200 {
            stored = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(stored, "the receiver never took a report again");
    // The quarantine's size, quota and the refusals are on /metrics.
    let cookie = login(&s.base, "m@example.com", "correct horse battery staple")
        .await
        .2
        .unwrap();
    let metrics = client()
        .get(format!("{}/metrics", s.base))
        .header(reqwest::header::COOKIE, cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "tlswatch_quarantine_entries ",
        "tlswatch_quarantine_max_entries 10000",
        "tlswatch_quarantine_evicted_total ",
        "tlswatch_receiver_refused_total{reason=\"busy\"} ",
        "tlswatch_request_timeouts_total ",
    ] {
        assert!(metrics.contains(line), "{line} missing:\n{metrics}");
    }
    let busy: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("tlswatch_receiver_refused_total{reason=\"busy\"} "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(busy >= 1);
    // The group commit's histograms: every bucket line cumulative, the last one the count.
    for name in [
        "tlswatch_intake_commit_wait_seconds",
        "tlswatch_group_commit_seconds",
        "tlswatch_group_commit_inputs",
        "tlswatch_wal_sync_seconds",
    ] {
        assert!(
            metrics.contains(&format!("# TYPE {name} histogram")),
            "{name} missing:\n{metrics}"
        );
        let buckets: Vec<u64> = metrics
            .lines()
            .filter(|l| l.starts_with(&format!("{name}_bucket{{")))
            .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
            .collect();
        assert!(
            buckets.windows(2).all(|w| w[0] <= w[1]),
            "{name}: {buckets:?}"
        );
        let count: u64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}_count ")))
            .unwrap()
            .parse()
            .unwrap();
        assert!(count >= 1, "{name}: no observation after a stored report");
        assert_eq!(buckets.last(), Some(&count), "{name}: +Inf is the count");
    }
}

/// Uploads have the long deadline, not the short one of every other signed-in request: a file
/// whose body takes longer to arrive than the short deadline is still stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_has_the_long_deadline_not_the_short_one() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let db = sqlite().await;
    let settings = HttpSettings {
        request_timeout: Duration::from_secs(1),
        upload_timeout: Duration::from_secs(20),
        ..HttpSettings::local("127.0.0.1:0".parse().unwrap())
    };
    let s = server_with(db, settings).await;
    let pw = "correct horse battery staple";
    tlswatch::auth::create_user(&s.store, "editor@example.com", pw, Role::Editor)
        .await
        .unwrap();
    let cookie = login(&s.base, "editor@example.com", pw).await.2.unwrap();
    let report = report_json("s.example", "slow-1", "up.example", "2026-01-01", 5, &[]);
    let (first, rest) = report.as_bytes().split_at(report.len() / 2);
    let addr = s.base.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/upload HTTP/1.1\r\nhost: {addr}\r\ncookie: {cookie}\r\nsec-fetch-site: same-origin\r\nx-filename: slow.json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        report.len()
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(first).await.unwrap();
    // Longer than the short deadline, well within the long one.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    tcp.write_all(rest).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(30), tcp.read_to_string(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(s.store.report_count().await.unwrap(), 1);
}
