//! Mailboxes on modern authentication, against real servers: Dovecot with its `oauth2` passdb
//! checks every token by introspection at `oidc-provider` (a certified OAuth 2.0 server), which
//! issues the tokens tlswatch obtains:
//! - client credentials (Microsoft 365 app-only) over SASL XOAUTH2 and OAUTHBEARER, a token the
//!   server refuses renewed, a refused secret turning the mailbox to "authorization needed";
//! - a Google service account's signed assertion (JWT bearer);
//! - the authorization-code flow with PKCE, driven through the provider's sign-in pages, its
//!   refresh token kept sealed, rotated, and revoked.

mod support;

use base64::Engine;
use tlswatch::ingest::imap::ImapPoller;
use tlswatch::ingest::oauth::Tokens;
use tlswatch::ingest::Limits;
use tlswatch::net::tls::client_config;
use tlswatch::service::mailboxes::Mailboxes;
use tlswatch::service::{Actor, Admin, ServiceError};
use tlswatch::store::{Mailbox, MailboxOAuth};

use support::dovecot::Dovecot;
use support::oidc::Oidc;
use support::{gz, report_json, sqlite};

const REDIRECT: &str = "http://127.0.0.1:9/oauth/mailbox";

fn report_mail(domain: &str, id: &str) -> Vec<u8> {
    let body = gz(report_json("google.example", id, domain, "2026-03-03", 7, &[]).as_bytes());
    format!(
        "From: noreply-smtp-tls-reporting@google.example\r\nTo: tlsrpt@{domain}\r\nSubject: Report Domain: {domain}\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/report; boundary=\"b1\"; report-type=tlsrpt\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nreport\r\n--b1\r\n\
         Content-Type: application/tlsrpt+gzip\r\nContent-Disposition: attachment; filename=\"google.example!{domain}!1!2!{id}.json.gz\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b1--\r\n",
        base64::engine::general_purpose::STANDARD.encode(body)
    )
    .into_bytes()
}

fn poller(d: &Dovecot) -> ImapPoller {
    let tls = client_config(Some(&d.ca_file)).unwrap();
    ImapPoller {
        tokens: Tokens::new(tls.clone(), true, std::time::Duration::from_secs(10)).unwrap(),
        tls,
        limits: Limits::default(),
    }
}

fn oauth_mailbox(
    d: &Dovecot,
    name: &str,
    auth: &str,
    secret: &str,
    oauth: MailboxOAuth,
) -> Mailbox {
    Mailbox {
        name: name.into(),
        host: "localhost".into(),
        port: d.tls_port,
        tls_mode: "implicit".into(),
        username: d.user.clone(),
        password: secret.into(),
        folder: "INBOX".into(),
        poll_seconds: 60,
        enabled: true,
        auto_register: true,
        kind: "imap".into(),
        auth: auth.into(),
        oauth,
        ..Mailbox::default()
    }
}

async fn start() -> Option<(Oidc, Dovecot)> {
    let oidc = Oidc::start("reports", REDIRECT)?;
    let url = format!(
        "http://dovecot:dovecot-secret@{}/token/introspection",
        oidc.issuer.trim_start_matches("http://")
    );
    let d = Dovecot::start_with(Some(&url)).await?;
    assert_eq!(d.user, "reports");
    Some((oidc, d))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_over_xoauth2_and_oauthbearer_renewal_and_a_refused_secret() {
    let Some((oidc, d)) = start().await else {
        return;
    };
    let db = sqlite().await;
    let p = poller(&d);
    let service = Mailboxes::new(db.store.clone()).with_poller(Some(p.clone()));
    let admin = Actor::<Admin>::operator();
    let settings = MailboxOAuth {
        token_url: format!("{}/token", oidc.issuer),
        client_id: "m365-app".into(),
        ..MailboxOAuth::default()
    };
    let id = service
        .add(
            &admin,
            oauth_mailbox(
                &d,
                "m365",
                "client_credentials",
                "m365-secret",
                settings.clone(),
            ),
        )
        .await
        .unwrap();

    // XOAUTH2: a token for the default Exchange scope, checked by Dovecot at the provider.
    d.deliver("a", &report_mail("oauth.example", "cc-1"));
    let said = service.poll_one(&admin, id).await.unwrap().unwrap();
    assert_eq!(said, "Polled: 1 imported, 0 already imported, 0 rejected.");
    assert_eq!(p.tokens.obtained(), 1);
    let m = service.list(&admin).await.unwrap().remove(0);
    let token = p.tokens.access_token(&db.store, &m).await.unwrap();
    assert_eq!(p.tokens.obtained(), 1, "the token is cached");
    let seen = oidc.introspect(&token).await;
    assert_eq!(seen["active"], true);
    assert_eq!(seen["scope"], "https://outlook.office365.com/.default");
    assert_eq!(seen["username"], "reports");

    // The server refuses the cached token (revoked at the provider): a fresh one is obtained
    // and the poll goes through.
    oidc.revoke("m365-app", "m365-secret", &token).await;
    d.deliver("b", &report_mail("oauth.example", "cc-2"));
    let said = service.poll_one(&admin, id).await.unwrap().unwrap();
    assert_eq!(said, "Polled: 1 imported, 0 already imported, 0 rejected.");
    assert_eq!(p.tokens.obtained(), 2, "one fresh token after the refusal");

    // OAUTHBEARER (RFC 7628).
    let mut m = service.list(&admin).await.unwrap().remove(0);
    m.oauth.sasl = "oauthbearer".into();
    m.password = String::new(); // kept
    service.update(&admin, m).await.unwrap();
    d.deliver("c", &report_mail("oauth.example", "cc-3"));
    let said = service.poll_one(&admin, id).await.unwrap().unwrap();
    assert_eq!(said, "Polled: 1 imported, 0 already imported, 0 rejected.");
    assert_eq!(db.store.report_count().await.unwrap(), 3);

    // A wrong client secret: the provider's error is shown and the mailbox needs
    // authorization; the scheduler leaves it alone until its settings change.
    let mut m = service.list(&admin).await.unwrap().remove(0);
    m.password = "expired-secret".into();
    service.update(&admin, m).await.unwrap();
    let failed = service.test(&admin, id).await.unwrap().unwrap_err();
    assert!(failed.contains("invalid_client"), "{failed}");
    let v = &service.view(&admin).await.unwrap()[0];
    assert_eq!(v.state, "authorization needed");
    let err = service.poll_one(&admin, id).await.unwrap().unwrap_err();
    assert!(err.contains("authorization needed"), "{err}");
    let polled = tlswatch::ingest::imap::try_execute_once(&db.store, &p)
        .await
        .unwrap();
    assert_eq!(polled, 0, "not polled while authorization is needed");
    let stats = tlswatch::service::stats::Stats::new(db.store.clone());
    let metrics = stats
        .metrics(&Actor::<tlswatch::service::Viewer>::operator())
        .await
        .unwrap();
    let mm = &metrics.mailboxes[0];
    assert!(mm.auth_required && mm.failing);
    assert_eq!(
        mm.totals.errors[0],
        (tlswatch::store::PollErrorKind::Auth, 1)
    );

    // Fixed: the right secret clears the state and polls again.
    let mut m = service.list(&admin).await.unwrap().remove(0);
    m.password = "m365-secret".into();
    service.update(&admin, m).await.unwrap();
    assert_eq!(service.view(&admin).await.unwrap()[0].state, "failing");
    let tested = service.test(&admin, id).await.unwrap().unwrap();
    assert_eq!(
        tested, "Signed in; 3 message(s) in INBOX.",
        "read, left in place"
    );

    // Secrets are sealed at rest.
    let dump = db.store.debug_dump_secret_columns().await.unwrap();
    assert!(!dump.contains("m365-secret"), "{dump}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_service_account_signs_an_assertion_for_the_mailbox() {
    let Some((oidc, d)) = start().await else {
        return;
    };
    let db = sqlite().await;
    let p = poller(&d);
    let service = Mailboxes::new(db.store.clone()).with_poller(Some(p.clone()));
    let admin = Actor::<Admin>::operator();

    // Not a key file: refused with the reason.
    let bad = service
        .add(
            &admin,
            oauth_mailbox(
                &d,
                "g",
                "service_account",
                "{\"client_email\": 1}",
                MailboxOAuth::default(),
            ),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&bad, ServiceError::Invalid(m) if m.contains("JSON key file")),
        "{bad:?}"
    );

    // The key's token_uri is the provider's; the scope defaults to Gmail's.
    let id = service
        .add(
            &admin,
            oauth_mailbox(
                &d,
                "g",
                "service_account",
                &oidc.service_account,
                MailboxOAuth::default(),
            ),
        )
        .await
        .unwrap();
    d.deliver("a", &report_mail("google-sa.example", "sa-1"));
    let said = service.poll_one(&admin, id).await.unwrap().unwrap();
    assert_eq!(said, "Polled: 1 imported, 0 already imported, 0 rejected.");
    let m = service.list(&admin).await.unwrap().remove(0);
    let token = p.tokens.access_token(&db.store, &m).await.unwrap();
    let seen = oidc.introspect(&token).await;
    assert_eq!(seen["scope"], "https://mail.google.com/");
    assert_eq!(
        seen["username"], "reports",
        "sub of the assertion: the mailbox"
    );
    let dump = db.store.debug_dump_secret_columns().await.unwrap();
    assert!(!dump.contains("PRIVATE KEY"), "the key is sealed");
}

/// Follows the provider's sign-in: login page, consent page, back to the redirect URI; the
/// `code` and `state` it carries.
async fn sign_in_at_provider(oidc: &Oidc, start: &str, login: &str) -> (String, String) {
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = oidc.walk(&http, start, login, REDIRECT).await;
    let u = url::Url::parse(&url).unwrap();
    let get = |k: &str| {
        u.query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    assert!(get("error").is_empty(), "{url}");
    (get("code"), get("state"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_once_keeps_a_refresh_token_that_rotates_and_can_be_revoked() {
    let Some((oidc, d)) = start().await else {
        return;
    };
    let db = sqlite().await;
    let p = poller(&d);
    let service = Mailboxes::new(db.store.clone()).with_poller(Some(p.clone()));
    let admin = Actor::<Admin>::operator();
    let id = service
        .add(
            &admin,
            oauth_mailbox(
                &d,
                "personal",
                "authorization_code",
                "webapp-secret",
                MailboxOAuth {
                    authorize_url: format!("{}/auth", oidc.issuer),
                    token_url: format!("{}/token", oidc.issuer),
                    client_id: "webapp".into(),
                    scope: "openid offline_access https://mail.google.com/".into(),
                    ..MailboxOAuth::default()
                },
            ),
        )
        .await
        .unwrap();

    // Before anyone signed in: authorization needed, with what to do.
    let err = service.poll_one(&admin, id).await.unwrap().unwrap_err();
    assert!(err.contains("Sign in"), "{err}");
    assert_eq!(
        service.view(&admin).await.unwrap()[0].state,
        "authorization needed"
    );

    // An unknown state is refused (the flow's CSRF guard).
    let forged = service
        .finish_sign_in(&admin, "forged", "code", REDIRECT)
        .await
        .unwrap_err();
    assert!(matches!(forged, ServiceError::Invalid(_)), "{forged:?}");

    let start = service.start_sign_in(&admin, id, REDIRECT).await.unwrap();
    assert!(start.contains("code_challenge_method=S256"), "{start}");
    let (code, state) = sign_in_at_provider(&oidc, &start, "reports").await;
    assert_eq!(
        service
            .finish_sign_in(&admin, &state, &code, REDIRECT)
            .await
            .unwrap(),
        id
    );
    // The state is used up.
    assert!(service
        .finish_sign_in(&admin, &state, &code, REDIRECT)
        .await
        .is_err());
    let first = service.list(&admin).await.unwrap().remove(0).refresh_token;
    assert!(!first.is_empty());
    assert!(!db
        .store
        .debug_dump_secret_columns()
        .await
        .unwrap()
        .contains(&first));
    let v = &service.view(&admin).await.unwrap()[0];
    assert!(v.signed_in);
    assert_eq!(
        v.state, "failing",
        "the last poll failed; no longer blocked"
    );

    d.deliver("a", &report_mail("code.example", "ac-1"));
    let said = service.poll_one(&admin, id).await.unwrap().unwrap();
    assert_eq!(said, "Polled: 1 imported, 0 already imported, 0 rejected.");
    let rotated = service.list(&admin).await.unwrap().remove(0).refresh_token;
    assert_ne!(first, rotated, "the rotated refresh token is kept");

    // Consent revoked at the provider: the next token request says invalid_grant and the
    // mailbox needs someone to sign in again.
    oidc.revoke("webapp", "webapp-secret", &rotated).await;
    p.tokens.forget(id);
    let err = service.poll_one(&admin, id).await.unwrap().unwrap_err();
    assert!(err.contains("invalid_grant"), "{err}");
    assert_eq!(
        service.view(&admin).await.unwrap()[0].state,
        "authorization needed"
    );
}

/// Microsoft Graph, against a local server following Graph's documented requests and answers
/// (tokens from the real OAuth server, checked by the Graph server through introspection).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_mailbox_pages_throttling_folders_moves_and_retention() {
    let Some(oidc) = Oidc::start("reports@tenant.example", REDIRECT) else {
        return;
    };
    let graph = support::graph::Graph::start(
        "reports@tenant.example",
        &format!("{}/token/introspection", oidc.issuer),
    )
    .await;
    let db = sqlite().await;
    let tls = client_config(Some(graph.ca_file.path())).unwrap();
    let p = ImapPoller {
        tokens: Tokens::new(tls.clone(), true, std::time::Duration::from_secs(10)).unwrap(),
        tls,
        limits: Limits::default(),
    };
    let service = Mailboxes::new(db.store.clone()).with_poller(Some(p.clone()));
    let admin = Actor::<Admin>::operator();
    graph.add(
        "m1",
        "AAMkInbox",
        "Report Domain: graph.example",
        "2026-11-30T08:00:00Z",
        &report_mail("graph.example", "g-1"),
    );
    graph.add(
        "m2",
        "AAMkInbox",
        "Report Domain: graph.example",
        "2026-11-30T09:00:00Z",
        &report_mail("graph.example", "g-2"),
    );
    graph.add(
        "m3",
        "AAMkInbox",
        "50% off",
        "2026-11-30T10:00:00Z",
        b"From: shop@example.net\r\nSubject: 50% off\r\n\r\nBuy.\r\n",
    );
    graph.add(
        "old",
        "AAMkProcessed",
        "Report Domain: old.example",
        "2025-01-01T00:00:00Z",
        b"Subject: old\r\n\r\nx\r\n",
    );

    let m = Mailbox {
        name: "m365 graph".into(),
        host: graph.base.clone(),
        port: 443,
        tls_mode: "implicit".into(),
        username: "reports@tenant.example".into(),
        password: "m365-secret".into(),
        folder: "Inbox".into(),
        // Case as typed differs from Graph's ("Processed Reports"); a missing folder is made.
        archive_folder: Some("processed reports".into()),
        rejected_folder: Some("Not Reports".into()),
        poll_seconds: 300,
        enabled: true,
        auto_register: true,
        kind: "graph".into(),
        auth: "client_credentials".into(),
        oauth: MailboxOAuth {
            token_url: format!("{}/token", oidc.issuer),
            client_id: "m365-app".into(),
            // The default is `<Graph base URL>/.default`; the test server is not Graph's URL.
            scope: "https://graph.microsoft.com/.default".into(),
            ..MailboxOAuth::default()
        },
        retention_days: Some(365),
        ..Mailbox::default()
    };
    let id = service.add(&admin, m).await.unwrap();
    assert_eq!(
        service.test(&admin, id).await.unwrap().unwrap(),
        "Signed in; 3 message(s) in Inbox."
    );

    // Dry run of retention: the old archived message is listed, nothing deleted.
    let listed = service
        .retention_preview(&admin, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        listed,
        vec![(
            "2025-01-01".to_owned(),
            "Report Domain: old.example".to_owned()
        )]
    );
    assert_eq!(graph.state.lock().unwrap().messages.len(), 4);

    let said = service.poll_one(&admin, id).await.unwrap().unwrap();
    assert_eq!(said, "Polled: 2 imported, 0 already imported, 1 rejected.");
    assert_eq!(db.store.report_count().await.unwrap(), 2);
    {
        let st = graph.state.lock().unwrap();
        assert_eq!(st.throttled, 1, "the second page was throttled and retried");
        let created = st
            .folders
            .iter()
            .find(|f| f.2 == "Not Reports")
            .expect("the rejected folder was created")
            .0
            .clone();
        let folder_of = |id: &str| {
            st.messages
                .iter()
                .find(|m| m.id == id)
                .map(|m| m.folder.clone())
        };
        assert_eq!(folder_of("m1-moved").as_deref(), Some("AAMkProcessed"));
        assert_eq!(folder_of("m2-moved").as_deref(), Some("AAMkProcessed"));
        assert_eq!(folder_of("m3-moved"), Some(created));
        assert!(
            folder_of("old").is_none(),
            "retention deleted the old archived message"
        );
        assert!(
            st.log.iter().any(|l| l.contains("/messages/m1/$value")),
            "MIME read through $value: {:?}",
            st.log
        );
        assert!(
            st.log
                .iter()
                .any(|l| l.contains("%24skip=2") || l.contains("$skip=2")),
            "{:?}",
            st.log
        );
    }

    // A token Graph refuses (revoked): renewed once, then it works again.
    let token = p
        .tokens
        .access_token(&db.store, &service.list(&admin).await.unwrap()[0])
        .await
        .unwrap();
    oidc.revoke("m365-app", "m365-secret", &token).await;
    let before = p.tokens.obtained();
    assert!(service.test(&admin, id).await.unwrap().is_ok());
    assert_eq!(p.tokens.obtained(), before + 1);

    // nextLink to another origin is not followed with the token.
    assert!(!graph
        .state
        .lock()
        .unwrap()
        .log
        .iter()
        .any(|l| l.contains("evil")));
}
