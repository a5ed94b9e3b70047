//! Single sign-on against a real OpenID provider (`oidc-provider` from npm, started by the
//! test): the browser's round trip through its login and consent pages, claims placing the
//! user in an organization with a role, refusals with a clear page, both token endpoint
//! authentication methods, and local passwords turned off.

mod support;

use leptos::server_fn::ServerFn;
use tlswatch::auth::oidc::{Sso, SsoSettings};
use tlswatch::service::orgs::Orgs;
use tlswatch::service::{Actor, InstanceAdmin};

use support::oidc::Oidc;
use support::{sqlite, TestDb};

fn settings(issuer: &str, client: &str, secret: &str, post: bool) -> SsoSettings {
    SsoSettings {
        issuer: issuer.to_owned(),
        client_id: client.to_owned(),
        client_secret: Some(secret.to_owned()),
        post_secret: post,
        scopes: vec!["email".into(), "groups".into(), "tlswatch".into()],
        org_claim: Some("tlswatch.org".into()),
        role_claim: Some("tlswatch.role".into()),
        default_role: app::auth::Role::Viewer,
        groups_claim: "groups".into(),
        allowed_groups: vec!["tlswatch-users".into()],
        button: "Sign in with Example ID".into(),
    }
}

fn tls() -> std::sync::Arc<rustls::ClientConfig> {
    tlswatch::net::tls::client_config(None).unwrap()
}

/// A free loopback port (the provider must know the redirect URI before tlswatch starts).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Running {
    base: String,
    db: TestDb,
    oidc: Oidc,
    _task: tokio::task::JoinHandle<()>,
}

/// tlswatch with single sign-on through `oidc-provider`; `None` when the provider is missing
/// and not required.
async fn start(local_passwords: bool) -> Option<Running> {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let oidc = Oidc::start_with(
        "reports",
        "http://127.0.0.1:9/oauth/mailbox",
        &format!("{base}/auth/oidc/callback"),
    )?;
    let db = sqlite().await;
    let orgs = Orgs::new(db.store.clone(), None);
    orgs.add(&Actor::<InstanceAdmin>::operator(), "acme")
        .await
        .unwrap();
    let sso = Sso::new(
        settings(&oidc.issuer, "tlswatch-sso", "sso-secret", false),
        tls(),
    )
    .unwrap();
    let app = tlswatch::http::Application::build(
        db.store.clone(),
        tlswatch::http::HttpSettings {
            sso: Some(sso),
            local_passwords,
            ..tlswatch::http::HttpSettings::local(format!("127.0.0.1:{port}").parse().unwrap())
        },
    )
    .await
    .unwrap();
    let task = tokio::spawn(async move {
        let _ = app.run_until_stopped(std::future::pending()).await;
    });
    Some(Running {
        base,
        db,
        oidc,
        _task: task,
    })
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A browser signing in as `login` at the provider, starting at tlswatch's button with
/// `next`: the status of tlswatch's answer at the callback, where it sends the browser, and
/// the page it shows.
async fn sso_sign_in(
    r: &Running,
    http: &reqwest::Client,
    login: &str,
    next: &str,
) -> (u16, String, String) {
    let start = format!(
        "{}/auth/oidc/start?next={}",
        r.base,
        app::auth::urlencode(next)
    );
    let callback = r
        .oidc
        .walk(
            http,
            &start,
            login,
            &format!("{}/auth/oidc/callback", r.base),
        )
        .await;
    let answer = http
        .get(&callback)
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    let location = answer
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, location, answer.text().await.unwrap())
}

async fn whoami(r: &Running, http: &reqwest::Client) -> serde_json::Value {
    let text = http
        .post(format!("{}{}", r.base, app::api::Whoami::PATH))
        .header("sec-fetch-site", "same-origin")
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_provider_signs_people_in_to_the_organization_and_role_its_claims_say() {
    let Some(r) = start(true).await else {
        return;
    };
    let acme = r.db.store.org_by_name("acme").await.unwrap().unwrap().id;

    // The sign-in page offers the button.
    let options = browser()
        .post(format!("{}{}", r.base, app::api::GetSignInOptions::PATH))
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        options.contains("Sign in with Example ID") && options.contains("\"passwords\":true"),
        "{options}"
    );

    // alice: in the allowed group, acme's editor.
    let alice = browser();
    let (status, location, _) = sso_sign_in(&r, &alice, "alice", "/alerts?from=sso").await;
    assert_eq!((status, location.as_str()), (303, "/alerts?from=sso"));
    let me = whoami(&r, &alice).await;
    assert_eq!(me["email"], "alice@acme.example", "{me}");
    assert_eq!(me["role"], "Editor", "{me}");
    assert_eq!(me["org"], acme, "{me}");
    assert_eq!(me["instance_admin"], false);
    // The account exists now, without a password of its own.
    let user =
        r.db.store
            .user_by_email("alice@acme.example")
            .await
            .unwrap()
            .unwrap();
    assert_eq!(user.org_id, acme);
    assert!(!tlswatch::auth::verify_password("", &user.password_hash));
    let (st, _, _) = support::login(&r.base, "alice@acme.example", "").await;
    assert_ne!(st, 200);
    // A second sign-in finds the same account.
    let again = browser();
    assert_eq!(sso_sign_in(&r, &again, "alice", "/").await.0, 303);
    assert_eq!(
        r.db.store
            .users()
            .await
            .unwrap()
            .iter()
            .filter(|u| u.email == "alice@acme.example")
            .count(),
        1
    );

    // Refusals: each with its reason on a page, and no session.
    for (login, words) in [
        ("bob", "not in a group allowed"),
        ("carol", "\"initech\" is not set up"),
        ("dave", "role \"superuser\""),
        ("erin", "not verified"),
    ] {
        let http = browser();
        let (status, _, page) = sso_sign_in(&r, &http, login, "/").await;
        assert_eq!(status, 403, "{login}: {page}");
        let page = page.replace("&quot;", "\"");
        assert!(page.contains(words), "{login}: {page}");
        assert!(page.contains("id=\"sso-error\""));
        assert!(whoami(&r, &http).await.is_null(), "{login} is signed out");
    }
    assert!(r
        .db
        .store
        .user_by_email("bob@acme.example")
        .await
        .unwrap()
        .is_none());

    // A callback without a sign-in under way (or a forged state) is refused.
    let http = browser();
    let forged = http
        .get(format!(
            "{}/auth/oidc/callback?code=abc&state=forged",
            r.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 400);
    assert!(forged.text().await.unwrap().contains("start it again"));
    // The provider's own error is shown, escaped.
    let said = http
        .get(format!(
            "{}/auth/oidc/callback?error=access_denied&error_description=%3Cscript%3Ex%3C%2Fscript%3E",
            r.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(said.status().as_u16(), 403);
    let page = said.text().await.unwrap();
    assert!(
        page.contains("&lt;script&gt;") && !page.contains("<script>x"),
        "{page}"
    );

    // Audited.
    let log = r.db.store.audit_log(50).await.unwrap();
    assert!(log
        .iter()
        .any(|e| e.action == "sign-in.sso" && e.actor == "alice@acme.example"));
    assert!(
        log.iter().any(|e| e.action == "sign-in.sso.refused"),
        "{log:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_secret_post_and_passwords_turned_off() {
    let Some(r) = start(false).await else {
        return;
    };
    // Local passwords off: the page has no password form, the password sign-in is refused,
    // even for an account that has one.
    tlswatch::auth::create_user(
        &r.db.store,
        "ops@example.com",
        "correct horse battery staple",
        app::auth::Role::Admin,
    )
    .await
    .unwrap();
    let (st, body, _) =
        support::login(&r.base, "ops@example.com", "correct horse battery staple").await;
    assert_eq!(st, 401, "{body}");
    assert!(body.contains("single sign-on"), "{body}");
    let options = browser()
        .post(format!("{}{}", r.base, app::api::GetSignInOptions::PATH))
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(options.contains("\"passwords\":false"), "{options}");
    // Single sign-on still works.
    let http = browser();
    assert_eq!(sso_sign_in(&r, &http, "alice", "/").await.0, 303);

    // Both token endpoint authentication methods, against the same provider (the flow by
    // hand): the provider's wrapper records which one each request used.
    let redirect = format!("{}/auth/oidc/callback", r.base);
    for (client, secret, post, method) in [
        (
            "tlswatch-sso-post",
            "sso-post-secret",
            true,
            "client_secret_post",
        ),
        ("tlswatch-sso", "sso-secret", false, "client_secret_basic"),
    ] {
        let sso = Sso::new(settings(&r.oidc.issuer, client, secret, post), tls()).unwrap();
        let (url, pending) = sso.start(&redirect, "/").await.unwrap();
        let http = browser();
        let back = r.oidc.walk(&http, &url, "alice", &redirect).await;
        let u = url::Url::parse(&back).unwrap();
        let q = |k: &str| {
            u.query_pairs()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.into_owned())
                .unwrap()
        };
        let who = sso
            .finish(pending, &q("code"), &q("state"), &redirect)
            .await
            .unwrap();
        assert_eq!(who.email, "alice@acme.example");
        assert_eq!(who.claims["tlswatch"]["role"], "editor", "{:?}", who.claims);
        let used: serde_json::Value = reqwest::get(format!("{}/test/token-auth", r.oidc.issuer))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(used[client], method, "{used}");
    }
    // A wrong secret: the exchange is refused, and said so.
    let sso = Sso::new(
        settings(&r.oidc.issuer, "tlswatch-sso", "wrong", false),
        tls(),
    )
    .unwrap();
    let (url, pending) = sso.start(&redirect, "/").await.unwrap();
    let back = r.oidc.walk(&browser(), &url, "alice", &redirect).await;
    let u = url::Url::parse(&back).unwrap();
    let q = |k: &str| {
        u.query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
            .unwrap()
    };
    let err = sso
        .finish(pending, &q("code"), &q("state"), &redirect)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("refused"), "{err}");
}
