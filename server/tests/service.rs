//! One use-case layer behind both doors (issue 13): the REST API and the UI's server functions
//! give the same answers and have the same effects, including waking the alert loop at once.

mod support;

use std::sync::Arc;
use std::time::Duration;

use app::auth::Role;
use leptos::server_fn::ServerFn;
use tlswatch::http::HttpSettings;

use support::{server_with, sqlite, TestServer};

const PW: &str = "correct horse battery staple";

struct Doors {
    s: TestServer,
    wake: Arc<tokio::sync::Notify>,
    cookie: String,
    token: String,
    http: reqwest::Client,
}

async fn doors() -> Doors {
    let db = sqlite().await;
    tlswatch::auth::create_user(&db.store, "admin@example.com", PW, Role::Admin)
        .await
        .unwrap();
    let (token, hash) = tlswatch::auth::new_secret("tlsw_");
    db.store
        .add_token("t", &hash, Role::Admin, "test", 0)
        .await
        .unwrap();
    let wake: Arc<tokio::sync::Notify> = Arc::default();
    let settings = HttpSettings {
        alert_wake: wake.clone(),
        ..HttpSettings::local("127.0.0.1:0".parse().unwrap())
    };
    let s = server_with(db, settings).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let cookie = support::login(&s.base, "admin@example.com", PW)
        .await
        .2
        .expect("session cookie");
    Doors {
        s,
        wake,
        cookie,
        token,
        http,
    }
}

impl Doors {
    async fn api(&self, method: &str, path: &str, body: serde_json::Value) -> (u16, String) {
        let r = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.s.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    async fn ui(&self, path: &str, form: &str) -> (u16, String) {
        let r = self
            .http
            .post(format!("{}{path}", self.s.base))
            .header(reqwest::header::COOKIE, &self.cookie)
            .header("sec-fetch-site", "same-origin")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_owned())
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// Forgets a wake-up left over from earlier steps.
    async fn drain(&self) {
        let _ = tokio::time::timeout(Duration::from_millis(50), self.wake.notified()).await;
    }

    /// Whether the alert loop was woken within a second.
    async fn woken(&self) -> bool {
        tokio::time::timeout(Duration::from_secs(1), self.wake.notified())
            .await
            .is_ok()
    }
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misspelt_rule_parameter_is_refused_with_its_name_by_both_doors() {
    let d = doors().await;
    let (status, body) = d
        .api(
            "PUT",
            "/api/v1/rules/1",
            serde_json::json!({"params": {"absolut_rate": 0.1}, "domain": null, "enabled": true}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("absolut_rate"), "{body}");
    let (status, body) = d
        .ui(
            app::alerting::SaveRule::PATH,
            &format!(
                "id=1&enabled=true&params={}",
                enc(r#"{"absolut_rate":0.1}"#)
            ),
        )
        .await;
    assert!(status >= 400, "{status} {body}");
    assert!(body.contains("absolut_rate"), "{body}");
    // Out of range, through both.
    let (status, body) = d
        .api(
            "PUT",
            "/api/v1/rules/1",
            serde_json::json!({"params": {"absolute_rate": 7}, "domain": null, "enabled": true}),
        )
        .await;
    assert_eq!(
        (status, body.contains("absolute_rate must be 0 to 1")),
        (400, true),
        "{body}"
    );
    // Nothing was stored by the refused changes.
    let rules = d.s.store.alert_rules().await.unwrap();
    assert_eq!(rules[0].params["absolute_rate"], 0.2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saving_a_rule_wakes_the_alert_loop_from_both_doors() {
    let d = doors().await;
    d.drain().await;
    let (status, body) = d
        .api(
            "PUT",
            "/api/v1/rules/1",
            serde_json::json!({"params": {"absolute_rate": 0.3}, "domain": null, "enabled": true}),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    assert!(d.woken().await, "API rule change did not wake the loop");
    let (status, body) = d
        .ui(
            app::alerting::SaveRule::PATH,
            &format!(
                "id=1&enabled=true&params={}",
                enc(r#"{"absolute_rate":0.4}"#)
            ),
        )
        .await;
    assert!(status < 400, "{status} {body}");
    assert!(d.woken().await, "UI rule change did not wake the loop");
    let rules = d.s.store.alert_rules().await.unwrap();
    assert_eq!(rules[0].params["absolute_rate"], 0.4);
    // Defaults are filled in: the stored parameters are the full typed set.
    assert_eq!(rules[0].params["baseline_days"], 14);
    // Both changes are audited by the use case, the UI's with the client address.
    let log = d.s.store.audit_log(10).await.unwrap();
    let updates: Vec<_> = log.iter().filter(|a| a.action == "rule.update").collect();
    assert_eq!(updates.len(), 2, "{log:?}");
    assert!(
        updates
            .iter()
            .any(|a| a.actor == "admin@example.com" && a.ip.as_deref() == Some("127.0.0.1")),
        "{updates:?}"
    );
    assert!(updates.iter().any(|a| a.actor == "token:t"), "{updates:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silences_wake_the_alert_loop_from_both_doors() {
    let d = doors().await;
    d.drain().await;
    let (status, body) = d
        .api("POST", "/api/v1/silences", serde_json::json!({"matchers": {"domain": "a.example"}, "duration_minutes": 60, "comment": "maintenance"}))
        .await;
    assert_eq!(status, 201, "{body}");
    assert!(d.woken().await, "API silence did not wake the loop");
    let id: serde_json::Value = serde_json::from_str(&body).unwrap();
    let (status, body) = d
        .ui(app::alerting::EndSilence::PATH, &format!("id={}", id["id"]))
        .await;
    assert!(status < 400, "{status} {body}");
    assert!(d.woken().await, "UI silence change did not wake the loop");
    let now = tlswatch::ingest::now_unix();
    assert!(
        d.s.store
            .silences(now)
            .await
            .unwrap()
            .iter()
            .all(|s| s.ends_at <= now),
        "the silence ended"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_test_is_queued_and_wakes_the_loop_from_both_doors() {
    let d = doors().await;
    let (status, body) = d
        .api("POST", "/api/v1/channels", serde_json::json!({"id": 0, "name": "hook", "kind": "webhook", "config": {"url": "https://hooks.example/x"}, "domains": [], "enabled": true}))
        .await;
    assert_eq!(status, 201, "{body}");
    let id: serde_json::Value = serde_json::from_str(&body).unwrap();
    let id = id["id"].as_i64().unwrap();
    d.drain().await;
    let (status, body) = d
        .api(
            "POST",
            &format!("/api/v1/channels/{id}/test"),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert!(d.woken().await, "API test did not wake the loop");
    let (status, body) = d
        .ui(app::alerting::TestChannel::PATH, &format!("id={id}"))
        .await;
    assert!(status < 400, "{status} {body}");
    assert!(d.woken().await, "UI test did not wake the loop");
    assert_eq!(d.s.store.notifications(10).await.unwrap().len(), 2);
    // Unknown ids answer 404 through the API and an error through the UI.
    assert_eq!(
        d.api("POST", "/api/v1/channels/999/test", serde_json::json!({}))
            .await
            .0,
        404
    );
    let (status, body) = d.ui(app::alerting::TestChannel::PATH, "id=999").await;
    assert!(
        status >= 400 && body.contains("no such channel"),
        "{status} {body}"
    );
}
