//! Alerting end to end on both databases: reports imported through the real importer, rules
//! evaluated over the rollups, notifications delivered to a real HTTP server and a real SMTP
//! server started on loopback. Scenarios: a spike fires once and resolves; late data for a past
//! day; duplicates do not fire; a silence suppresses and expires; the repeat interval and
//! acknowledgement; retries with backoff; two instances send one notification.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tlswatch::alerts::channels::{sign, Delivery, SIGNATURE_HEADER};
use tlswatch::alerts::notify::{cycle, deliver_due, Timing};
use tlswatch::domain::days::{format_day, parse_day};
use tlswatch::store::alerts::{ChannelRow, SilenceRow};
use tlswatch::store::Store;

use support::{import, report_json};

const D: &str = "alerts.example";
const SECRET: &str = "webhook secret";

/// What the hook received: path, headers, body.
type Got = Arc<Mutex<Vec<(String, http::HeaderMap, Vec<u8>)>>>;

/// A real HTTP server on loopback that records what it receives; the first `fail_first`
/// requests get a 500.
struct Hook {
    url: String,
    got: Got,
    _task: tokio::task::JoinHandle<()>,
}

impl Hook {
    async fn start(fail_first: usize) -> Self {
        use axum::extract::State;
        let got: Got = Arc::default();
        let failures = Arc::new(std::sync::atomic::AtomicUsize::new(fail_first));
        async fn handle(
            State((got, failures)): State<(Got, Arc<std::sync::atomic::AtomicUsize>)>,
            uri: http::Uri,
            headers: http::HeaderMap,
            body: axum::body::Bytes,
        ) -> http::StatusCode {
            if failures
                .fetch_update(
                    std::sync::atomic::Ordering::SeqCst,
                    std::sync::atomic::Ordering::SeqCst,
                    |n| n.checked_sub(1),
                )
                .is_ok()
            {
                return http::StatusCode::INTERNAL_SERVER_ERROR;
            }
            got.lock()
                .unwrap()
                .push((uri.path().to_string(), headers, body.to_vec()));
            http::StatusCode::OK
        }
        let app = axum::Router::new()
            .fallback(axum::routing::post(handle))
            .with_state((got.clone(), failures));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url,
            got,
            _task: task,
        }
    }

    fn payloads(&self) -> Vec<Value> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|(_, _, b)| serde_json::from_slice(b).unwrap())
            .collect()
    }
}

fn delivery() -> Delivery {
    Delivery {
        tls: tlswatch::net::tls::client_config(None).unwrap(),
        extra_ca_pem: None,
        timeout: Duration::from_secs(5),
        allow_private: true,
    }
}

fn timing() -> Timing {
    Timing {
        group_wait: 0,
        repeat_interval: 4 * 3600,
        max_attempts: 6,
        public_url: Some("https://watch.example".into()),
        lease_seconds: 120,
    }
}

/// Noon (UTC) of the evaluation day.
fn noon(day: i64) -> i64 {
    day * 86_400 + 43_200
}

fn today() -> i64 {
    parse_day("2026-06-20").unwrap()
}

/// 14 normal days before `today - 1`: 1000 sessions with 2 failures each, two reporters.
async fn baseline(store: &Store) {
    for d in (today() - 16)..(today() - 1) {
        for org in ["a.example", "b.example"] {
            let json = report_json(
                org,
                &format!("{org}-{d}"),
                D,
                &format_day(d),
                499,
                &[("starttls-not-supported", "mx1.alerts.example", 1)],
            );
            import(store, json.as_bytes(), "r.json").await;
        }
    }
}

async fn spike_day(store: &Store) {
    let json = report_json(
        "a.example",
        "spike",
        D,
        &format_day(today() - 1),
        700,
        &[("certificate-expired", "mx1.alerts.example", 300)],
    );
    import(store, json.as_bytes(), "spike.json").await;
}

async fn webhook(store: &Store, hook: &Hook) -> i64 {
    store
        .add_channel(
            &ChannelRow {
                id: 0,
                name: "hook".into(),
                kind: "webhook".into(),
                config: serde_json::json!({"url": format!("{}/hook", hook.url), "secret": SECRET}),
                domains: vec![],
                enabled: true,
                org_id: tlswatch::store::DEFAULT_ORG,
            },
            0,
        )
        .await
        .unwrap()
}

fn spike_alert(p: &Value) -> Option<&Value> {
    p["alerts"].as_array()?.iter().find(|a| {
        a["labels"]["rule"] == "failure_spike"
            && a["labels"].get("mx").is_none()
            && a["labels"].get("result_type").is_none()
    })
}

on_both_databases! {
    a_spike_fires_once_and_resolves => a_spike_fires_once_and_resolves;
    late_data_for_a_past_day_fires => late_data_for_a_past_day_fires;
    duplicates_do_not_fire => duplicates_do_not_fire;
    a_silence_suppresses_and_expires => a_silence_suppresses_and_expires;
    repeat_interval_and_acknowledgement => repeat_interval_and_acknowledgement;
    failed_deliveries_are_retried_with_backoff => failed_deliveries_are_retried_with_backoff;
    a_failing_mailbox_fires_after_its_threshold => a_failing_mailbox_fires_after_its_threshold;
}

/// `mailbox_failing` (seeded, 1 hour): a mailbox whose polls fail fires once it has gone an
/// hour without a successful poll, names the mailbox and the server's answer, links to the
/// mailboxes page, and resolves after a successful poll.
async fn a_failing_mailbox_fires_after_its_threshold(store: &Store) {
    let hook = Hook::start(0).await;
    webhook(store, &hook).await;
    let id = store
        .add_mailbox(&tlswatch::store::Mailbox {
            id: 0,
            name: "reports".into(),
            host: "imap.alerts.example".into(),
            port: 993,
            tls_mode: "implicit".into(),
            username: "u".into(),
            password: "p".into(),
            folder: "INBOX".into(),
            archive_folder: None,
            rejected_folder: None,
            poll_seconds: 300,
            enabled: true,
            auto_register: false,
            kind: "imap".into(),
            auth: "password".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let t0 = noon(today());
    store.finish_poll(id, t0, None, (1, 0, 0)).await.unwrap();
    store
        .finish_poll(
            id,
            t0 + 600,
            Some((
                tlswatch::store::PollErrorKind::Auth,
                "login as u failed: NO [AUTHENTICATIONFAILED]",
            )),
            (0, 0, 0),
        )
        .await
        .unwrap();
    // Failing for 10 minutes: not yet.
    let fired = |active: &[tlswatch::store::alerts::Active]| {
        active
            .iter()
            .any(|a| a.labels.get("mailbox").map(String::as_str) == Some("reports"))
    };
    assert!(!fired(
        &tlswatch::alerts::evaluate(store, t0 + 700).await.unwrap()
    ));
    // An hour without success: fires, with the reason.
    let active = tlswatch::alerts::evaluate(store, t0 + 3_700).await.unwrap();
    let a = active
        .iter()
        .find(|a| a.labels.get("mailbox").map(String::as_str) == Some("reports"))
        .expect("mailbox_failing fired");
    assert!(a.reason.contains("AUTHENTICATIONFAILED"), "{}", a.reason);
    assert!(a.reason.contains("is failing"), "{}", a.reason);
    assert_eq!(a.domain, "");
    // A refused grant says so.
    store.set_mailbox_auth_required(id, true).await.unwrap();
    let active = tlswatch::alerts::evaluate(store, t0 + 3_700).await.unwrap();
    let a = active
        .iter()
        .find(|a| a.labels.get("mailbox").map(String::as_str) == Some("reports"))
        .expect("mailbox_failing fired");
    assert!(a.reason.contains("needs authorization"), "{}", a.reason);
    store.set_mailbox_auth_required(id, false).await.unwrap();
    cycle(store, &delivery(), &timing(), "test", t0 + 3_700)
        .await
        .unwrap();
    let got = hook.got.lock().unwrap().clone();
    let body: Value = serde_json::from_slice(&got.last().expect("notified").2).unwrap();
    assert!(
        body["alerts"][0]["url"]
            .as_str()
            .unwrap()
            .ends_with("/admin/mailboxes"),
        "{body}"
    );
    // A successful poll resolves it.
    store
        .finish_poll(id, t0 + 3_800, None, (0, 0, 0))
        .await
        .unwrap();
    assert!(!fired(
        &tlswatch::alerts::evaluate(store, t0 + 3_900).await.unwrap()
    ));
}

async fn a_spike_fires_once_and_resolves(store: &Store) {
    let hook = Hook::start(0).await;
    webhook(store, &hook).await;
    baseline(store).await;
    spike_day(store).await;
    let now = noon(today());
    assert!(cycle(store, &delivery(), &timing(), "A", now)
        .await
        .unwrap());
    let got = hook.payloads();
    assert_eq!(got.len(), 1, "one grouped message: {got:#?}");
    let p = &got[0];
    assert_eq!(p["status"], "firing");
    assert_eq!(p["domain"], D);
    let a = spike_alert(p).expect("the domain spike alert");
    // 300 of 1000 sessions failed against a 0.2 % baseline; the message says why.
    assert!((a["value"].as_f64().unwrap() - 0.3).abs() < 1e-9, "{a}");
    assert!(
        (a["baseline"].as_f64().unwrap() - 0.002).abs() < 1e-9,
        "{a}"
    );
    assert!(a["threshold"].as_f64().unwrap() > 0.002 && a["threshold"].as_f64().unwrap() < 0.3);
    assert!(
        a["reason"]
            .as_str()
            .unwrap()
            .contains("300 of 1000 sessions failed"),
        "{a}"
    );
    assert_eq!(a["url"], format!("https://watch.example/domains/{D}"));
    // Per MX and per result type too, and the new failure type, all in the same message.
    let rules: Vec<String> = p["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| format!("{}", a["labels"]))
        .collect();
    assert!(
        rules
            .iter()
            .any(|r| r.contains("\"mx\":\"mx1.alerts.example\"")),
        "{rules:?}"
    );
    assert!(
        rules.iter().any(|r| r.contains("new_failure_type")),
        "{rules:?}"
    );
    // The signature is an HMAC-SHA256 of the body.
    let (_, headers, body) = hook.got.lock().unwrap()[0].clone();
    assert_eq!(
        headers[SIGNATURE_HEADER].to_str().unwrap(),
        format!("sha256={}", sign(SECRET, &body))
    );

    // Evaluated again a minute later: still firing, nothing new sent.
    cycle(store, &delivery(), &timing(), "A", now + 60)
        .await
        .unwrap();
    assert_eq!(hook.payloads().len(), 1);
    let alerts = store.alerts(100).await.unwrap();
    assert_eq!(
        alerts
            .iter()
            .filter(
                |a| a.labels.get("rule").map(String::as_str) == Some("failure_spike")
                    && a.state == "firing"
            )
            .count(),
        3
    );

    // Days later the spike day is out of the window: resolved, and the resolved message goes out once.
    let later = now + 3 * 86_400;
    cycle(store, &delivery(), &timing(), "A", later)
        .await
        .unwrap();
    cycle(store, &delivery(), &timing(), "A", later + 60)
        .await
        .unwrap();
    let resolved: Vec<Value> = hook
        .payloads()
        .into_iter()
        .filter(|p| p["status"] == "resolved")
        .collect();
    assert_eq!(resolved.len(), 1, "{resolved:#?}");
    assert!(spike_alert(&resolved[0]).is_some());
    assert_eq!(spike_alert(&resolved[0]).unwrap()["state"], "resolved");
    let firing_spikes = hook
        .payloads()
        .iter()
        .filter(|p| p["status"] == "firing" && spike_alert(p).is_some())
        .count();
    assert_eq!(firing_spikes, 1, "the spike fired once");
}

async fn late_data_for_a_past_day_fires(store: &Store) {
    let hook = Hook::start(0).await;
    webhook(store, &hook).await;
    baseline(store).await;
    let now = noon(today());
    cycle(store, &delivery(), &timing(), "A", now)
        .await
        .unwrap();
    assert!(
        hook.payloads().iter().all(|p| spike_alert(p).is_none()),
        "nothing yet"
    );
    // Yesterday's report arrives late, after the first evaluation.
    spike_day(store).await;
    cycle(store, &delivery(), &timing(), "A", now + 300)
        .await
        .unwrap();
    assert!(
        hook.payloads().iter().any(|p| spike_alert(p).is_some()),
        "{:#?}",
        hook.payloads()
    );
}

async fn duplicates_do_not_fire(store: &Store) {
    let hook = Hook::start(0).await;
    webhook(store, &hook).await;
    baseline(store).await;
    // 8 failures of 1000: below min_failures (10). Counted five times it would be 40 (4 %).
    let json = report_json(
        "a.example",
        "dup",
        D,
        &format_day(today() - 1),
        992,
        &[("starttls-not-supported", "mx1.alerts.example", 8)],
    );
    for _ in 0..5 {
        import(store, json.as_bytes(), "dup.json").await;
    }
    // The same report in other bytes (whitespace) is the same report.
    import(store, json.replace(",\"", ", \"").as_bytes(), "dup2.json").await;
    cycle(store, &delivery(), &timing(), "A", noon(today()))
        .await
        .unwrap();
    assert!(
        hook.payloads().iter().all(|p| spike_alert(p).is_none()),
        "{:#?}",
        hook.payloads()
    );
    let stats = store
        .domain_stats(D, today() - 1, today() - 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stats.failure, 8);
}

async fn a_silence_suppresses_and_expires(store: &Store) {
    let hook = Hook::start(0).await;
    webhook(store, &hook).await;
    baseline(store).await;
    spike_day(store).await;
    let now = noon(today());
    store
        .add_silence(
            &SilenceRow {
                id: 0,
                matchers: vec![("domain".into(), D.into())],
                starts_at: now - 60,
                ends_at: now + 3600,
                author: "ops@example".into(),
                comment: "known, fixing the certificate".into(),
                org_id: tlswatch::store::DEFAULT_ORG,
            },
            now - 60,
        )
        .await
        .unwrap();
    cycle(store, &delivery(), &timing(), "A", now)
        .await
        .unwrap();
    cycle(store, &delivery(), &timing(), "A", now + 1800)
        .await
        .unwrap();
    assert_eq!(hook.payloads().len(), 0, "silenced");
    // The silence ends: the still-firing alerts are notified.
    cycle(store, &delivery(), &timing(), "A", now + 3601)
        .await
        .unwrap();
    assert_eq!(hook.payloads().len(), 1);
    assert!(spike_alert(&hook.payloads()[0]).is_some());
}

async fn repeat_interval_and_acknowledgement(store: &Store) {
    let hook = Hook::start(0).await;
    webhook(store, &hook).await;
    baseline(store).await;
    spike_day(store).await;
    let now = noon(today());
    let t = timing();
    cycle(store, &delivery(), &t, "A", now).await.unwrap();
    cycle(store, &delivery(), &t, "A", now + t.repeat_interval - 1)
        .await
        .unwrap();
    assert_eq!(hook.payloads().len(), 1);
    cycle(store, &delivery(), &t, "A", now + t.repeat_interval)
        .await
        .unwrap();
    assert_eq!(hook.payloads().len(), 2, "repeated while firing");
    assert!(spike_alert(&hook.payloads()[1]).is_some());
    // Acknowledged alerts are not repeated.
    for a in store.alerts(100).await.unwrap() {
        if a.state == "firing" {
            assert!(store.acknowledge(a.id, "ops@example", now).await.unwrap());
        }
    }
    cycle(store, &delivery(), &t, "A", now + 2 * t.repeat_interval)
        .await
        .unwrap();
    assert_eq!(hook.payloads().len(), 2);
}

async fn failed_deliveries_are_retried_with_backoff(store: &Store) {
    let hook = Hook::start(2).await;
    webhook(store, &hook).await;
    baseline(store).await;
    spike_day(store).await;
    let now = noon(today());
    cycle(store, &delivery(), &timing(), "A", now)
        .await
        .unwrap();
    assert_eq!(hook.payloads().len(), 0);
    let n = &store.notifications(10).await.unwrap()[0];
    assert_eq!((n.status.as_str(), n.attempts), ("pending", 1));
    assert!(n.last_error.as_deref().unwrap().contains("500"), "{n:?}");
    // Not retried before the backoff has passed.
    deliver_due(store, &delivery(), &timing(), now + 10)
        .await
        .unwrap();
    assert_eq!(store.notifications(10).await.unwrap()[0].attempts, 1);
    deliver_due(store, &delivery(), &timing(), now + 60)
        .await
        .unwrap();
    deliver_due(store, &delivery(), &timing(), now + 60 + 120)
        .await
        .unwrap();
    let n = &store.notifications(10).await.unwrap()[0];
    assert_eq!((n.status.as_str(), n.attempts), ("sent", 3), "{n:?}");
    assert_eq!(hook.payloads().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_send_one_notification() {
    let Some(db) = support::postgres().await else {
        return;
    };
    // A second, independent connection pool to the same database: another instance.
    let url = db.url();
    let other = Store::connect(&url, 4)
        .await
        .unwrap()
        .with_sealer(support::test_sealer());
    let hook = Hook::start(0).await;
    webhook(&db.store, &hook).await;
    baseline(&db.store).await;
    spike_day(&db.store).await;
    let now = noon(today());
    let (dl, tm) = (delivery(), timing());
    for step in 0..3 {
        let t = now + step * 30;
        let (a, b) = tokio::join!(
            cycle(&db.store, &dl, &tm, "instance-a", t),
            cycle(&other, &dl, &tm, "instance-b", t)
        );
        a.unwrap();
        b.unwrap();
    }
    assert_eq!(hook.payloads().len(), 1, "{:#?}", hook.payloads());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_teams_and_email_channels_deliver() {
    use tlswatch::check::lab::{SmtpBehaviour, SmtpServer, TestCa};
    let db = support::sqlite().await;
    let store = &db.store;
    let hook = Hook::start(0).await;
    let ca = TestCa::new("mail CA");
    let smtp = SmtpServer::start(
        "127.0.0.1:0".parse().unwrap(),
        SmtpBehaviour {
            name: "localhost".into(),
            offer_starttls: true,
            starttls_code: 220,
        },
    )
    .await
    .unwrap();
    let leaf = ca.leaf(&["localhost"], -1, 30);
    smtp.certs.set("localhost", &leaf);
    smtp.certs.set_default(Some(&leaf));
    for (name, kind, config) in [
        (
            "slack",
            "slack",
            serde_json::json!({"url": format!("{}/slack", hook.url)}),
        ),
        (
            "teams",
            "teams",
            serde_json::json!({"url": format!("{}/teams", hook.url)}),
        ),
        (
            "mail",
            "email",
            serde_json::json!({"host": "localhost", "port": smtp.addr.port(), "tls": "starttls", "from": "tlswatch@watch.example", "to": ["postmaster@alerts.example"], "username": "u", "password": "p"}),
        ),
    ] {
        store
            .add_channel(
                &ChannelRow {
                    id: 0,
                    name: name.into(),
                    kind: kind.into(),
                    config,
                    domains: vec![D.into()],
                    enabled: true,
                    org_id: tlswatch::store::DEFAULT_ORG,
                },
                0,
            )
            .await
            .unwrap();
    }
    // Routed elsewhere: gets nothing.
    store
        .add_channel(
            &ChannelRow {
                id: 0,
                name: "other".into(),
                kind: "webhook".into(),
                config: serde_json::json!({"url": format!("{}/other", hook.url)}),
                domains: vec!["other.example".into()],
                enabled: true,
                org_id: tlswatch::store::DEFAULT_ORG,
            },
            0,
        )
        .await
        .unwrap();
    baseline(store).await;
    spike_day(store).await;
    let d = Delivery {
        extra_ca_pem: Some(ca.cert_pem.clone().into_bytes()),
        ..delivery()
    };
    cycle(store, &d, &timing(), "A", noon(today()))
        .await
        .unwrap();
    let got = hook.got.lock().unwrap().clone();
    let paths: Vec<&str> = got.iter().map(|g| g.0.as_str()).collect();
    assert_eq!(
        paths.iter().filter(|p| **p == "/slack").count(),
        1,
        "{paths:?}"
    );
    assert_eq!(
        paths.iter().filter(|p| **p == "/teams").count(),
        1,
        "{paths:?}"
    );
    assert!(!paths.contains(&"/other"));
    let slack: Value =
        serde_json::from_slice(&got.iter().find(|g| g.0 == "/slack").unwrap().2).unwrap();
    assert!(
        slack["text"].as_str().unwrap().contains("[FIRING]")
            && slack["text"].as_str().unwrap().contains(D)
    );
    let teams: Value =
        serde_json::from_slice(&got.iter().find(|g| g.0 == "/teams").unwrap().2).unwrap();
    assert_eq!(teams["@type"], "MessageCard");
    let mail = smtp.inbox.lock().unwrap().clone();
    assert_eq!(mail.len(), 1, "one mail over STARTTLS");
    assert!(
        mail[0].contains("Subject: [FIRING] tlswatch:") && mail[0].contains(D),
        "{}",
        mail[0]
    );
    // The send-test path.
    let id = store
        .channels()
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.name == "slack")
        .unwrap()
        .id;
    tlswatch::alerts::notify::queue_test(store, id, "admin@example", noon(today()))
        .await
        .unwrap();
    deliver_due(store, &d, &timing(), noon(today()) + 1)
        .await
        .unwrap();
    assert_eq!(
        hook.got
            .lock()
            .unwrap()
            .iter()
            .filter(|g| g.0 == "/slack")
            .count(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerting_api_and_metrics_follow_the_roles() {
    use app::auth::Role;
    let db = support::sqlite().await;
    let s = support::server_with(
        db,
        tlswatch::http::HttpSettings::local("127.0.0.1:0".parse().unwrap()),
    )
    .await;
    baseline(&s.store).await;
    spike_day(&s.store).await;
    tlswatch::alerts::evaluate(&s.store, noon(today()))
        .await
        .unwrap();
    let mut tokens = std::collections::HashMap::new();
    for role in [Role::Viewer, Role::Editor, Role::Admin] {
        let (token, hash) = tlswatch::auth::new_secret("tlsw_");
        s.store
            .add_token(role.as_str(), &hash, role, "test", 0)
            .await
            .unwrap();
        tokens.insert(role, token);
    }
    let http = reqwest::Client::new();
    let get = |path: &str, role: Option<Role>| {
        let mut r = http.get(format!("{}{path}", s.base));
        if let Some(role) = role {
            r = r.bearer_auth(&tokens[&role]);
        }
        r.send()
    };
    // The overview shows the firing alerts per domain.
    let firing = s
        .store
        .alerts(100)
        .await
        .unwrap()
        .iter()
        .filter(|a| a.state == "firing" && a.domain == D)
        .count() as i64;
    let o = tlswatch::service::stats::Stats::new(s.store.clone())
        .overview(
            &tlswatch::service::Actor::<tlswatch::service::Viewer>::operator(),
            today() - 29,
            today(),
        )
        .await
        .unwrap();
    assert!(firing >= 3);
    assert_eq!(
        o.domains.iter().find(|d| d.name == D).unwrap().alerts,
        firing
    );
    assert_eq!(get("/metrics", None).await.unwrap().status(), 401);
    let m = get("/metrics", Some(Role::Viewer))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.contains(&format!(
            "tlswatch_sessions_total{{domain=\"{D}\",result=\"failure\"}} 330"
        )),
        "{m}"
    );
    assert!(m.contains("tlswatch_failed_sessions_by_result_type_total{domain=\"alerts.example\",result_type=\"certificate-expired\"} 300"), "{m}");
    assert!(
        m.contains("tlswatch_alerts_firing{rule=\"failure_spike\",domain=\"alerts.example\"} 3"),
        "{m}"
    );
    let alerts: Value = get("/api/v1/alerts", Some(Role::Viewer))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let list = alerts["alerts"].as_array().unwrap();
    let spike = list
        .iter()
        .find(|a| {
            a["labels"]["rule"] == "failure_spike"
                && a["labels"].get("mx").is_none()
                && a["labels"].get("result_type").is_none()
        })
        .unwrap();
    assert_eq!(spike["state"], "firing");
    assert_eq!(spike["silenced"], false);
    let id = spike["id"].as_i64().unwrap();
    let post = |path: String, role: Role, body: Value| {
        http.post(format!("{}{path}", s.base))
            .bearer_auth(&tokens[&role])
            .json(&body)
            .send()
    };
    assert_eq!(
        post(
            format!("/api/v1/alerts/{id}/ack"),
            Role::Viewer,
            Value::Null
        )
        .await
        .unwrap()
        .status(),
        403
    );
    assert_eq!(
        post(
            format!("/api/v1/alerts/{id}/ack"),
            Role::Editor,
            Value::Null
        )
        .await
        .unwrap()
        .status(),
        204
    );
    let silence = serde_json::json!({"matchers": {"domain": D}, "duration_minutes": 60, "comment": "maintenance"});
    assert_eq!(
        post("/api/v1/silences".into(), Role::Viewer, silence.clone())
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        post(
            "/api/v1/silences".into(),
            Role::Editor,
            serde_json::json!({"matchers": {}, "duration_minutes": 60, "comment": "x"})
        )
        .await
        .unwrap()
        .status(),
        400
    );
    assert_eq!(
        post("/api/v1/silences".into(), Role::Editor, silence)
            .await
            .unwrap()
            .status(),
        201
    );
    let alerts: Value = get("/api/v1/alerts", Some(Role::Viewer))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(alerts["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["state"] == "firing")
        .all(|a| a["silenced"] == true));
    // Channels: admin only, secrets never returned.
    let ch = serde_json::json!({"id": 0, "name": "hook", "kind": "webhook", "config": {"url": "https://hooks.example/T0/secret-path", "secret": "s3cret"}, "domains": [], "enabled": true});
    assert_eq!(
        post("/api/v1/channels".into(), Role::Editor, ch.clone())
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(post("/api/v1/channels".into(), Role::Admin, serde_json::json!({"id": 0, "name": "bad", "kind": "webhook", "config": {"url": "ftp://x"}, "domains": [], "enabled": true})).await.unwrap().status(), 400);
    assert_eq!(
        post("/api/v1/channels".into(), Role::Admin, ch)
            .await
            .unwrap()
            .status(),
        201
    );
    assert_eq!(
        get("/api/v1/channels", Some(Role::Editor))
            .await
            .unwrap()
            .status(),
        403
    );
    let listed = get("/api/v1/channels", Some(Role::Admin))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !listed.contains("s3cret") && !listed.contains("secret-path"),
        "{listed}"
    );
    // Rules: viewer reads, editor edits.
    let rules: Value = get("/api/v1/rules", Some(Role::Viewer))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rules["rules"].as_array().unwrap().len(), 6);
    let put = |role: Role, body: Value| {
        http.put(format!("{}/api/v1/rules/1", s.base))
            .bearer_auth(&tokens[&role])
            .json(&body)
            .send()
    };
    let body = serde_json::json!({"params": {"k": 4.0, "min_sessions": 200}, "domain": null, "enabled": true});
    assert_eq!(put(Role::Viewer, body.clone()).await.unwrap().status(), 403);
    assert_eq!(
        put(
            Role::Editor,
            serde_json::json!({"params": {"k": "x"}, "domain": null, "enabled": true})
        )
        .await
        .unwrap()
        .status(),
        400
    );
    assert_eq!(put(Role::Editor, body).await.unwrap().status(), 204);
    assert_eq!(s.store.alert_rules().await.unwrap()[0].params["k"], 4.0);
    let audit = s.store.audit_log(50).await.unwrap();
    for action in ["alert.ack", "silence.add", "channel.add", "rule.update"] {
        assert!(
            audit.iter().any(|a| a.action == action),
            "{action} not audited"
        );
    }
}

#[tokio::test]
async fn a_daily_digest_goes_out_once_a_day() {
    let db = support::sqlite().await;
    let store = &db.store;
    let hook = Hook::start(0).await;
    store
        .add_channel(
            &ChannelRow {
                id: 0,
                name: "digest".into(),
                kind: "webhook".into(),
                config: serde_json::json!({"url": format!("{}/digest", hook.url), "digest": true}),
                domains: vec![],
                enabled: true,
                org_id: tlswatch::store::DEFAULT_ORG,
            },
            0,
        )
        .await
        .unwrap();
    baseline(store).await;
    let now = noon(today() - 1);
    cycle(store, &delivery(), &timing(), "A", now)
        .await
        .unwrap();
    cycle(store, &delivery(), &timing(), "A", now + 3600)
        .await
        .unwrap();
    let digests: Vec<Value> = hook
        .payloads()
        .into_iter()
        .filter(|p| p["status"] == "digest")
        .collect();
    assert_eq!(digests.len(), 1);
    let text = digests[0]["text"].as_str().unwrap();
    assert!(
        text.contains(&format!("{D}: 1000 sessions, 2 failed (0.20 %), 2 reports")),
        "{text}"
    );
    cycle(store, &delivery(), &timing(), "A", now + 86_400)
        .await
        .unwrap();
    assert_eq!(
        hook.payloads()
            .into_iter()
            .filter(|p| p["status"] == "digest")
            .count(),
        2,
        "the next day's digest"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_regressions_and_expiring_certificates_alert_and_resolve() {
    use tlswatch::check::lab::Lab;
    use tlswatch::check::run::{CheckService, ReportDestinations};
    use tlswatch::check::Checker;
    let lab = Lab::healthy("lab.example", 1).await.unwrap();
    let db = support::sqlite().await;
    let store = &db.store;
    let service = CheckService::new(
        Checker::new(lab.config.clone()).unwrap(),
        store.clone(),
        ReportDestinations::default(),
    );
    let now = tlswatch::ingest::now_unix();
    let firing = |alerts: &[tlswatch::store::alerts::AlertRow], rule: &str| {
        alerts
            .iter()
            .filter(|a| {
                a.state == "firing" && a.labels.get("rule").map(String::as_str) == Some(rule)
            })
            .cloned()
            .collect::<Vec<_>>()
    };
    service.run("lab.example", "manual").await.unwrap();
    tlswatch::alerts::evaluate(store, now).await.unwrap();
    assert!(firing(&store.alerts(100).await.unwrap(), "config_regression").is_empty());
    // The MX certificate is about to expire, and STARTTLS breaks on a second MX run.
    lab.smtp[0].certs.set(
        "mx1.lab.example",
        &lab.ca.leaf(&["mx1.lab.example"], -80, 5),
    );
    service.run("lab.example", "manual").await.unwrap();
    tlswatch::alerts::evaluate(store, now + 60).await.unwrap();
    let exp = firing(&store.alerts(100).await.unwrap(), "cert_expiry");
    assert_eq!(exp.len(), 1, "{exp:?}");
    assert_eq!(exp[0].labels["check"], "STS-SMTP-06");
    assert!(exp[0].reason.contains("expires in"), "{}", exp[0].reason);
    lab.smtp[0].set(|b| b.offer_starttls = false);
    service.run("lab.example", "manual").await.unwrap();
    tlswatch::alerts::evaluate(store, now + 120).await.unwrap();
    let reg = firing(&store.alerts(100).await.unwrap(), "config_regression");
    assert!(
        reg.iter().any(|a| a.labels["check"] == "STS-SMTP-02"),
        "{reg:?}"
    );
    // Fixed: the next run resolves both.
    lab.smtp[0].set(|b| b.offer_starttls = true);
    lab.smtp[0].certs.set(
        "mx1.lab.example",
        &lab.ca.leaf(&["mx1.lab.example"], -1, 90),
    );
    service.run("lab.example", "manual").await.unwrap();
    tlswatch::alerts::evaluate(store, now + 180).await.unwrap();
    let all = store.alerts(100).await.unwrap();
    assert!(
        firing(&all, "config_regression").is_empty() && firing(&all, "cert_expiry").is_empty(),
        "{all:?}"
    );
    assert!(all
        .iter()
        .any(|a| a.state == "resolved" && a.labels["check"] == "STS-SMTP-02"));
}

/// A channel slower than the evaluation lease: the lease is renewed while the cycle runs and
/// the notification's claim counts from the claim, so a second instance running cycles all the
/// while neither re-queues nor re-sends it (issue 12, item 6).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_slower_than_the_lease_is_notified_once() {
    let Some(db) = support::postgres().await else {
        return;
    };
    let other = Store::connect(&db.url(), 4)
        .await
        .unwrap()
        .with_sealer(support::test_sealer());
    // A webhook answering after 5 s.
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let app = axum::Router::new().fallback(axum::routing::post({
        let hits = hits.clone();
        move || async move {
            hits.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(5)).await;
            http::StatusCode::OK
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/slow", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    db.store
        .add_channel(
            &ChannelRow {
                id: 0,
                name: "slow".into(),
                kind: "webhook".into(),
                config: serde_json::json!({ "url": url }),
                domains: vec![],
                enabled: true,
                org_id: tlswatch::store::DEFAULT_ORG,
            },
            0,
        )
        .await
        .unwrap();
    baseline(&db.store).await;
    spike_day(&db.store).await;
    let now = noon(today());
    let dl = Delivery {
        timeout: Duration::from_secs(20),
        ..delivery()
    };
    let tm = Timing {
        lease_seconds: 3,
        ..timing()
    };
    let started = std::time::Instant::now();
    let (a, b) = tokio::join!(
        async {
            cycle(&db.store, &dl, &tm, "instance-a", now).await.unwrap();
        },
        async {
            // The other instance tries every half second for 9 s (three leases).
            tokio::time::sleep(Duration::from_millis(200)).await;
            while started.elapsed() < Duration::from_secs(9) {
                let t = now + started.elapsed().as_secs() as i64;
                cycle(&other, &dl, &tm, "instance-b", t).await.unwrap();
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    );
    let ((), ()) = (a, b);
    assert!(started.elapsed() >= Duration::from_secs(5));
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    let sent: Vec<_> = db
        .store
        .notifications(10)
        .await
        .unwrap()
        .into_iter()
        .filter(|n| n.status == "sent")
        .collect();
    assert_eq!(sent.len(), 1, "{sent:?}");
}
