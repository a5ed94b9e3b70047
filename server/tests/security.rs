//! The security pass, scripted: every server function and every REST route called without a
//! session and with viewer, editor and admin sessions (the role matrix), an XSS probe through a
//! report, oversized and malformed bodies on every endpoint that takes one. SSRF attempts through
//! the checker are in `tests/check.rs` (`the_checker_refuses_private_addresses_unless_allowed`).

mod support;

use app::auth::Role;
use leptos::server_fn::ServerFn;
use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::redirect::Policy;
use tlswatch::auth::create_user;
use tlswatch::ingest::Limits;

use support::{import, report_json, server, TestServer};

const PW: &str = "correct horse battery staple";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

async fn sign_in(s: &TestServer, email: &str) -> String {
    let r = client()
        .post(format!("{}/api/auth/login", s.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "email={}&password={}",
            email.replace('@', "%40"),
            PW.replace(' ', "+")
        ))
        .send()
        .await
        .unwrap();
    r.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| {
            c.split(';')
                .next()
                .filter(|c| c.starts_with("tlswatch_session="))
                .map(str::to_owned)
        })
        .expect("session cookie")
}

async fn call(
    s: &TestServer,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    ctype: &str,
    body: Vec<u8>,
) -> u16 {
    let mut req = client()
        .request(method.parse().unwrap(), format!("{}{path}", s.base))
        .header("sec-fetch-site", "same-origin");
    if let Some(c) = cookie {
        req = req.header(COOKIE, c);
    }
    if method != "GET" {
        req = req.header("content-type", ctype).body(body);
    }
    req.send().await.unwrap().status().as_u16()
}

/// (method, path, form or JSON body, least role)
fn routes() -> Vec<(&'static str, String, &'static str, Role)> {
    let form = "application/x-www-form-urlencoded";
    let _ = form;
    vec![
        (
            "POST",
            app::api::GetOverview::PATH.into(),
            "days=30",
            Role::Viewer,
        ),
        (
            "POST",
            app::api::GetOverviewBetween::PATH.into(),
            "from=2026-01-01&to=2026-01-31",
            Role::Viewer,
        ),
        (
            "POST",
            app::api::GetDomain::PATH.into(),
            "domain=sec.example&days=30",
            Role::Viewer,
        ),
        (
            "POST",
            app::api::GetDomainDetails::PATH.into(),
            "domain=sec.example&days=30",
            Role::Viewer,
        ),
        (
            "POST",
            app::api::GetReports::PATH.into(),
            "domain=&reporter=&failures_only=false",
            Role::Viewer,
        ),
        (
            "POST",
            app::api::GetReport::PATH.into(),
            "id=1",
            Role::Viewer,
        ),
        (
            "POST",
            app::health::GetHealth::PATH.into(),
            "domain=sec.example",
            Role::Viewer,
        ),
        (
            "POST",
            app::alerting::GetAlerts::PATH.into(),
            "",
            Role::Viewer,
        ),
        (
            "POST",
            app::health::RunCheck::PATH.into(),
            "domain=unknown.example",
            Role::Editor,
        ),
        (
            "POST",
            app::alerting::AckAlert::PATH.into(),
            "id=999",
            Role::Editor,
        ),
        (
            "POST",
            app::alerting::SilenceAlert::PATH.into(),
            "id=999&minutes=60&comment=x",
            Role::Editor,
        ),
        (
            "POST",
            app::alerting::EndSilence::PATH.into(),
            "id=999",
            Role::Editor,
        ),
        (
            "POST",
            app::alerting::SaveRule::PATH.into(),
            "id=1&enabled=true&params=%7B%7D",
            Role::Editor,
        ),
        ("POST", app::api::ListUsers::PATH.into(), "", Role::Admin),
        ("POST", app::api::ListTokens::PATH.into(), "", Role::Admin),
        ("POST", app::api::AuditLog::PATH.into(), "", Role::Admin),
        ("POST", app::api::ListRejected::PATH.into(), "", Role::Admin),
        (
            "POST",
            app::api::ReprocessRejected::PATH.into(),
            "id=999",
            Role::Admin,
        ),
        (
            "POST",
            app::api::CreateToken::PATH.into(),
            "name=x&role=Viewer",
            Role::Admin,
        ),
        (
            "POST",
            app::api::RevokeToken::PATH.into(),
            "id=999",
            Role::Admin,
        ),
        (
            "POST",
            app::api::UpdateUser::PATH.into(),
            "id=999&role=Viewer&disabled=false",
            Role::Admin,
        ),
        (
            "POST",
            app::alerting::AddChannel::PATH.into(),
            "name=x&kind=webhook&config=%7B%7D&domains=",
            Role::Admin,
        ),
        (
            "POST",
            app::alerting::TestChannel::PATH.into(),
            "id=999",
            Role::Admin,
        ),
        (
            "POST",
            app::alerting::DeleteChannel::PATH.into(),
            "id=999",
            Role::Admin,
        ),
        ("GET", "/api/v1/domains".into(), "", Role::Viewer),
        (
            "GET",
            "/api/v1/domains/sec.example/stats".into(),
            "",
            Role::Viewer,
        ),
        (
            "GET",
            "/api/v1/domains/sec.example/checks".into(),
            "",
            Role::Viewer,
        ),
        ("GET", "/api/v1/reports".into(), "", Role::Viewer),
        ("GET", "/api/v1/reports/1".into(), "", Role::Viewer),
        ("GET", "/api/v1/reports/1/raw".into(), "", Role::Viewer),
        ("GET", "/api/v1/alerts".into(), "", Role::Viewer),
        ("GET", "/api/v1/silences".into(), "", Role::Viewer),
        ("GET", "/api/v1/rules".into(), "", Role::Viewer),
        ("GET", "/metrics".into(), "", Role::Viewer),
        (
            "POST",
            "/api/v1/domains/sec.example/checks".into(),
            "",
            Role::Editor,
        ),
        ("POST", "/api/v1/alerts/999/ack".into(), "", Role::Editor),
        (
            "POST",
            "/api/v1/silences".into(),
            r#"{"matchers":{"domain":"sec.example"},"duration_minutes":5,"comment":"x"}"#,
            Role::Editor,
        ),
        ("DELETE", "/api/v1/silences/999".into(), "", Role::Editor),
        (
            "PUT",
            "/api/v1/rules/999".into(),
            r#"{"params":{},"domain":null,"enabled":true}"#,
            Role::Editor,
        ),
        ("POST", "/api/upload".into(), "", Role::Editor),
        ("GET", "/api/v1/channels".into(), "", Role::Admin),
        (
            "POST",
            "/api/v1/channels".into(),
            r#"{"id":0,"name":"x","kind":"webhook","config":{"url":"ftp://x"},"domains":[],"enabled":true}"#,
            Role::Admin,
        ),
        ("DELETE", "/api/v1/channels/999".into(), "", Role::Admin),
        ("POST", "/api/v1/channels/999/test".into(), "", Role::Admin),
        ("GET", "/api/v1/quarantine/1/raw".into(), "", Role::Admin),
    ]
}

fn ctype_for(path: &str) -> &'static str {
    if path.starts_with("/api/v1/") {
        "application/json"
    } else if path == "/api/upload" {
        "application/octet-stream"
    } else {
        "application/x-www-form-urlencoded"
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_checks_the_role_on_the_server() {
    let s = server(Limits::default(), None, 100).await;
    s.store
        .add_domain("sec.example", "manual", 0)
        .await
        .unwrap();
    let mut sessions = Vec::new();
    for (email, role) in [
        ("viewer@sec.example", Role::Viewer),
        ("editor@sec.example", Role::Editor),
        ("admin@sec.example", Role::Admin),
    ] {
        create_user(&s.store, email, PW, role).await.unwrap();
        sessions.push((role, sign_in(&s, email).await));
    }
    let mut table = Vec::new();
    for (method, path, body, least) in routes() {
        let ctype = ctype_for(&path);
        let anon = call(&s, method, &path, None, ctype, body.as_bytes().to_vec()).await;
        assert_eq!(anon, 401, "anonymous {method} {path}");
        let mut row = vec![anon];
        for (role, cookie) in &sessions {
            let got = call(
                &s,
                method,
                &path,
                Some(cookie),
                ctype,
                body.as_bytes().to_vec(),
            )
            .await;
            row.push(got);
            if *role < least {
                assert_eq!(got, 403, "{role:?} {method} {path} needs {least:?}");
            } else {
                assert!(
                    got != 401 && got != 403 && got < 500,
                    "{role:?} {method} {path}: {got}"
                );
            }
        }
        table.push(format!("{method:<6} {path:<60} {least:?}: {row:?}"));
    }
    eprintln!(
        "route matrix (anonymous, viewer, editor, admin):\n{}",
        table.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_malformed_bodies_get_clear_4xx() {
    let limits = Limits {
        max_input: 100_000,
        ..Limits::default()
    };
    let s = server(limits, None, 1000).await;
    s.store
        .add_domain("sec.example", "manual", 0)
        .await
        .unwrap();
    create_user(&s.store, "admin@sec.example", PW, Role::Admin)
        .await
        .unwrap();
    let cookie = sign_in(&s, "admin@sec.example").await;
    let big = vec![b'a'; 300_000];
    let garbage = b"\x00\xff{{{not json or a form".to_vec();
    let mut posts: Vec<String> = routes()
        .into_iter()
        .filter(|r| r.0 != "GET")
        .map(|r| r.1)
        .collect();
    posts.push("/tlsrpt".into());
    for path in posts {
        let method = if path.contains("/rules/") {
            "PUT"
        } else if path.ends_with("/999")
            && (path.contains("silences") || path.contains("channels/999"))
            && !path.ends_with("/test")
        {
            "DELETE"
        } else {
            "POST"
        };
        let ctype = if path == "/tlsrpt" {
            "application/tlsrpt+gzip"
        } else {
            ctype_for(&path)
        };
        let got = call(&s, method, &path, Some(&cookie), ctype, big.clone()).await;
        assert!(
            got == 413 || (400..500).contains(&got) || method == "DELETE",
            "oversized {method} {path}: {got}"
        );
        let got = call(&s, method, &path, Some(&cookie), ctype, garbage.clone()).await;
        assert!(
            (200..500).contains(&got),
            "malformed {method} {path}: {got}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strings_from_reports_are_escaped_everywhere() {
    let s = server(Limits::default(), None, 100).await;
    create_user(&s.store, "viewer@sec.example", PW, Role::Viewer)
        .await
        .unwrap();
    let probe = "<script>alert(1)</script><img src=x onerror=alert(2)>";
    let json = report_json(
        &format!("evil{probe}.example"),
        &format!("id{probe}"),
        "xss.example",
        "2026-05-01",
        5,
        &[("certificate-expired", "mx1.xss.example", 1)],
    )
    .replace(
        "mx1.xss.example\"",
        &format!("mx1{}\"", probe.replace('"', "")),
    );
    import(&s.store, json.as_bytes(), "xss.json").await;
    let cookie = sign_in(&s, "viewer@sec.example").await;
    let reports = s
        .store
        .reports(&tlswatch::store::ReportFilter {
            domain: None,
            reporter: None,
            from: None,
            to: None,
            failures_only: false,
            limit: 10,
        })
        .await
        .unwrap();
    let id = reports[0].id;
    for path in [
        "/?days=3660".to_string(),
        "/reports".into(),
        format!("/reports/{id}"),
        "/domains/xss.example?days=3660".into(),
        "/alerts".into(),
    ] {
        let html = client()
            .get(format!("{}{path}", s.base))
            .header(COOKIE, &cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            !html.contains("<script>alert(1)"),
            "{path} renders the probe as markup"
        );
        assert!(
            !html.contains("<img src=x onerror"),
            "{path} renders the probe as markup"
        );
    }
    // The report page shows it, as text.
    let html = client()
        .get(format!("{}/reports/{id}", s.base))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "the probe is shown escaped"
    );
}
