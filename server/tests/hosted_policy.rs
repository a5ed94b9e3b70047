//! Hosted MTA-STS policies: every guard, rollback and phase-out through the REST API and the
//! policy host, with the domain's readiness and MX records from real checks in the lab; and a
//! certificate from Pebble (the ACME test server) validated with TLS-ALPN-01, served by two
//! instances sharing one database, after which the existing checks pass against tlswatch's
//! own policy host.

mod support;

use std::sync::Arc;

use app::auth::Role;
use app::hosting::PolicyChange;
use tlswatch::auth::new_secret;
use tlswatch::check::lab::{loopback, Lab};
use tlswatch::check::run::{CheckService, ReportDestinations};
use tlswatch::check::Checker;
use tlswatch::hosting::acme::{self, AcmeSettings, Challenge};
use tlswatch::hosting::tls::PolicyListener;
use tlswatch::service::policies::Policies;
use tlswatch::service::Actor;

const D: &str = "example.test";

fn checks(lab: &Lab, store: &tlswatch::store::Store) -> Arc<CheckService> {
    Arc::new(CheckService::new(
        Checker::new(lab.config.clone()).unwrap(),
        store.clone(),
        ReportDestinations {
            mailbox: None,
            public_url: None,
            receiver_secret: None,
        },
    ))
}

struct Api {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value, String) {
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
            text,
        )
    }

    async fn put(&self, body: serde_json::Value) -> (u16, serde_json::Value, String) {
        self.call(
            reqwest::Method::PUT,
            &format!("/api/v1/domains/{D}/policy"),
            Some(body),
        )
        .await
    }

    /// What the policy host answers on the HTTP listener: status, content type, body.
    async fn served(&self, host: &str, path: &str) -> (u16, String, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("host", host)
            .send()
            .await
            .unwrap();
        let ctype = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        (r.status().as_u16(), ctype, r.text().await.unwrap())
    }
}

fn day(ago: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::days(ago))
        .format("%Y-%m-%d")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guards_rollback_and_phase_out_through_the_api() {
    let lab = Lab::healthy(D, 2).await.unwrap();
    let db = support::sqlite().await;
    let settings = tlswatch::http::HttpSettings {
        checks: Some(checks(&lab, &db.store)),
        ..tlswatch::http::HttpSettings::local("127.0.0.1:0".parse().unwrap())
    };
    let s = support::server_with(db, settings).await;
    s.store.add_domain(D, "manual", 0).await.unwrap();
    let (token, hash) = new_secret("tlsw_");
    s.store
        .add_token("editor", &hash, Role::Editor, "test", 0)
        .await
        .unwrap();
    let api = Api {
        base: s.base.clone(),
        token,
        http: reqwest::Client::new(),
    };
    let (mx1, mx2) = (format!("mx1.{D}"), format!("mx2.{D}"));

    // Not hosted yet: the view says so and the policy host has nothing.
    let (status, view, _) = api
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/domains/{D}/policy"),
            None,
        )
        .await;
    assert_eq!((status, view["state"].as_str()), (200, Some("not_hosted")));
    let policy_host = format!("mta-sts.{D}");
    assert_eq!(
        api.served(&policy_host, "/.well-known/mta-sts.txt").await.0,
        404
    );

    // Version 1, testing; served exactly, with CRLF, and nothing else on that host.
    let (status, v1, text) = api
        .put(serde_json::json!({"mode": "testing", "mx": [mx1, mx2], "max_age": 86400, "comment": "start"}))
        .await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(v1["version"], 1);
    let v1_id = v1["id"].as_str().unwrap().to_owned();
    assert!(v1_id.len() <= 32 && v1_id.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(v1["txt_record"]["name"], format!("_mta-sts.{D}"));
    assert_eq!(v1["txt_record"]["value"], format!("v=STSv1; id={v1_id}"));
    let expected =
        format!("version: STSv1\r\nmode: testing\r\nmx: {mx1}\r\nmx: {mx2}\r\nmax_age: 86400\r\n");
    assert_eq!(v1["text"], expected.as_str());
    let (status, ctype, body) = api
        .served("MTA-STS.Example.TEST:443", "/.well-known/mta-sts.txt")
        .await;
    assert_eq!(
        (status, ctype.as_str(), body.as_str()),
        (200, "text/plain", expected.as_str())
    );
    assert_eq!(api.served(&policy_host, "/").await.0, 404);
    assert_eq!(api.served(&policy_host, "/api/v1/domains").await.0, 404);
    assert_eq!(api.served(&policy_host, "/login").await.0, 404);
    assert_eq!(
        api.served("mta-sts.other.test", "/.well-known/mta-sts.txt")
            .await
            .0,
        404
    );

    // Invalid content is refused with the reason, unknown keys by name.
    let (status, _, text) = api
        .put(serde_json::json!({"mode": "enforcing", "mx": [mx1], "max_age": 86400}))
        .await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("enforcing"), "{text}");
    let (status, _, text) = api
        .put(serde_json::json!({"mode": "testing", "mx": [mx1], "max_age": 86400, "maxage": 1}))
        .await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("maxage"), "{text}");
    let (status, _, text) = api
        .put(serde_json::json!({"mode": "testing", "mx": ["mx..example.test"], "max_age": 86400}))
        .await;
    assert_eq!(status, 400, "{text}");

    // The checks find the MX records; without reports the domain is not ready for enforce.
    let (status, _, text) = api
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/domains/{D}/checks"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{text}");
    let enforce = serde_json::json!({"mode": "enforce", "mx": [mx1, mx2], "max_age": 604800});
    let (status, _, text) = api.put(enforce.clone()).await;
    assert_eq!(status, 409, "{text}");
    assert!(
        text.contains("not ready for enforce") && text.contains("override_reason"),
        "{text}"
    );

    // Two reporters for 14 days, clean: ready, and enforce goes through without override.
    for ago in 1..=14 {
        for org in ["google.com", "microsoft.com"] {
            let json = support::report_json(org, &format!("{org}-{ago}"), D, &day(ago), 1000, &[]);
            let o = support::import(&s.store, json.as_bytes(), "r.json").await;
            assert_eq!(o.reports, 1, "{:?}", o.reason);
        }
    }
    let (status, v2, text) = api.put(enforce.clone()).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["overridden"], serde_json::json!([]));

    // Dropping an MX that DNS still names is refused in enforce …
    let only_mx1 = serde_json::json!({"mode": "enforce", "mx": [mx1], "max_age": 604800});
    let (status, _, text) = api.put(only_mx1.clone()).await;
    assert_eq!(status, 409, "{text}");
    assert!(text.contains(&mx2), "{text}");
    // … unless overridden with a reason, which is kept with the version and audited.
    let mut overridden = only_mx1.clone();
    overridden["override_reason"] = "mx2 is being switched off tonight".into();
    let (status, v3, text) = api.put(overridden).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(v3["version"], 3);
    assert!(v3["overridden"][0].as_str().unwrap().contains(&mx2));
    let audit = s.store.audit_log(50).await.unwrap();
    assert!(
        audit.iter().any(|e| e.action == "policy.override"
            && e.actor == "token:editor"
            && e.detail.contains("switched off tonight")),
        "{audit:?}"
    );
    // In testing the same change is a warning, not a refusal.
    let (status, v4, text) = api
        .put(serde_json::json!({"mode": "testing", "mx": [mx1], "max_age": 604800}))
        .await;
    assert_eq!(status, 200, "{text}");
    assert!(
        v4["warnings"].to_string().contains("does not cover"),
        "{v4}"
    );

    // Rollback to version 2: a new version with its content and a new id.
    let (status, v5, text) = api
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/domains/{D}/policy/rollback/2"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(v5["version"], 5);
    assert_eq!(v5["text"], v2["text"]);
    assert_ne!(v5["id"], v2["id"]);
    // Rolling back to version 3 drops mx2 again: the guard applies to rollbacks too.
    let (status, _, text) = api
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/domains/{D}/policy/rollback/3"),
            None,
        )
        .await;
    assert_eq!(status, 409, "{text}");
    let (status, _, _) = api
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/domains/{D}/policy/rollback/99"),
            None,
        )
        .await;
    assert_eq!(status, 404);

    // Lowering max_age is warned with the date senders may keep the old one until.
    let (status, v6, text) = api
        .put(serde_json::json!({"mode": "testing", "mx": [mx1, mx2], "max_age": 2}))
        .await;
    assert_eq!(status, 200, "{text}");
    assert!(
        v6["warnings"]
            .to_string()
            .contains("lowered from 604800 to 2"),
        "{v6}"
    );

    // Phase-out: mode none with the current max_age, then 404.
    let (status, v7, text) = api
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/domains/{D}/policy"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{text}");
    assert!(v7["phase_out_until"].as_i64().is_some());
    let (status, _, body) = api.served(&policy_host, "/.well-known/mta-sts.txt").await;
    assert_eq!(status, 200);
    assert!(
        body.contains("mode: none\r\n") && body.contains("max_age: 2\r\n"),
        "{body}"
    );
    let (status, _, _) = api
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/domains/{D}/policy"),
            None,
        )
        .await;
    assert_eq!(status, 409);
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    assert_eq!(
        api.served(&policy_host, "/.well-known/mta-sts.txt").await.0,
        404
    );

    // The view: history newest first, the DNS state from the latest check (the lab's record
    // names another id, so DNS lags), the state after the phase-out.
    let (status, view, text) = api
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/domains/{D}/policy"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(view["state"], "stopped");
    let versions: Vec<i64> = view["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, vec![7, 6, 5, 4, 3, 2, 1]);
    assert_eq!(view["history"][6]["comment"], "start");
    assert_eq!(
        view["history"][4]["override_reason"],
        "mx2 is being switched off tonight"
    );
    assert_eq!(view["dns"]["published_id"], "20261129000000");
    assert_eq!(view["dns"]["in_step"], false);
    assert!(
        view["dns"]["advice"].as_str().unwrap().contains("publish"),
        "{view}"
    );
    // Ids are never reused.
    let mut ids: Vec<&str> = view["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 7);

    // A viewer reads but cannot change.
    let (viewer_token, hash) = new_secret("tlsw_");
    s.store
        .add_token("viewer", &hash, Role::Viewer, "test", 0)
        .await
        .unwrap();
    let viewer = Api {
        token: viewer_token,
        ..api
    };
    assert_eq!(
        viewer
            .call(
                reqwest::Method::GET,
                &format!("/api/v1/domains/{D}/policy"),
                None
            )
            .await
            .0,
        200
    );
    assert_eq!(viewer.put(enforce).await.0, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pebble_certificate_two_instances_and_the_checks_pass_against_the_hosted_policy() {
    let lab = Lab::healthy(D, 2).await.unwrap();
    // mta-sts.<domain> is tlswatch now: a CNAME would point there; the lab's zone gives the
    // policy listeners' addresses directly.
    let (ip_a, ip_b) = (loopback(lab.block, 2), loopback(lab.block, 3));
    let db = support::sqlite().await;
    let url = format!("sqlite://{}", db.sqlite_path().display());
    let store_a = db.store.clone();
    let store_b = tlswatch::store::Store::connect(&url, 4)
        .await
        .unwrap()
        .with_sealer(support::test_sealer());
    store_a.add_domain(D, "manual", 0).await.unwrap();
    let wake: Arc<tokio::sync::Notify> = Arc::default();
    let policies_a = Policies::new(store_a.clone(), None, wake.clone());
    let policies_b = Policies::new(store_b.clone(), None, wake.clone());
    let listener_a = PolicyListener::bind((ip_a, 0).into(), store_a.clone(), policies_a.clone())
        .await
        .unwrap();
    let port = listener_a.local_addr().port();
    let listener_b = PolicyListener::bind((ip_b, port).into(), store_b.clone(), policies_b.clone())
        .await
        .unwrap();
    let (addr_a, addr_b) = (listener_a.local_addr(), listener_b.local_addr());
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(listener_a.run(stop_rx.clone()));
    tokio::spawn(listener_b.run(stop_rx.clone()));

    // Pebble validates TLS-ALPN-01 on the listeners' port at the address DNS gives: B's.
    // The challenge certificate was stored by A; B answers it from the database.
    lab.dns.edit(|z| {
        z.clear(&format!("mta-sts.{D}"))
            .ip(&format!("mta-sts.{D}"), ip_b);
    });
    // HTTP-01 goes to the HTTP listener (instance A's dashboard port) of a second domain.
    let web = tlswatch::http::Application::build(
        store_a.clone(),
        tlswatch::http::HttpSettings::local("127.0.0.1:0".parse().unwrap()),
    )
    .await
    .unwrap();
    let web_port = web.local_addr().port();
    tokio::spawn(web.run_until_stopped(std::future::pending()));
    const D2: &str = "second.test";
    lab.dns.edit(|z| {
        z.ip(&format!("mta-sts.{D2}"), "127.0.0.1".parse().unwrap());
    });
    store_a.add_domain(D2, "manual", 0).await.unwrap();
    let Some(pebble) = support::pebble::Pebble::start(lab.dns.addr, port, web_port).await else {
        return;
    };

    let mx: Vec<String> = vec![format!("mx1.{D}"), format!("mx2.{D}")];
    let published = policies_a
        .change(
            &Actor::operator(),
            D,
            &PolicyChange {
                mode: "testing".into(),
                mx: mx.clone(),
                max_age: 604_800,
                comment: "hosted by tlswatch".into(),
                override_reason: None,
            },
        )
        .await
        .unwrap();

    let settings = AcmeSettings {
        directory: pebble.directory.clone(),
        ca_file: Some(pebble.api_ca_file.clone()),
        contact: Some("postmaster@example.test".into()),
        challenge: Challenge::TlsAlpn01,
        renew_before: std::time::Duration::from_secs(30 * 86_400),
        interval: std::time::Duration::from_secs(3600),
        order_timeout: std::time::Duration::from_secs(60),
    };
    let obtained = acme::cycle(&store_a, &settings, "instance-a")
        .await
        .unwrap();
    let host = format!("mta-sts.{D}");
    let (not_after, error) = store_a.certificate_status(&host).await.unwrap();
    assert_eq!(obtained, 1, "certificate error: {error:?}");
    assert!(not_after.unwrap() > chrono::Utc::now().timestamp() + 86_400);
    // A certificate that is not due is not ordered again, by either instance.
    assert_eq!(
        acme::cycle(&store_b, &settings, "instance-b")
            .await
            .unwrap(),
        0
    );
    // The account key, the certificate key and no challenge are stored: sealed.
    let dump = store_a.debug_dump_secret_columns().await.unwrap();
    assert!(!dump.contains("PRIVATE KEY"), "{dump}");
    assert!(!dump.is_empty());

    // Both instances serve the same version with the same certificate from Pebble.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pebble.issuer_root().await).unwrap();
    let a = support::tls_fetch(addr_a, &host, "/.well-known/mta-sts.txt", roots.clone())
        .await
        .unwrap();
    let b = support::tls_fetch(addr_b, &host, "/.well-known/mta-sts.txt", roots.clone())
        .await
        .unwrap();
    assert_eq!((a.status, b.status), (200, 200), "{}", a.headers);
    assert_eq!(a.body, published.text.as_bytes());
    assert_eq!(a.body, b.body);
    assert_eq!(a.peer, b.peer);
    assert!(a
        .headers
        .to_ascii_lowercase()
        .contains("content-type: text/plain"));
    // Nothing else on that host, and no certificate for a host that is not hosted.
    let other = support::tls_fetch(addr_a, &host, "/", roots.clone())
        .await
        .unwrap();
    assert_eq!(other.status, 404);
    assert!(support::tls_fetch(
        addr_a,
        "mta-sts.other.test",
        "/.well-known/mta-sts.txt",
        roots.clone()
    )
    .await
    .is_err());

    // The domain owner publishes the TXT record; the existing checks now pass against
    // tlswatch's own policy host, trusting Pebble's root like a public CA.
    lab.dns.edit(|z| {
        z.clear(&format!("_mta-sts.{D}"))
            .txt(&format!("_mta-sts.{D}"), &[&published.txt_record.value]);
    });
    let mut config = lab.config.clone();
    config.https_port = port;
    config.roots.add(pebble.issuer_root().await).unwrap();
    let outcome = Checker::new(config).unwrap().check(D, None).await;
    let bad: Vec<String> = outcome
        .findings
        .iter()
        .filter(|f| {
            matches!(
                f.severity,
                app::health::Severity::Fail | app::health::Severity::Error
            )
        })
        .map(|f| format!("{} {} {}", f.id, f.title, f.detail))
        .collect();
    assert!(bad.is_empty(), "{bad:#?}");
    for id in [
        "STS-HOST-01",
        "STS-HOST-03",
        "STS-HTTP-01",
        "STS-POL-04",
        "STS-X-01",
    ] {
        assert!(
            outcome
                .findings
                .iter()
                .any(|f| f.id == id && f.severity == app::health::Severity::Pass),
            "{id} did not pass: {:#?}",
            outcome.findings
        );
    }
    assert_eq!(
        outcome.snapshot.sts_id.as_deref(),
        Some(published.id.as_str())
    );
    assert_eq!(outcome.snapshot.mode.as_deref(), Some("testing"));

    // Renewal: a certificate within `renew_before` of its end is replaced; the other
    // instance serves the new one once its cache (a minute) has passed.
    let before = store_a.certificate(&host).await.unwrap().unwrap();
    let renewing = AcmeSettings {
        renew_before: std::time::Duration::from_secs(3650 * 86_400),
        ..settings.clone()
    };
    assert_eq!(
        acme::cycle(&store_b, &renewing, "instance-b")
            .await
            .unwrap(),
        1
    );
    let after = store_a.certificate(&host).await.unwrap().unwrap();
    assert_ne!(before.cert_pem, after.cert_pem);
    assert!(after.updated_at >= before.updated_at);

    // HTTP-01 for a second hosted domain, answered by the HTTP listener from the database.
    policies_a
        .change(
            &Actor::operator(),
            D2,
            &PolicyChange {
                mode: "testing".into(),
                mx: vec![format!("mx.{D2}")],
                max_age: 86_400,
                comment: String::new(),
                override_reason: None,
            },
        )
        .await
        .unwrap();
    let http01 = AcmeSettings {
        challenge: Challenge::Http01,
        ..settings.clone()
    };
    let obtained = acme::cycle(&store_a, &http01, "instance-a").await.unwrap();
    let (not_after, error) = store_a
        .certificate_status(&format!("mta-sts.{D2}"))
        .await
        .unwrap();
    assert_eq!(obtained, 1, "certificate error: {error:?}");
    assert!(not_after.is_some());
    assert!(error.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_01_answers_are_served_on_the_policy_host_only_while_pending() {
    let s = support::server(tlswatch::ingest::Limits::default(), None, 100).await;
    let host = format!("mta-sts.{D}");
    s.store
        .put_challenge(&host, acme::HTTP_01, "tok123", "tok123.thumb", i64::MAX / 2)
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let get = |path: &'static str, host: String| {
        let http = http.clone();
        let base = s.base.clone();
        async move {
            let r = http
                .get(format!("{base}{path}"))
                .header("host", host)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    assert_eq!(
        get("/.well-known/acme-challenge/tok123", host.clone()).await,
        (200, "tok123.thumb".to_owned())
    );
    assert_eq!(
        get("/.well-known/acme-challenge/other", host.clone())
            .await
            .0,
        404
    );
    assert_eq!(
        get(
            "/.well-known/acme-challenge/tok123",
            "mta-sts.other.test".into()
        )
        .await
        .0,
        404
    );
    // The answer is stored sealed.
    let dump = s.store.debug_dump_secret_columns().await.unwrap();
    assert!(
        dump.starts_with("v1:") && !dump.contains("tok123.thumb"),
        "{dump}"
    );
    s.store
        .delete_challenge(&host, acme::HTTP_01)
        .await
        .unwrap();
    assert_eq!(get("/.well-known/acme-challenge/tok123", host).await.0, 404);
}
