//! Three `tlswatch` processes on one PostgreSQL, sharing nothing else: concurrent ingestion
//! through all three gives exact totals (the same report sent to two instances at once is stored
//! once); a scheduled check runs once; an alert notification goes out once; a session made on one
//! instance works on the others and signing out on one ends it everywhere.

mod support;

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::auth::Role;
use tlswatch::check::lab::Lab;

use support::{gz, report_json};

const PW: &str = "correct horse battery staple";

struct Instance {
    child: Child,
    base: String,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start(env: &[(String, String)]) -> Instance {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tlswatch"));
    cmd.args([
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--receiver-rate-per-minute",
        "1000000",
    ])
    .env("TLSWATCH_LOG", "warn")
    .env("TLSWATCH_SECRET_KEY", support::TEST_SECRET_KEY)
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().unwrap();
    let inst = Instance {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..300 {
        if let Ok(r) = reqwest::get(format!("{}/healthz", inst.base)).await {
            if r.status() == 200 {
                return inst;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("instance did not start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_on_one_postgresql() {
    let Some(db) = support::postgres().await else {
        return;
    };
    let lab = Lab::healthy("lab.example", 1).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &lab.ca.cert_pem).unwrap();
    // A webhook receiver for the alert channel.
    let got: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let g = got.clone();
    let app = axum::Router::new().fallback(axum::routing::post(move |body: axum::body::Bytes| {
        let g = g.clone();
        async move {
            g.lock()
                .unwrap()
                .push(serde_json::from_slice(&body).unwrap_or_default());
            "ok"
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let store = &db.store;
    for d in ["lab.example", "multi.example", "nowhere.example"] {
        store.add_domain(d, "manual", 0).await.unwrap();
    }
    tlswatch::auth::create_user(store, "ops@multi.example", PW, Role::Admin)
        .await
        .unwrap();
    store
        .add_channel(
            &tlswatch::store::alerts::ChannelRow {
                id: 0,
                name: "hook".into(),
                kind: "webhook".into(),
                config: serde_json::json!({"url": hook}),
                domains: vec!["multi.example".into()],
                enabled: true,
                org_id: tlswatch::store::DEFAULT_ORG,
            },
            0,
        )
        .await
        .unwrap();
    let env: Vec<(String, String)> = vec![
        ("TLSWATCH_DATABASE_URL".into(), db.url()),
        ("TLSWATCH_DATA_DIR".into(), dir.path().display().to_string()),
        ("TLSWATCH_DNS_SERVERS".into(), lab.dns.addr.to_string()),
        ("TLSWATCH_EXTRA_CA_FILE".into(), ca.display().to_string()),
        ("TLSWATCH_CHECK_ALLOW_PRIVATE".into(), "true".into()),
        (
            "TLSWATCH_CHECK_HTTPS_PORT".into(),
            lab.https.addr.port().to_string(),
        ),
        (
            "TLSWATCH_CHECK_SMTP_PORT".into(),
            lab.smtp[0].addr.port().to_string(),
        ),
        ("TLSWATCH_CHECK_INTERVAL_MINUTES".into(), "60".into()),
        ("TLSWATCH_ALERT_INTERVAL_SECONDS".into(), "1".into()),
        ("TLSWATCH_ALERT_GROUP_WAIT_SECONDS".into(), "0".into()),
        // The webhook is on loopback.
        ("TLSWATCH_ALERT_ALLOW_PRIVATE".into(), "true".into()),
    ];
    let (a, b, c) = tokio::join!(start(&env), start(&env), start(&env));
    let instances = [a, b, c];

    // Ingestion through all three at once; every report also sent to a second instance.
    let http = reqwest::Client::new();
    let today = tlswatch::domain::days::day_of(chrono::Utc::now());
    let mut expected_success = 0i64;
    let mut sends = Vec::new();
    for i in 0..300usize {
        let day = today - 1 - (i % 20) as i64;
        let success = 500 + i as u64;
        expected_success += success as i64;
        let body = gz(report_json(
            &format!("org{}.example", i % 3),
            &format!("multi-{i}"),
            "multi.example",
            &tlswatch::domain::days::format_day(day),
            success,
            &[],
        )
        .as_bytes());
        for k in [i % 3, (i + 1) % 3] {
            let (http, url, body) = (
                http.clone(),
                format!("{}/tlsrpt", instances[k].base),
                body.clone(),
            );
            sends.push(tokio::spawn(async move {
                http.post(url)
                    .header("content-type", "application/tlsrpt+gzip")
                    .body(body)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }));
        }
    }
    for s in sends {
        assert_eq!(s.await.unwrap(), 200);
    }
    let stats = store
        .domain_stats("multi.example", 0, today + 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (stats.success, stats.failure),
        (expected_success, 0),
        "exact totals"
    );
    assert_eq!(
        stats.by_reporter.iter().map(|r| r.3).sum::<i64>(),
        300,
        "each report stored once"
    );

    // The scheduled checks: all three instances started together; each domain checked once.
    for _ in 0..100 {
        let runs = (
            store.check_history("lab.example", 10).await.unwrap().len(),
            store
                .check_history("nowhere.example", 10)
                .await
                .unwrap()
                .len(),
            store
                .check_history("multi.example", 10)
                .await
                .unwrap()
                .len(),
        );
        if runs.0 >= 1 && runs.1 >= 1 && runs.2 >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for d in ["lab.example", "nowhere.example", "multi.example"] {
        assert_eq!(
            store.check_history(d, 10).await.unwrap().len(),
            1,
            "{d} checked once in the interval"
        );
    }

    // An alert: a spike yesterday after a steady baseline; three alert loops, one message.
    for d in 2..17 {
        let body = gz(report_json(
            "steady.example",
            &format!("base-{d}"),
            "multi.example",
            &tlswatch::domain::days::format_day(today - d),
            998,
            &[("starttls-not-supported", "mx1.multi.example", 2)],
        )
        .as_bytes());
        assert_eq!(
            http.post(format!("{}/tlsrpt", instances[(d % 3) as usize].base))
                .header("content-type", "application/tlsrpt+gzip")
                .body(body)
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    let spike = gz(report_json(
        "steady.example",
        "spike",
        "multi.example",
        &tlswatch::domain::days::format_day(today),
        600,
        &[("certificate-expired", "mx1.multi.example", 400)],
    )
    .as_bytes());
    assert_eq!(
        http.post(format!("{}/tlsrpt", instances[0].base))
            .header("content-type", "application/tlsrpt+gzip")
            .body(spike)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    for _ in 0..100 {
        if !got.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    let messages = got.lock().unwrap().clone();
    let firing: Vec<_> = messages
        .iter()
        .filter(|m| m["status"] == "firing")
        .collect();
    let spikes = firing
        .iter()
        .filter(|m| {
            m["alerts"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["labels"]["rule"] == "failure_spike")
        })
        .count();
    assert_eq!(
        spikes, 1,
        "the spike notified once by three instances: {messages:#?}"
    );
    // No alert in two firing messages (each notification went out once).
    let mut ids: Vec<i64> = firing
        .iter()
        .flat_map(|m| {
            m["alerts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["id"].as_i64().unwrap())
        })
        .collect();
    let n = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), n, "{messages:#?}");

    // A session made on one instance works on the others; signing out on one ends it.
    let login = http
        .post(format!("{}/api/auth/login", instances[0].base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "email=ops%40multi.example&password={}",
            PW.replace(' ', "+")
        ))
        .send()
        .await
        .unwrap();
    let cookie = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| {
            c.split(';')
                .next()
                .filter(|c| c.starts_with("tlswatch_session="))
                .map(str::to_owned)
        })
        .expect("session cookie");
    for inst in &instances {
        let r = http
            .get(format!("{}/api/v1/domains", inst.base))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "session works on {}", inst.base);
    }
    let out = http
        .post(format!("{}/api/auth/logout", instances[2].base))
        .header("cookie", &cookie)
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert!(
        out.status().is_success() || out.status().is_redirection(),
        "{}",
        out.status()
    );
    let r = http
        .get(format!("{}/api/v1/domains", instances[1].base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "signed out everywhere");
}
