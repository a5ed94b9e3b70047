//! Team access over real HTTP: which routes refuse anonymous callers, sign-in and its cookie,
//! lockout, the role matrix, API tokens, CSRF and security headers.

mod support;

use app::auth::Role;
use leptos::server_fn::ServerFn;
use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::redirect::Policy;
use tlswatch::auth::{create_user, new_secret};
use tlswatch::ingest::Limits;

use support::{report_json, server, TestServer};

const PW: &str = "correct horse battery staple";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// Signs in through the login server function; returns the session cookie (`name=value`).
async fn sign_in(s: &TestServer, email: &str, password: &str) -> (u16, Option<String>, String) {
    let r = client()
        .post(format!("{}/api/auth/login", s.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "email={}&password={}",
            email.replace('@', "%40"),
            password.replace(' ', "+")
        ))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let set_cookie = r
        .headers()
        .get(SET_COOKIE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let cookie = set_cookie
        .split(';')
        .next()
        .filter(|c| c.starts_with("tlswatch_session="))
        .map(str::to_owned);
    (status, cookie, set_cookie)
}

async fn users(s: &TestServer) {
    for (email, role) in [
        ("admin@example.com", Role::Admin),
        ("editor@example.com", Role::Editor),
        ("viewer@example.com", Role::Viewer),
    ] {
        create_user(&s.store, email, PW, role).await.unwrap();
    }
}

async fn call(s: &TestServer, method: &str, path: &str, cookie: Option<&str>, body: &str) -> u16 {
    let mut req = client()
        .request(method.parse().unwrap(), format!("{}{path}", s.base))
        .header("sec-fetch-site", "same-origin");
    if let Some(c) = cookie {
        req = req.header(COOKIE, c);
    }
    if method == "POST" {
        req = req
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned());
    }
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn anonymous_requests_are_refused_except_public_routes() {
    let s = server(Limits::default(), None, 100).await;
    // Pages redirect to sign-in; APIs and server functions answer 401.
    for path in ["/", "/upload", "/admin/users", "/admin/audit", "/anything"] {
        let r = client()
            .get(format!("{}{path}", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 303, "{path}");
        assert!(
            r.headers()["location"]
                .to_str()
                .unwrap()
                .starts_with("/login?next="),
            "{path}"
        );
    }
    for (method, path) in [
        ("POST", app::api::GetOverview::PATH),
        ("POST", app::api::ListUsers::PATH),
        ("POST", app::api::CreateToken::PATH),
        ("POST", "/api/upload"),
        ("GET", "/api/v1/domains"),
    ] {
        assert_eq!(
            call(&s, method, path, None, "").await,
            401,
            "{method} {path}"
        );
    }
    // Public.
    assert_eq!(call(&s, "GET", "/healthz", None, "").await, 200);
    assert_eq!(call(&s, "GET", "/login", None, "").await, 200);
    assert_ne!(call(&s, "POST", "/tlsrpt", None, "").await, 401);
    assert_ne!(call(&s, "GET", "/pkg/tlswatch.js", None, "").await, 303);
}

#[tokio::test]
async fn sign_in_sets_a_hardened_session_cookie_and_sign_out_ends_it() {
    let s = server(Limits::default(), None, 100).await;
    users(&s).await;
    let (status, cookie, set_cookie) = sign_in(&s, "Admin@Example.com", PW).await;
    assert!(status == 200 || status == 302, "{status} {set_cookie}");
    let cookie = cookie.expect("session cookie");
    let lower = set_cookie.to_ascii_lowercase();
    assert!(
        lower.contains("httponly") && lower.contains("samesite=lax"),
        "{set_cookie}"
    );
    assert!(
        !lower.contains("secure"),
        "not Secure on plain HTTP by default: {set_cookie}"
    );
    assert_eq!(call(&s, "GET", "/", Some(&cookie), "").await, 200);
    assert!([200, 302].contains(&call(&s, "POST", app::api::Logout::PATH, Some(&cookie), "").await));
    assert_eq!(call(&s, "GET", "/", Some(&cookie), "").await, 303);
    let log = s.store.audit_log(10).await.unwrap();
    assert!(
        log.iter()
            .any(|a| a.action == "sign-in" && a.actor == "admin@example.com"),
        "{log:?}"
    );
    assert!(log.iter().any(|a| a.action == "sign-out"), "{log:?}");
}

#[tokio::test]
async fn secure_cookies_setting_marks_the_cookie_secure() {
    let db = support::sqlite().await;
    let settings = tlswatch::http::HttpSettings {
        secure_cookies: true,
        ..tlswatch::http::HttpSettings::local("127.0.0.1:0".parse().unwrap())
    };
    let app = tlswatch::http::Application::build(db.store.clone(), settings)
        .await
        .unwrap();
    let base = format!("http://{}", app.local_addr());
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    create_user(&db.store, "a@example.com", PW, Role::Admin)
        .await
        .unwrap();
    let r = client()
        .post(format!("{base}/api/auth/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "email=a%40example.com&password={}",
            PW.replace(' ', "+")
        ))
        .send()
        .await
        .unwrap();
    assert!(r.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .to_ascii_lowercase()
        .contains("secure"));
}

#[tokio::test]
async fn repeated_failures_lock_the_account_temporarily() {
    let s = server(Limits::default(), None, 100).await;
    users(&s).await;
    for _ in 0..5 {
        let (status, cookie, _) = sign_in(&s, "viewer@example.com", "wrong password!!").await;
        assert_eq!((status, cookie), (401, None));
    }
    // The right password no longer works while locked.
    let (_, cookie, _) = sign_in(&s, "viewer@example.com", PW).await;
    assert_eq!(cookie, None);
    let u = s
        .store
        .user_by_email("viewer@example.com")
        .await
        .unwrap()
        .unwrap();
    assert!(u.locked_until.is_some());
}

#[tokio::test]
async fn roles_are_enforced_on_the_server_for_every_action() {
    let s = server(Limits::default(), None, 100).await;
    users(&s).await;
    let report = report_json("s.example", "u1", "upload.example", "2026-01-01", 1, &[]);
    let mut cookies = Vec::new();
    for who in ["viewer", "editor", "admin"] {
        cookies.push(
            sign_in(&s, &format!("{who}@example.com"), PW)
                .await
                .1
                .unwrap(),
        );
    }
    // (method, path, body, lowest role allowed)
    let matrix: Vec<(&str, &str, String, usize)> = vec![
        ("POST", app::api::GetOverview::PATH, "days=7".into(), 0),
        ("GET", "/api/v1/domains", String::new(), 0),
        ("POST", "/api/upload", report.clone(), 1),
        ("POST", app::api::ListUsers::PATH, String::new(), 2),
        ("POST", app::api::ListTokens::PATH, String::new(), 2),
        (
            "POST",
            app::api::CreateToken::PATH,
            "name=ci&role=Viewer".into(),
            2,
        ),
        ("POST", app::api::AuditLog::PATH, String::new(), 2),
        (
            "POST",
            app::api::AddUser::PATH,
            format!(
                "email=new%40example.com&password={}&role=Viewer",
                PW.replace(' ', "+")
            ),
            2,
        ),
    ];
    for (method, path, body, min) in matrix {
        for (level, cookie) in cookies.iter().enumerate() {
            let mut req = client()
                .request(method.parse().unwrap(), format!("{}{path}", s.base))
                .header("sec-fetch-site", "same-origin")
                .header(COOKIE, cookie);
            if method == "POST" {
                let ct = if path == "/api/upload" {
                    "application/octet-stream"
                } else {
                    "application/x-www-form-urlencoded"
                };
                req = req
                    .header("content-type", ct)
                    .header("x-filename", "r.json")
                    .body(body.clone());
            }
            let status = req.send().await.unwrap().status().as_u16();
            if level >= min {
                assert_eq!(status, 200, "{path} as level {level}");
            } else {
                assert_eq!(status, 403, "{path} as level {level}");
            }
        }
    }
}

#[tokio::test]
async fn api_tokens_work_on_api_v1_only_and_stop_when_revoked() {
    let s = server(Limits::default(), None, 100).await;
    let (token, hash) = new_secret("tlsw_");
    let id = s
        .store
        .add_token("ci", &hash, Role::Viewer, "test", 0)
        .await
        .unwrap();
    let get = |path: &'static str, t: String| {
        let base = s.base.clone();
        async move {
            client()
                .get(format!("{base}{path}"))
                .bearer_auth(t)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(get("/api/v1/domains", token.clone()).await, 200);
    assert_eq!(get("/", token.clone()).await, 401);
    assert_eq!(get("/api/v1/domains", "tlsw_wrong".into()).await, 401);
    assert!(s.store.tokens().await.unwrap()[0].last_used_at.is_some());
    s.store.revoke_token(id, 1).await.unwrap();
    assert_eq!(get("/api/v1/domains", token).await, 401);
}

#[tokio::test]
async fn cross_site_state_changes_are_refused() {
    let s = server(Limits::default(), None, 100).await;
    users(&s).await;
    let cookie = sign_in(&s, "admin@example.com", PW).await.1.unwrap();
    let post = |headers: Vec<(&'static str, String)>| {
        let (base, cookie) = (s.base.clone(), cookie.clone());
        async move {
            let mut r = client()
                .post(format!("{base}{}", app::api::CreateToken::PATH))
                .header(COOKIE, cookie)
                .header("content-type", "application/x-www-form-urlencoded")
                .body("name=x&role=Admin");
            for (k, v) in headers {
                r = r.header(k, v);
            }
            r.send().await.unwrap().status().as_u16()
        }
    };
    assert_eq!(
        post(vec![("origin", "http://evil.example".into())]).await,
        403
    );
    assert_eq!(
        post(vec![("sec-fetch-site", "cross-site".into())]).await,
        403
    );
    assert_eq!(
        post(vec![]).await,
        403,
        "a cookie without Origin or Fetch Metadata"
    );
    let host = s.base.trim_start_matches("http://").to_owned();
    assert_eq!(post(vec![("origin", format!("http://{host}"))]).await, 200);
    assert_eq!(s.store.tokens().await.unwrap().len(), 1);
}

#[tokio::test]
async fn pages_carry_a_strict_content_security_policy_with_a_nonce() {
    let s = server(Limits::default(), None, 100).await;
    let r = client()
        .get(format!("{}/login", s.base))
        .send()
        .await
        .unwrap();
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("frame-ancestors 'none'")
            && csp.contains("'wasm-unsafe-eval'")
            && csp.contains("default-src 'self'"),
        "{csp}"
    );
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.headers()["referrer-policy"], "no-referrer");
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .unwrap()
        .split('\'')
        .next()
        .unwrap()
        .to_owned();
    let html = r.text().await.unwrap();
    assert!(
        html.contains(&format!("nonce=\"{nonce}\"")),
        "hydration script without the nonce"
    );
}

#[tokio::test]
async fn strings_from_reports_and_users_are_rendered_as_text() {
    let s = server(Limits::default(), None, 100).await;
    users(&s).await;
    // A hostile account name, and a report whose fields carry markup.
    create_user(
        &s.store,
        "<script>alert(1)</script>@evil.example",
        PW,
        Role::Viewer,
    )
    .await
    .unwrap();
    support::import(
        &s.store,
        &support::fixture_bytes("reports/xss-organization-name.json"),
        "xss.json",
    )
    .await;
    let cookie = sign_in(&s, "admin@example.com", PW).await.1.unwrap();
    for path in ["/admin/users", "/admin/audit", "/?days=3660"] {
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
            !html.contains("<script>alert"),
            "{path} renders markup from data"
        );
        if path == "/admin/users" {
            assert!(
                html.contains("&lt;script&gt;alert(1)&lt;/script&gt;@evil.example"),
                "{path} must show the characters"
            );
        }
    }
}

#[tokio::test]
async fn the_quarantine_is_for_admins_to_download_and_reprocess() {
    let s = server(Limits::default(), None, 100).await;
    users(&s).await;
    let bad = b"{\"organization-name\": \"cut off".to_vec();
    support::import(&s.store, &bad, "bad.json").await;
    let id = s.store.list_rejected(1).await.unwrap()[0].id;
    let viewer = sign_in(&s, "viewer@example.com", PW).await.1.unwrap();
    let admin = sign_in(&s, "admin@example.com", PW).await.1.unwrap();
    let raw = |cookie: String| {
        let base = s.base.clone();
        async move {
            client()
                .get(format!("{base}/api/v1/quarantine/{id}/raw"))
                .header(COOKIE, cookie)
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(raw(viewer.clone()).await.status().as_u16(), 403);
    let r = raw(admin.clone()).await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.bytes().await.unwrap().to_vec(), bad);
    assert_eq!(
        call(&s, "POST", app::api::ListRejected::PATH, Some(&viewer), "").await,
        403
    );
    assert_eq!(
        call(
            &s,
            "POST",
            app::api::ReprocessRejected::PATH,
            Some(&viewer),
            &format!("id={id}")
        )
        .await,
        403
    );
    assert_eq!(
        call(
            &s,
            "POST",
            app::api::ReprocessRejected::PATH,
            Some(&admin),
            &format!("id={id}")
        )
        .await,
        200
    );
    assert!(s
        .store
        .audit_log(5)
        .await
        .unwrap()
        .iter()
        .any(|a| a.action == "quarantine.reprocess" && a.detail.contains("still rejected")));
}

#[tokio::test]
async fn uploads_are_bounded_and_bad_files_get_a_reason() {
    let s = server(
        Limits {
            max_input: 10_000,
            ..Limits::default()
        },
        None,
        100,
    )
    .await;
    users(&s).await;
    let editor = sign_in(&s, "editor@example.com", PW).await.1.unwrap();
    let upload = |body: Vec<u8>| {
        let (base, cookie) = (s.base.clone(), editor.clone());
        async move {
            let r = client()
                .post(format!("{base}/api/upload"))
                .header(COOKIE, cookie)
                .header("sec-fetch-site", "same-origin")
                .header("x-filename", "r%20x.json")
                .body(body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    assert_eq!(upload(vec![b' '; 20_000]).await.0, 413);
    let (status, body) = upload(b"not json at all".to_vec()).await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "rejected");
    assert!(
        v["reason"].as_str().unwrap().contains("not valid JSON"),
        "{v}"
    );
}

/// A request still carrying the cookie of a session a sign-in replaced (sent before the
/// sign-in answered, or from another tab) must not remove the new session cookie: its answer
/// carries no removal, so it cannot sign the user out again. Signing out still removes it.
#[tokio::test]
async fn a_stale_session_cookie_does_not_undo_a_sign_in() {
    let s = server(Limits::default(), None, 100).await;
    users(&s).await;
    let (_, old, _) = sign_in(&s, "admin@example.com", PW).await;
    let old = old.expect("first session");
    // Signing in again with the old cookie replaces (and deletes) the old session.
    let r = client()
        .post(format!("{}/api/auth/login", s.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .header(COOKIE, &old)
        .header("sec-fetch-site", "same-origin")
        .body(format!(
            "email=admin%40example.com&password={}",
            PW.replace(' ', "+")
        ))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let new = r
        .headers()
        .get(SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("new session cookie: {status} {:?}", r.headers()));
    assert_ne!(new, old);
    // A late request with the old cookie: signed out, and no removal cookie in its answer.
    let r = client()
        .post(format!("{}{}", s.base, app::api::Whoami::PATH))
        .header(COOKIE, &old)
        .header("sec-fetch-site", "same-origin")
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    let removal: Vec<_> = r
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .filter(|v| v.starts_with("tlswatch_session="))
        .collect();
    assert!(removal.is_empty(), "{removal:?}");
    assert_eq!(
        call(&s, "GET", "/", Some(&new), "").await,
        200,
        "still signed in"
    );
    assert_eq!(call(&s, "GET", "/", Some(&old), "").await, 303);
    // Signing out removes the cookie.
    let r = client()
        .post(format!("{}{}", s.base, app::api::Logout::PATH))
        .header(COOKIE, &new)
        .header("sec-fetch-site", "same-origin")
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    let set: Vec<_> = r
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(
        set.iter()
            .any(|v| v.starts_with("tlswatch_session=") && v.contains("Max-Age=0")),
        "{set:?}"
    );
}

#[tokio::test]
async fn a_token_use_is_recorded_to_the_minute_so_reads_do_not_write() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        tlswatch::store::Store::connect(&format!("sqlite://{}/t.db", dir.path().display()), 2)
            .await
            .unwrap();
    let (_token, hash) = new_secret("tlsw_");
    store
        .add_token("ci", &hash, Role::Viewer, "test", 0)
        .await
        .unwrap();
    let last = |store: tlswatch::store::Store| async move {
        store.tokens().await.unwrap()[0].last_used_at
    };
    assert!(store.use_token(&hash, 1_000).await.unwrap().is_some());
    assert_eq!(last(store.clone()).await, Some(1_000));
    // Within the minute: not written again.
    assert!(store.use_token(&hash, 1_059).await.unwrap().is_some());
    assert_eq!(last(store.clone()).await, Some(1_000));
    // A minute on: recorded.
    assert!(store.use_token(&hash, 1_060).await.unwrap().is_some());
    assert_eq!(last(store.clone()).await, Some(1_060));
    assert!(store
        .use_token("no such hash", 1_100)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn a_session_in_use_outlives_its_idle_time_and_a_late_save_does_not_revive_it() {
    use tower_sessions::cookie::time;
    use tower_sessions::session::Id;
    use tower_sessions::session_store::SessionStore;
    let s = server(Limits::default(), None, 100).await;
    users(&s).await;
    let (_, cookie, _) = sign_in(&s, "admin@example.com", PW).await;
    let cookie = cookie.expect("session cookie");
    let id: Id = cookie
        .trim_start_matches("tlswatch_session=")
        .parse()
        .unwrap();
    let sessions = tlswatch::store::DbSessionStore(s.store.clone());
    let now = time::OffsetDateTime::now_utc();
    // Signed in three hours ago, last moved then, due to expire in a minute.
    let mut record = sessions.load(&id).await.unwrap().expect("stored");
    let three_hours_ago = now.unix_timestamp() - 3 * 3600;
    record
        .data
        .insert("login_at".into(), three_hours_ago.into());
    record.data.insert("seen_at".into(), three_hours_ago.into());
    record.expiry_date = now + time::Duration::minutes(1);
    sessions.save(&record).await.unwrap();
    let get = |cookie: String| {
        let base = s.base.clone();
        async move {
            client()
                .get(format!("{base}/"))
                .header(COOKIE, cookie)
                .send()
                .await
                .unwrap()
        }
    };
    // Using it moves the deadline by the idle time (12 h by default) and sends the cookie again.
    let r = get(cookie.clone()).await;
    assert_eq!(r.status(), 200);
    let set = r
        .headers()
        .get(SET_COOKIE)
        .map(|v| v.to_str().unwrap().to_owned())
        .expect("the cookie is sent again with the new deadline");
    assert!(set.starts_with(&format!("{cookie};")), "{set}");
    let moved = sessions.load(&id).await.unwrap().expect("still stored");
    assert!(
        moved.expiry_date >= now + time::Duration::hours(12) - time::Duration::minutes(1),
        "{:?}",
        moved.expiry_date
    );
    // Not on every request: the next one writes nothing.
    let r = get(cookie.clone()).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get(SET_COOKIE).is_none(), "{:?}", r.headers());
    // Signed out: a request that had loaded the session before cannot save it back.
    assert!([200, 302].contains(&call(&s, "POST", app::api::Logout::PATH, Some(&cookie), "").await));
    sessions.save(&moved).await.unwrap();
    assert!(sessions.load(&id).await.unwrap().is_none());
    assert_eq!(call(&s, "GET", "/", Some(&cookie), "").await, 303);
}

/// A session of `user` (`None`: one not signed in) stored with `data`, expiring at `expiry`
/// (Unix seconds); its id.
async fn stored_session(
    store: &tlswatch::store::Store,
    data: serde_json::Value,
    expiry: i64,
) -> tower_sessions::session::Id {
    use tower_sessions::cookie::time::OffsetDateTime;
    use tower_sessions::session::{Id, Record};
    use tower_sessions::session_store::SessionStore;
    let mut record = Record {
        id: Id::default(),
        data: serde_json::from_value(data).unwrap(),
        expiry_date: OffsetDateTime::from_unix_timestamp(expiry).unwrap(),
    };
    tlswatch::store::DbSessionStore(store.clone())
        .create(&mut record)
        .await
        .unwrap();
    record.id
}

/// What every signed-in request is checked against, read in one query on each database: the
/// session unless it has expired, and the account its `user_id` names.
async fn session_with_user_reads_both_at_once(db: support::TestDb) {
    let store = &db.store;
    let now = tlswatch::ingest::now_unix();
    let editor = create_user(store, "editor@example.com", PW, Role::Editor)
        .await
        .unwrap();
    let signed_in = stored_session(
        store,
        serde_json::json!({"user_id": editor, "login_at": now - 5}),
        now + 600,
    )
    .await;
    let s = store
        .session_with_user(&signed_in.to_string(), now)
        .await
        .unwrap()
        .expect("an unexpired session");
    assert_eq!(s.data["login_at"], serde_json::json!(now - 5));
    let user = s.user.expect("its account");
    assert_eq!(
        (user.id, user.email.as_str(), user.role, user.disabled),
        (editor, "editor@example.com", Role::Editor, false)
    );
    // Disabled accounts are still read here (the service turns them away).
    store.update_user(editor, Role::Editor, true).await.unwrap();
    let s = store
        .session_with_user(&signed_in.to_string(), now)
        .await
        .unwrap()
        .unwrap();
    assert!(s.user.expect("still its account").disabled);
    // Expired, unknown: nothing.
    let expired = stored_session(store, serde_json::json!({"user_id": editor}), now - 1).await;
    assert!(store
        .session_with_user(&expired.to_string(), now)
        .await
        .unwrap()
        .is_none());
    assert!(store
        .session_with_user("no such session", now)
        .await
        .unwrap()
        .is_none());
    // Not signed in, or naming an account that does not exist: the session without one.
    for data in [
        serde_json::json!({"oidc_state": "x"}),
        serde_json::json!({"user_id": editor + 1000}),
        serde_json::json!({"user_id": null}),
    ] {
        let id = stored_session(store, data.clone(), now + 600).await;
        let s = store
            .session_with_user(&id.to_string(), now)
            .await
            .unwrap()
            .expect("an unexpired session");
        assert!(s.user.is_none(), "{data}");
        assert_eq!(
            serde_json::Value::from(s.data.into_iter().collect::<serde_json::Map<_, _>>()),
            data
        );
    }
}

#[tokio::test]
async fn session_with_user_reads_both_at_once_on_sqlite() {
    session_with_user_reads_both_at_once(support::sqlite().await).await;
}

#[tokio::test]
async fn session_with_user_reads_both_at_once_on_postgres() {
    if let Some(db) = support::postgres().await {
        session_with_user_reads_both_at_once(db).await;
    }
}

#[tokio::test]
async fn a_session_ends_at_once_when_its_account_is_disabled_or_past_its_absolute_limit() {
    use tower_sessions::session_store::SessionStore;
    let s = server(Limits::default(), None, 100).await;
    users(&s).await;
    let editor = s
        .store
        .user_by_email("editor@example.com")
        .await
        .unwrap()
        .unwrap()
        .id;
    let (_, cookie, _) = sign_in(&s, "editor@example.com", PW).await;
    let cookie = cookie.expect("session cookie");
    let id: tower_sessions::session::Id = cookie
        .trim_start_matches("tlswatch_session=")
        .parse()
        .unwrap();
    let sessions = tlswatch::store::DbSessionStore(s.store.clone());
    assert_eq!(call(&s, "GET", "/", Some(&cookie), "").await, 200);
    assert_eq!(
        call(&s, "GET", "/api/v1/domains", Some(&cookie), "").await,
        200
    );
    // Disabled: the next request is signed out and the session is gone, so enabling the
    // account again does not bring the old cookie back.
    s.store
        .update_user(editor, Role::Editor, true)
        .await
        .unwrap();
    assert_eq!(call(&s, "GET", "/", Some(&cookie), "").await, 303);
    assert_eq!(
        call(&s, "GET", "/api/v1/domains", Some(&cookie), "").await,
        401
    );
    assert!(sessions.load(&id).await.unwrap().is_none());
    s.store
        .update_user(editor, Role::Editor, false)
        .await
        .unwrap();
    assert_eq!(call(&s, "GET", "/", Some(&cookie), "").await, 303);
    // Signed in again, then past the absolute limit (7 days by default) though in use.
    let (_, cookie, _) = sign_in(&s, "editor@example.com", PW).await;
    let cookie = cookie.expect("session cookie");
    assert_eq!(call(&s, "GET", "/", Some(&cookie), "").await, 200);
    let id: tower_sessions::session::Id = cookie
        .trim_start_matches("tlswatch_session=")
        .parse()
        .unwrap();
    let mut record = sessions.load(&id).await.unwrap().expect("stored");
    let eight_days_ago = tlswatch::ingest::now_unix() - 8 * 86_400;
    record.data.insert("login_at".into(), eight_days_ago.into());
    sessions.save(&record).await.unwrap();
    assert_eq!(call(&s, "GET", "/", Some(&cookie), "").await, 303);
    assert!(sessions.load(&id).await.unwrap().is_none());
}
