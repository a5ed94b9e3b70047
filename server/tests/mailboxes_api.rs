//! `/api/v1/mailboxes` (admin): add, list, change and delete a mailbox; the password is
//! write-only (never in an answer, kept when a change leaves it out, stored sealed).

mod support;

use app::auth::Role;
use tlswatch::auth::new_secret;
use tlswatch::ingest::Limits;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailboxes_are_managed_through_the_api_with_write_only_passwords() {
    let s = support::server(Limits::default(), None, 100).await;
    let (token, hash) = new_secret("tlsw_");
    s.store
        .add_token("admin", &hash, Role::Admin, "test", 0)
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/mailboxes", s.base);

    let r = http
        .post(&url)
        .bearer_auth(&token)
        .json(&serde_json::json!({
            "name": "reports", "host": "imap.example.net", "username": "tlsrpt@example.net",
            "password": "first secret", "archive_folder": "Archive/TLSRPT"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();

    let body = http
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!body.contains("first secret"), "{body}");
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    let m = &list["mailboxes"][0];
    assert_eq!(
        (m["port"].as_i64(), m["tls"].as_str()),
        (Some(993), Some("implicit"))
    );
    assert_eq!(m["password_set"], true);
    assert_eq!(m["folder"], "INBOX");

    // A change without a password keeps it; a misspelt key is refused with its name.
    let r = http
        .put(format!("{url}/{id}"))
        .bearer_auth(&token)
        .json(&serde_json::json!({
            "name": "reports", "host": "imap.example.net", "username": "tlsrpt@example.net",
            "tls": "starttls", "poll_seconds": 600
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let stored = s.store.mailboxes().await.unwrap();
    assert_eq!(stored[0].password, "first secret");
    assert_eq!((stored[0].port, stored[0].poll_seconds), (143, 600));
    let dump = s.store.debug_dump_secret_columns().await.unwrap();
    assert!(!dump.contains("first secret"), "stored sealed: {dump}");
    let r = http
        .put(format!("{url}/{id}"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "reports", "host": "h", "username": "u", "pasword": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("pasword"));
    let r = http
        .post(&url)
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "other", "host": "imap.example.net", "username": "u", "password": "p", "tls": "none"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("implicit or starttls"));

    let r = http
        .delete(format!("{url}/{id}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(s.store.mailboxes().await.unwrap().is_empty());
    let audit: Vec<String> = s
        .store
        .audit_log(20)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.action)
        .collect();
    for action in ["mailbox.add", "mailbox.update", "mailbox.delete"] {
        assert!(audit.iter().any(|a| a == action), "{action}: {audit:?}");
    }
}
