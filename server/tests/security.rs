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

/// How one endpoint is called in the role matrix.
struct Case {
    /// The route as the router has it (`/api/v1/rules/{id}`, a server function's path).
    template: String,
    method: &'static str,
    /// The path called (placeholders filled in).
    path: String,
    /// Form or JSON body.
    body: &'static str,
    /// The least role allowed; `None` for public endpoints.
    least: Option<Role>,
    /// The exact status at every allowed role.
    expect: u16,
}

fn case(
    method: &'static str,
    template: &str,
    path: &str,
    body: &'static str,
    least: Option<Role>,
    expect: u16,
) -> Case {
    Case {
        template: template.to_owned(),
        method,
        path: path.to_owned(),
        body,
        least,
        expect,
    }
}

/// A server function called with a form body.
fn sfn<F: ServerFn>(body: &'static str, least: Option<Role>, expect: u16) -> Case {
    case("POST", F::PATH, F::PATH, body, least, expect)
}

/// A REST route: `template` with `path` as called.
fn rest(
    method: &'static str,
    template: &str,
    path: &str,
    body: &'static str,
    least: Role,
    expect: u16,
) -> Case {
    case(method, template, path, body, Some(least), expect)
}

/// One case per endpoint the router serves; `every_route_checks_the_role_on_the_server`
/// fails when the router has an endpoint without a case here, or a case without a route.
fn routes() -> Vec<Case> {
    use app::alerting::*;
    use app::api::*;
    use app::health::*;
    use app::hosting::*;
    use Role::{Admin, Editor, Viewer};
    const SEC: &str = "/api/v1/domains/sec.example";
    vec![
        // Viewer.
        sfn::<GetOverview>("days=30", Some(Viewer), 200),
        sfn::<GetOverviewBetween>("from=2026-01-01&to=2026-01-31", Some(Viewer), 200),
        sfn::<GetTrends>("days=30", Some(Viewer), 200),
        sfn::<GetDomain>("domain=sec.example&days=30", Some(Viewer), 200),
        sfn::<GetDomainDetails>("domain=sec.example&days=30", Some(Viewer), 200),
        sfn::<GetReports>("domain=&reporter=&failures_only=false", Some(Viewer), 200),
        sfn::<GetReport>("id=999", Some(Viewer), 200),
        // This server runs without a checker: the check endpoints say so (400 / 404).
        sfn::<GetHealth>("domain=sec.example", Some(Viewer), 400),
        sfn::<GetAlerts>("", Some(Viewer), 200),
        sfn::<ChangePassword>("current=wrong&new=x", Some(Viewer), 400),
        rest("GET", "/api/v1/domains", "/api/v1/domains", "", Viewer, 200),
        rest(
            "GET",
            "/api/v1/domains/{domain}/stats",
            &format!("{SEC}/stats"),
            "",
            Viewer,
            200,
        ),
        rest(
            "GET",
            "/api/v1/domains/{domain}/checks",
            &format!("{SEC}/checks"),
            "",
            Viewer,
            404,
        ),
        rest("GET", "/api/v1/reports", "/api/v1/reports", "", Viewer, 200),
        rest(
            "GET",
            "/api/v1/reports/{id}",
            "/api/v1/reports/999",
            "",
            Viewer,
            404,
        ),
        rest(
            "GET",
            "/api/v1/reports/{id}/raw",
            "/api/v1/reports/999/raw",
            "",
            Viewer,
            404,
        ),
        rest("GET", "/api/v1/alerts", "/api/v1/alerts", "", Viewer, 200),
        rest(
            "GET",
            "/api/v1/silences",
            "/api/v1/silences",
            "",
            Viewer,
            200,
        ),
        rest("GET", "/api/v1/rules", "/api/v1/rules", "", Viewer, 200),
        rest("GET", "/metrics", "/metrics", "", Viewer, 200),
        // Editor.
        sfn::<RunCheck>("domain=unknown.example", Some(Editor), 400),
        sfn::<AckAlert>("id=999", Some(Editor), 400),
        sfn::<SilenceAlert>("id=999&minutes=60&comment=x", Some(Editor), 400),
        sfn::<EndSilence>("id=999", Some(Editor), 400),
        sfn::<SaveRule>("id=999&enabled=true&params=%7B%7D", Some(Editor), 400),
        sfn::<AddRule>(
            "name=x&kind=unknown_kind&domain=&params=%7B%7D",
            Some(Editor),
            400,
        ),
        rest(
            "POST",
            "/api/v1/rules",
            "/api/v1/rules",
            r#"{"name":"x","kind":"unknown_kind"}"#,
            Editor,
            400,
        ),
        rest(
            "POST",
            "/api/v1/domains/{domain}/checks",
            &format!("{SEC}/checks"),
            "",
            Editor,
            404,
        ),
        rest(
            "POST",
            "/api/v1/alerts/{id}/ack",
            "/api/v1/alerts/999/ack",
            "",
            Editor,
            404,
        ),
        rest(
            "POST",
            "/api/v1/silences",
            "/api/v1/silences",
            r#"{"matchers":{"domain":"sec.example"},"duration_minutes":5,"comment":"x"}"#,
            Editor,
            201,
        ),
        rest(
            "DELETE",
            "/api/v1/silences/{id}",
            "/api/v1/silences/999",
            "",
            Editor,
            404,
        ),
        rest(
            "PUT",
            "/api/v1/rules/{id}",
            "/api/v1/rules/999",
            r#"{"params":{},"domain":null,"enabled":true}"#,
            Editor,
            404,
        ),
        rest("POST", "/api/upload", "/api/upload", "", Editor, 200),
        // Admin.
        sfn::<ListUsers>("", Some(Admin), 200),
        sfn::<AddUser>(
            "email=new%40sec.example&password=x&role=Viewer",
            Some(Admin),
            400,
        ),
        sfn::<UpdateUser>("id=999&role=Viewer&disabled=false", Some(Admin), 400),
        sfn::<ListTokens>("", Some(Admin), 200),
        sfn::<CreateToken>("name=&role=Viewer", Some(Admin), 400),
        sfn::<RevokeToken>("id=999", Some(Admin), 400),
        sfn::<AuditLog>("", Some(Admin), 200),
        sfn::<ListRejected>("", Some(Admin), 200),
        sfn::<ReprocessRejected>("id=999", Some(Admin), 400),
        sfn::<SaveChannel>(
            "form%5Bid%5D=999&form%5Bname%5D=x&form%5Bkind%5D=webhook&form%5Burl%5D=https%3A%2F%2Fx.example",
            Some(Admin),
            400,
        ),
        sfn::<PreviewChannel>("kind=slack", Some(Admin), 200),
        sfn::<TestChannel>("id=999", Some(Admin), 400),
        sfn::<app::mailboxes::ListMailboxes>("", Some(Admin), 200),
        sfn::<app::mailboxes::SaveMailbox>(
            "form%5Bid%5D=999&form%5Bname%5D=m&form%5Bhost%5D=imap.sec.example&form%5Bport%5D=993&form%5Btls%5D=implicit&form%5Busername%5D=u&form%5Bfolder%5D=INBOX&form%5Bpoll_minutes%5D=5",
            Some(Admin),
            400,
        ),
        sfn::<app::mailboxes::RemoveMailbox>("id=999", Some(Admin), 400),
        sfn::<app::mailboxes::TestMailbox>("id=999", Some(Admin), 400),
        sfn::<app::mailboxes::PollMailbox>("id=999", Some(Admin), 400),
        sfn::<app::mailboxes::PreviewRetention>("id=999", Some(Admin), 400),
        rest(
            "POST",
            "/api/v1/mailboxes/{id}/test",
            "/api/v1/mailboxes/999/test",
            "",
            Admin,
            404,
        ),
        rest(
            "POST",
            "/api/v1/mailboxes/{id}/poll",
            "/api/v1/mailboxes/999/poll",
            "",
            Admin,
            404,
        ),
        rest(
            "GET",
            "/api/v1/mailboxes/{id}/retention",
            "/api/v1/mailboxes/999/retention",
            "",
            Admin,
            404,
        ),
        rest(
            "GET",
            "/admin/mailboxes/{id}/sign-in",
            "/admin/mailboxes/999/sign-in",
            "",
            Admin,
            404,
        ),
        // A state nobody started: refused.
        rest(
            "GET",
            "/oauth/mailbox",
            "/oauth/mailbox?state=forged&code=x",
            "",
            Admin,
            400,
        ),
        sfn::<DeleteChannel>("id=999", Some(Admin), 400),
        rest(
            "GET",
            "/api/v1/channels",
            "/api/v1/channels",
            "",
            Admin,
            200,
        ),
        rest(
            "POST",
            "/api/v1/channels",
            "/api/v1/channels",
            r#"{"id":0,"name":"x","kind":"webhook","config":{"url":"ftp://x"},"domains":[],"enabled":true}"#,
            Admin,
            400,
        ),
        rest(
            "DELETE",
            "/api/v1/channels/{id}",
            "/api/v1/channels/999",
            "",
            Admin,
            404,
        ),
        rest(
            "POST",
            "/api/v1/channels/{id}/test",
            "/api/v1/channels/999/test",
            "",
            Admin,
            404,
        ),
        rest(
            "GET",
            "/api/v1/quarantine/{id}/raw",
            "/api/v1/quarantine/999/raw",
            "",
            Admin,
            404,
        ),
        rest(
            "GET",
            "/api/v1/mailboxes",
            "/api/v1/mailboxes",
            "",
            Admin,
            200,
        ),
        rest(
            "POST",
            "/api/v1/mailboxes",
            "/api/v1/mailboxes",
            r#"{"name":"","host":"imap.sec.example","username":"u","password":"p"}"#,
            Admin,
            400,
        ),
        rest(
            "PUT",
            "/api/v1/mailboxes/{id}",
            "/api/v1/mailboxes/999",
            r#"{"name":"m","host":"imap.sec.example","username":"u"}"#,
            Admin,
            404,
        ),
        rest(
            "DELETE",
            "/api/v1/mailboxes/{id}",
            "/api/v1/mailboxes/999",
            "",
            Admin,
            404,
        ),
        sfn::<GetPolicy>("domain=sec.example", Some(Viewer), 200),
        sfn::<ClaimDomain>("domain=not+a+domain", Some(Editor), 400),
        sfn::<VerifyClaim>("domain=unclaimed.example", Some(Editor), 400),
        sfn::<GetClaims>("", Some(Viewer), 200),
        sfn::<PublishPolicy>(
            "domain=sec.example&mode=testing&mx=mx.sec.example&max_age=86400&comment=&override_reason=",
            Some(Editor),
            200,
        ),
        sfn::<RollbackPolicy>(
            "domain=sec.example&version=999&override_reason=",
            Some(Editor),
            400,
        ),
        sfn::<StopPolicy>("domain=unregistered.example", Some(Editor), 400),
        rest(
            "PUT",
            "/api/v1/channels/{id}",
            "/api/v1/channels/999",
            r#"{"id":0,"name":"x","kind":"webhook","config":{"url":"https://x.example"},"domains":[],"enabled":true}"#,
            Admin,
            404,
        ),
        rest(
            "GET",
            "/api/v1/domains/{domain}/policy",
            &format!("{SEC}/policy"),
            "",
            Viewer,
            200,
        ),
        rest(
            "PUT",
            "/api/v1/domains/{domain}/policy",
            &format!("{SEC}/policy"),
            r#"{"mode":"testing","mx":["mx.sec.example"],"max_age":86400}"#,
            Editor,
            200,
        ),
        rest(
            "DELETE",
            "/api/v1/domains/{domain}/policy",
            "/api/v1/domains/unregistered.example/policy",
            "",
            Editor,
            404,
        ),
        rest(
            "POST",
            "/api/v1/domains/{domain}/policy/rollback/{version}",
            &format!("{SEC}/policy/rollback/999"),
            "",
            Editor,
            404,
        ),
        // Organizations (instance admins) and claims of domains.
        rest("GET", "/api/v1/orgs", "/api/v1/orgs", "", Admin, 200),
        rest("POST", "/api/v1/orgs", "/api/v1/orgs", r#"{"name":""}"#, Admin, 400),
        rest(
            "POST",
            "/api/v1/orgs/{org}/domains",
            "/api/v1/orgs/nope/domains",
            r#"{"domain":"x.example"}"#,
            Admin,
            404,
        ),
        rest(
            "POST",
            "/api/v1/orgs/{org}/users",
            "/api/v1/orgs/nope/users",
            r#"{"email":"x@sec.example","password":"correct horse battery staple","role":"viewer"}"#,
            Admin,
            404,
        ),
        rest(
            "POST",
            "/api/v1/orgs/{org}/tokens",
            "/api/v1/orgs/nope/tokens",
            r#"{"name":"t","role":"viewer"}"#,
            Admin,
            404,
        ),
        rest("GET", "/api/v1/claims", "/api/v1/claims", "", Viewer, 200),
        rest(
            "POST",
            "/api/v1/claims",
            "/api/v1/claims",
            r#"{"domain":"not a domain"}"#,
            Editor,
            400,
        ),
        rest(
            "POST",
            "/api/v1/claims/{domain}/verify",
            "/api/v1/claims/unclaimed.example/verify",
            "",
            Editor,
            404,
        ),
        rest(
            "DELETE",
            "/api/v1/claims/{domain}",
            "/api/v1/claims/unclaimed.example",
            "",
            Admin,
            404,
        ),
        // Single sign-on is not set up on this server.
        case("GET", "/auth/oidc/start", "/auth/oidc/start", "", None, 404),
        case("GET", "/auth/oidc/callback", "/auth/oidc/callback", "", None, 404),
        sfn::<GetSignInOptions>("", None, 200),
        // Public: signing in, the first-run setup, the receiver for sending mail servers.
        // Last: signing out ends the sessions the other cases use.
        sfn::<Whoami>("", None, 200),
        sfn::<Login>("email=nobody%40sec.example&password=x", None, 401),
        sfn::<Setup>("token=wrong&email=a%40sec.example&password=x", None, 400),
        case("POST", "/tlsrpt", "/tlsrpt", "", None, 415),
        case("POST", "/tlsrpt/{secret}", "/tlsrpt/nope", "", None, 404),
        sfn::<Logout>("", None, 200),
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
    // The cases cover exactly what the router serves.
    let cases = routes();
    let served: std::collections::BTreeSet<(String, String)> = tlswatch::http::endpoints()
        .into_iter()
        .map(|(m, p)| (m.to_string(), p))
        .collect();
    let covered: std::collections::BTreeSet<(String, String)> = cases
        .iter()
        .map(|c| (c.method.to_owned(), c.template.clone()))
        .collect();
    assert_eq!(
        served.difference(&covered).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "endpoints without a case in routes()"
    );
    assert_eq!(
        covered.difference(&served).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "cases without an endpoint"
    );
    assert!(served.len() >= 50, "{} endpoints", served.len());
    let mut table = Vec::new();
    let mut wrong = Vec::new();
    for c in &cases {
        let ctype = ctype_for(&c.path);
        let body = || c.body.as_bytes().to_vec();
        let anon = call(&s, c.method, &c.path, None, ctype, body()).await;
        let mut row = vec![anon];
        // Browser routes outside /api send an anonymous visitor to the sign-in page.
        let anon_expected = match c.least {
            None => c.expect,
            Some(_) if c.path.starts_with("/api") || c.path == "/metrics" => 401,
            Some(_) => 303,
        };
        if anon != anon_expected {
            wrong.push(format!(
                "anonymous {} {}: {anon}, expected {anon_expected}",
                c.method, c.path
            ));
        }
        for (role, cookie) in &sessions {
            let got = call(&s, c.method, &c.path, Some(cookie), ctype, body()).await;
            row.push(got);
            let expected = match c.least {
                Some(least) if *role < least => 403,
                _ => c.expect,
            };
            if got != expected {
                wrong.push(format!(
                    "{role:?} {} {}: {got}, expected {expected}",
                    c.method, c.path
                ));
            }
        }
        table.push(format!(
            "{:<6} {:<45} {:?}: {row:?}",
            c.method, c.path, c.least
        ));
    }
    eprintln!(
        "route matrix (anonymous, viewer, editor, admin):\n{}",
        table.join("\n")
    );
    assert!(
        wrong.is_empty(),
        "unexpected statuses:\n{}",
        wrong.join("\n")
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
    for c in routes().into_iter().filter(|c| c.method != "GET") {
        let (method, path) = (c.method, c.path);
        let ctype = if path.starts_with("/tlsrpt") {
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
            org: None,
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
