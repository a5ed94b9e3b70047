//! Organizations: each sees only its own domains and things. A route × role × organization
//! matrix derived from the router (every templated REST route and every server function that
//! names a thing), the lists, exports, `/metrics` and alert texts, and the DNS proof of a
//! domain against a DNS server on loopback.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use app::auth::Role;
use leptos::server_fn::ServerFn;
use reqwest::header::{AUTHORIZATION, COOKIE, SET_COOKIE};
use reqwest::redirect::Policy;
use tlswatch::check::lab::{DnsServer, Zone};
use tlswatch::check::run::{CheckService, ReportDestinations};
use tlswatch::check::{Checker, CheckerConfig};
use tlswatch::ingest::sha256_hex;
use tlswatch::service::orgs::Orgs;
use tlswatch::service::{Actor, Editor, InstanceAdmin};
use tlswatch::store::alerts::{Active, ChannelRow, SilenceRow};
use tlswatch::store::{Mailbox, Store};

use support::{import, report_json, server_with, sqlite, TestServer};

const PW: &str = "correct horse battery staple";
const A: &str = "a-domain.example";
const B: &str = "b-domain.example";
const MISSING: &str = "missing-domain.example";
const MISSING_ID: i64 = 987_654;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

async fn sign_in(base: &str, email: &str) -> String {
    let r = client()
        .post(format!("{base}/api/auth/login"))
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
        .unwrap_or_else(|| panic!("no session for {email}"))
}

/// How a caller presents itself.
#[derive(Clone)]
enum Caller {
    Session(String),
    Token(String),
}

async fn call(
    base: &str,
    who: &Caller,
    method: &str,
    path: &str,
    ctype: &str,
    body: &str,
) -> (u16, String) {
    let mut req = client()
        .request(method.parse().unwrap(), format!("{base}{path}"))
        .header("sec-fetch-site", "same-origin");
    req = match who {
        Caller::Session(c) => req.header(COOKIE, c),
        Caller::Token(t) => req.header(AUTHORIZATION, format!("Bearer {t}")),
    };
    if method != "GET" {
        req = req.header("content-type", ctype).body(body.to_owned());
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

/// Two organizations with a domain, reports, users, a token and one of each thing.
struct World {
    s: TestServer,
    dns: DnsServer,
    acme: i64,
    globex: i64,
    /// Organization B's things, by kind.
    b_ids: BTreeMap<&'static str, i64>,
    /// Organization A's callers by role, then A's viewer token.
    a_callers: Vec<(String, Caller)>,
    /// A's admin, B's admin, the instance admin (default organization).
    a_admin: Caller,
    b_admin: Caller,
    instance: Caller,
}

fn checker_for(dns: &DnsServer) -> Checker {
    let mut config = CheckerConfig::new(tlswatch::net::tls::roots(None).unwrap());
    config.dns_servers = vec![dns.addr];
    config.dns_timeout = std::time::Duration::from_secs(2);
    config.allow_private = true;
    Checker::new(config).unwrap()
}

async fn token(store: &Store, name: &str, role: Role, org: i64) -> String {
    let token = format!("tlsw_test_{name}");
    store
        .add_org_token(
            name,
            &sha256_hex(token.as_bytes()),
            role,
            org,
            false,
            "test",
            0,
        )
        .await
        .unwrap();
    token
}

async fn world() -> World {
    world_on(sqlite().await).await
}

async fn world_on(db: support::TestDb) -> World {
    let dns = DnsServer::start("127.0.0.1".parse().unwrap(), Zone::new())
        .await
        .unwrap();
    let store = db.store.clone();
    let checks = Arc::new(CheckService::new(
        checker_for(&dns),
        store.clone(),
        ReportDestinations {
            mailbox: None,
            public_url: None,
            receiver_secret: None,
        },
    ));
    let s = server_with(
        db,
        tlswatch::http::HttpSettings {
            checks: Some(checks),
            ..tlswatch::http::HttpSettings::local("127.0.0.1:0".parse().unwrap())
        },
    )
    .await;
    let orgs = Orgs::new(store.clone(), None);
    let op = Actor::<InstanceAdmin>::operator();
    let acme = orgs.add(&op, "acme").await.unwrap().id;
    let globex = orgs.add(&op, "globex").await.unwrap().id;
    let editor = Actor::<Editor>::operator();
    orgs.claim(&editor, A, Some("acme"), true).await.unwrap();
    orgs.claim(&editor, B, Some("globex"), true).await.unwrap();
    // A day with failures for each (so lists, stats and metrics have rows).
    for (i, d) in [A, B].iter().enumerate() {
        let json = report_json(
            "sender.example",
            &format!("r{i}"),
            d,
            "2026-11-20",
            90,
            &[("certificate-expired", &format!("mx1.{d}"), 10)],
        );
        import(&store, json.as_bytes(), &format!("r{i}.json")).await;
    }
    let mut b_ids = BTreeMap::new();
    let now = tlswatch::ingest::now_unix();
    // B's things, named so that a leak is found in any answer.
    let rule = store
        .add_rule(
            globex,
            "globex-secret-rule",
            "failure_spike",
            Some(B),
            &serde_json::json!({}),
            true,
            now,
        )
        .await
        .unwrap();
    b_ids.insert("rule", rule);
    store
        .apply_evaluation(
            &[rule],
            &[Active {
                rule_id: rule,
                labels: BTreeMap::from([
                    ("rule".into(), "failure_spike".into()),
                    ("domain".into(), B.into()),
                ]),
                domain: B.into(),
                value: 10.0,
                baseline: None,
                threshold: None,
                reason: "globex-secret-reason".into(),
                for_secs: 0,
            }],
            now,
        )
        .await
        .unwrap();
    let alert = store.alerts(10).await.unwrap();
    let alert = alert.iter().find(|a| a.rule_id == rule).expect("B's alert");
    assert_eq!(alert.org_id, globex);
    b_ids.insert("alert", alert.id);
    b_ids.insert(
        "silence",
        store
            .add_silence(
                &SilenceRow {
                    id: 0,
                    matchers: vec![("domain".into(), B.into())],
                    starts_at: now - 10,
                    ends_at: now + 3600,
                    author: "globex-admin".into(),
                    comment: "globex-secret-silence".into(),
                    org_id: globex,
                },
                now,
            )
            .await
            .unwrap(),
    );
    b_ids.insert(
        "channel",
        store
            .add_channel(
                &ChannelRow {
                    id: 0,
                    name: "globex-secret-channel".into(),
                    kind: "webhook".into(),
                    config: serde_json::json!({"url": "https://hooks.globex.example/x"}),
                    domains: Vec::new(),
                    enabled: true,
                    org_id: globex,
                },
                now,
            )
            .await
            .unwrap(),
    );
    b_ids.insert(
        "mailbox",
        store
            .add_mailbox(&Mailbox {
                name: "globex-secret-inbox".into(),
                host: "imap.globex.example".into(),
                port: 993,
                tls_mode: "implicit".into(),
                username: "reports".into(),
                password: "pw".into(),
                folder: "INBOX".into(),
                poll_seconds: 300,
                enabled: false,
                kind: "imap".into(),
                auth: "password".into(),
                org_id: globex,
                ..Default::default()
            })
            .await
            .unwrap(),
    );
    let reports = store
        .reports(&tlswatch::store::ReportFilter {
            domain: Some(B.into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    b_ids.insert("report", reports[0].id);
    store
        .audit(
            "globex-admin@globex.example",
            globex,
            "globex.secret-action",
            "globex-secret-detail",
            None,
            now,
        )
        .await
        .unwrap();
    // People.
    for (email, role, org) in [
        ("viewer@acme.example", Role::Viewer, acme),
        ("editor@acme.example", Role::Editor, acme),
        ("admin@acme.example", Role::Admin, acme),
        ("admin@globex.example", Role::Admin, globex),
        (
            "ops@default.example",
            Role::Admin,
            tlswatch::store::DEFAULT_ORG,
        ),
    ] {
        tlswatch::auth::create_member(
            &store,
            email,
            PW,
            role,
            org,
            org == tlswatch::store::DEFAULT_ORG,
        )
        .await
        .unwrap();
    }
    let mut a_callers = Vec::new();
    for role in ["viewer", "editor", "admin"] {
        a_callers.push((
            format!("acme {role}"),
            Caller::Session(sign_in(&s.base, &format!("{role}@acme.example")).await),
        ));
    }
    a_callers.push((
        "acme viewer token".into(),
        Caller::Token(token(&store, "acme-ci", Role::Viewer, acme).await),
    ));
    a_callers.push((
        "acme admin token".into(),
        Caller::Token(token(&store, "acme-admin", Role::Admin, acme).await),
    ));
    let a_admin = a_callers[2].1.clone();
    let b_admin = Caller::Session(sign_in(&s.base, "admin@globex.example").await);
    let instance = Caller::Session(sign_in(&s.base, "ops@default.example").await);
    World {
        s,
        dns,
        acme,
        globex,
        b_ids,
        a_callers,
        a_admin,
        b_admin,
        instance,
    }
}

/// The body a templated route is called with: valid, so the handler gets as far as looking
/// the thing up.
fn body_for(method: &str, template: &str) -> &'static str {
    match (method, template) {
        ("PUT", "/api/v1/rules/{id}") => r#"{"params":{},"domain":null,"enabled":true}"#,
        ("PUT", "/api/v1/channels/{id}") => {
            r#"{"id":0,"name":"x","kind":"webhook","config":{"url":"https://hooks.example/y"},"domains":[],"enabled":true}"#
        }
        ("PUT", "/api/v1/mailboxes/{id}") => {
            r#"{"name":"x","host":"imap.example","username":"u","password":"p","enabled":false}"#
        }
        ("PUT", "/api/v1/domains/{domain}/policy") => {
            r#"{"mode":"testing","mx":["mx1.x.example"],"max_age":86400}"#
        }
        ("POST", "/api/v1/orgs/{org}/domains") => r#"{"domain":"new-domain.example"}"#,
        ("POST", "/api/v1/orgs/{org}/users") => {
            r#"{"email":"new@x.example","password":"correct horse battery staple","role":"viewer"}"#
        }
        ("POST", "/api/v1/orgs/{org}/tokens") => r#"{"name":"t","role":"viewer"}"#,
        _ => "",
    }
}

/// `template` with B's thing, and with a thing that does not exist.
fn fill(template: &str, w: &World) -> Option<(String, String)> {
    let id_kind = if template.starts_with("/api/v1/rules/") {
        "rule"
    } else if template.starts_with("/api/v1/alerts/") {
        "alert"
    } else if template.starts_with("/api/v1/silences/") {
        "silence"
    } else if template.starts_with("/api/v1/channels/") {
        "channel"
    } else if template.contains("/mailboxes/") {
        "mailbox"
    } else if template.starts_with("/api/v1/reports/") {
        "report"
    } else {
        ""
    };
    let fill_with = |domain: &str, id: i64, org: &str| {
        template
            .replace("{domain}", domain)
            .replace("{id}", &id.to_string())
            .replace("{version}", "1")
            .replace("{org}", org)
    };
    if template.contains("{id}") && id_kind.is_empty() {
        // The quarantine: rejected inputs belong to no organization (instance admins only).
        return None;
    }
    let b_id = w.b_ids.get(id_kind).copied().unwrap_or(0);
    Some((
        fill_with(B, b_id, "globex"),
        fill_with(MISSING, MISSING_ID, "no-such-org"),
    ))
}

/// Whatever differs between the two calls only by the name or id asked for.
fn normalized(body: &str, w: &World, path_b: &str) -> String {
    let mut out = body
        .replace(B, "X")
        .replace(MISSING, "X")
        .replace("globex", "X")
        .replace("no-such-org", "X");
    for id in w.b_ids.values() {
        if path_b.contains(&id.to_string()) {
            out = out.replace(&id.to_string(), "N");
        }
    }
    out.replace(&MISSING_ID.to_string(), "N")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_organizations_things_answer_as_missing_on_every_route() {
    let w = world().await;
    let mut templated = 0;
    let mut wrong = Vec::new();
    let mut table = Vec::new();
    for (method, template) in tlswatch::http::endpoints() {
        if !template.contains('{') || template.starts_with("/tlsrpt/") {
            continue;
        }
        let Some((path_b, path_missing)) = fill(&template, &w) else {
            continue;
        };
        templated += 1;
        let body = body_for(method.as_str(), &template);
        let mut row = Vec::new();
        for (who, caller) in &w.a_callers {
            let (sb, bb) = call(
                &w.s.base,
                caller,
                method.as_str(),
                &path_b,
                "application/json",
                body,
            )
            .await;
            let (sm, bm) = call(
                &w.s.base,
                caller,
                method.as_str(),
                &path_missing,
                "application/json",
                body,
            )
            .await;
            row.push(sb);
            if (200..300).contains(&sb) || sb == 403 && sm != 403 {
                wrong.push(format!("{who} {method} {path_b}: {sb} {bb:?}"));
            }
            if sb != sm || normalized(&bb, &w, &path_b) != normalized(&bm, &w, &path_b) {
                wrong.push(format!(
                    "{who} {method} {path_b}: {sb} {bb:?} but {path_missing}: {sm} {bm:?}"
                ));
            }
        }
        table.push(format!("{method:<6} {path_b:<50} {row:?}"));
    }
    eprintln!(
        "organization matrix (acme viewer, editor, admin, viewer token, admin token → globex's things):\n{}",
        table.join("\n")
    );
    assert!(templated >= 20, "only {templated} templated routes");

    // Server functions that name a thing by id or domain.
    use app::alerting::*;
    use app::api::*;
    use app::health::*;
    use app::hosting::*;
    use app::mailboxes::*;
    let id = |k: &str| w.b_ids[k];
    let fns: Vec<(&str, String, String)> = vec![
        (
            GetDomain::PATH,
            format!("domain={B}&days=30"),
            format!("domain={MISSING}&days=30"),
        ),
        (
            GetDomainDetails::PATH,
            format!("domain={B}&days=30"),
            format!("domain={MISSING}&days=30"),
        ),
        (
            GetHealth::PATH,
            format!("domain={B}"),
            format!("domain={MISSING}"),
        ),
        (
            RunCheck::PATH,
            format!("domain={B}"),
            format!("domain={MISSING}"),
        ),
        (
            GetPolicy::PATH,
            format!("domain={B}"),
            format!("domain={MISSING}"),
        ),
        (
            StopPolicy::PATH,
            format!("domain={B}"),
            format!("domain={MISSING}"),
        ),
        (
            GetReport::PATH,
            format!("id={}", id("report")),
            format!("id={MISSING_ID}"),
        ),
        (
            AckAlert::PATH,
            format!("id={}", id("alert")),
            format!("id={MISSING_ID}"),
        ),
        (
            SilenceAlert::PATH,
            format!("id={}&minutes=60&comment=x", id("alert")),
            format!("id={MISSING_ID}&minutes=60&comment=x"),
        ),
        (
            EndSilence::PATH,
            format!("id={}", id("silence")),
            format!("id={MISSING_ID}"),
        ),
        (
            SaveRule::PATH,
            format!("id={}&enabled=true&params=%7B%7D", id("rule")),
            format!("id={MISSING_ID}&enabled=true&params=%7B%7D"),
        ),
        (
            TestChannel::PATH,
            format!("id={}", id("channel")),
            format!("id={MISSING_ID}"),
        ),
        (
            DeleteChannel::PATH,
            format!("id={}", id("channel")),
            format!("id={MISSING_ID}"),
        ),
        (
            RemoveMailbox::PATH,
            format!("id={}", id("mailbox")),
            format!("id={MISSING_ID}"),
        ),
        (
            TestMailbox::PATH,
            format!("id={}", id("mailbox")),
            format!("id={MISSING_ID}"),
        ),
        (
            PreviewRetention::PATH,
            format!("id={}", id("mailbox")),
            format!("id={MISSING_ID}"),
        ),
        (
            PollMailbox::PATH,
            format!("id={}", id("mailbox")),
            format!("id={MISSING_ID}"),
        ),
    ];
    for (path, body_b, body_missing) in &fns {
        for (who, caller) in w
            .a_callers
            .iter()
            .filter(|(_, c)| matches!(c, Caller::Session(_)))
        {
            let form = "application/x-www-form-urlencoded";
            let (sb, bb) = call(&w.s.base, caller, "POST", path, form, body_b).await;
            let (sm, bm) = call(&w.s.base, caller, "POST", path, form, body_missing).await;
            if (sb, normalized(&bb, &w, body_b)) != (sm, normalized(&bm, &w, body_b)) {
                wrong.push(format!(
                    "{who} {path} {body_b}: {sb} {bb:?} but {body_missing}: {sm} {bm:?}"
                ));
            }
            if bb.contains("globex-secret") {
                wrong.push(format!("{who} {path} {body_b}: leaks {bb:?}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "answers that tell globex's things apart:\n{}",
        wrong.join("\n")
    );

    // Nothing of B's changed.
    let store = &w.s.store;
    let rules = store.alert_rules().await.unwrap();
    let rule = rules.iter().find(|r| r.id == id("rule")).unwrap();
    assert!(rule.enabled && rule.domain.as_deref() == Some(B));
    assert!(store
        .channels()
        .await
        .unwrap()
        .iter()
        .any(|c| c.id == id("channel") && c.name == "globex-secret-channel"));
    assert!(store
        .mailboxes()
        .await
        .unwrap()
        .iter()
        .any(|m| m.id == id("mailbox")));
    let alerts = store.alerts(10).await.unwrap();
    assert!(alerts
        .iter()
        .any(|a| a.id == id("alert") && a.acknowledged_by.is_none()));
    assert!(store
        .silences(tlswatch::ingest::now_unix())
        .await
        .unwrap()
        .iter()
        .any(|s| s.id == id("silence") && s.ends_at > tlswatch::ingest::now_unix()));
    assert_eq!(
        store.claims(Some(w.acme)).await.unwrap().len(),
        1,
        "acme claimed nothing new"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_exports_metrics_and_alerts_show_only_the_callers_organization() {
    lists_exports_metrics_and_alerts(world().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_exports_metrics_and_alerts_per_organization_on_postgresql() {
    let Some(db) = support::postgres().await else {
        return;
    };
    lists_exports_metrics_and_alerts(world_on(db).await).await;
}

async fn lists_exports_metrics_and_alerts(w: World) {
    let viewer_token = w.a_callers[3].1.clone();
    let base = &w.s.base;
    // The issue's own words: a token of A lists A's domains only, B's stats are 404.
    let (st, body) = call(
        base,
        &viewer_token,
        "GET",
        "/api/v1/domains?from=2026-11-01&to=2026-11-30",
        "",
        "",
    )
    .await;
    assert_eq!(st, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let names: Vec<&str> = v["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["domain"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec![A]);
    let (st, _) = call(
        base,
        &viewer_token,
        "GET",
        &format!("/api/v1/domains/{B}/stats"),
        "",
        "",
    )
    .await;
    assert_eq!(st, 404);
    let (st, body) = call(
        base,
        &viewer_token,
        "GET",
        &format!("/api/v1/domains/{A}/stats?from=2026-11-01&to=2026-11-30"),
        "",
        "",
    )
    .await;
    assert_eq!(st, 200);
    assert!(body.contains("\"failure\":10"), "{body}");

    // Every list an organization admin reads: nothing of B's in it.
    let reads = [
        (
            "GET",
            "/api/v1/domains?from=2026-11-01&to=2026-11-30".to_string(),
            "",
        ),
        ("GET", "/api/v1/reports".to_string(), ""),
        ("GET", "/api/v1/reports?format=csv".to_string(), ""),
        ("GET", "/api/v1/alerts".to_string(), ""),
        ("GET", "/api/v1/silences".to_string(), ""),
        ("GET", "/api/v1/rules".to_string(), ""),
        ("GET", "/api/v1/channels".to_string(), ""),
        ("GET", "/api/v1/mailboxes".to_string(), ""),
        ("GET", "/api/v1/claims".to_string(), ""),
        ("GET", "/metrics".to_string(), ""),
        (
            "POST",
            app::api::GetOverviewBetween::PATH.to_string(),
            "from=2026-11-01&to=2026-11-30",
        ),
        ("POST", app::api::GetTrends::PATH.to_string(), "days=3650"),
        (
            "POST",
            app::api::GetReports::PATH.to_string(),
            "domain=&reporter=&failures_only=false",
        ),
        ("POST", app::alerting::GetAlerts::PATH.to_string(), ""),
        ("POST", app::api::ListUsers::PATH.to_string(), ""),
        ("POST", app::api::ListTokens::PATH.to_string(), ""),
        ("POST", app::api::AuditLog::PATH.to_string(), ""),
        ("POST", app::mailboxes::ListMailboxes::PATH.to_string(), ""),
    ];
    let leaks = ["globex", B];
    let mut seen_a = 0;
    for (method, path, body) in &reads {
        let (st, text) = call(
            base,
            &w.a_admin,
            method,
            path,
            "application/x-www-form-urlencoded",
            body,
        )
        .await;
        assert!(st < 300, "{method} {path}: {st} {text}");
        for leak in leaks {
            assert!(
                !text.contains(leak),
                "{method} {path} shows {leak:?} to acme: {text}"
            );
        }
        if text.contains(A) {
            seen_a += 1;
        }
        // B's admin, the other way round.
        let (st, text) = call(
            base,
            &w.b_admin,
            method,
            path,
            "application/x-www-form-urlencoded",
            body,
        )
        .await;
        assert!(st < 300, "{method} {path}: {st}");
        assert!(
            !text.contains(A) && !text.contains("acme"),
            "{method} {path} shows acme to globex: {text}"
        );
    }
    assert!(
        seen_a >= 5,
        "acme's own domain appears in only {seen_a} answers"
    );

    // This process's counters and the group commit's histograms are instance-wide: the
    // operator's organization sees them, another organization does not.
    let (st, globex) = call(base, &w.b_admin, "GET", "/metrics", "", "").await;
    assert_eq!(st, 200);
    let (st, operator) = call(base, &w.instance, "GET", "/metrics", "", "").await;
    assert_eq!(st, 200);
    for name in [
        "tlswatch_receiver_refused_total",
        "tlswatch_request_timeouts_total",
        "tlswatch_group_commit_seconds",
        "tlswatch_intake_commit_wait_seconds",
        "tlswatch_wal_sync_seconds",
    ] {
        assert!(!globex.contains(name), "globex sees {name}: {globex}");
        assert!(
            operator.contains(&format!("# TYPE {name} ")),
            "the instance admin misses {name}: {operator}"
        );
    }

    // The instance admin sees both organizations' domains and lists organizations.
    let (_, text) = call(
        base,
        &w.instance,
        "GET",
        "/api/v1/domains?from=2026-11-01&to=2026-11-30",
        "",
        "",
    )
    .await;
    assert!(text.contains(A) && text.contains(B), "{text}");
    let (st, text) = call(base, &w.instance, "GET", "/api/v1/orgs", "", "").await;
    assert_eq!(st, 200);
    assert!(text.contains("acme") && text.contains("globex"));
    // An organization admin is not an instance admin.
    let (st, _) = call(base, &w.a_admin, "GET", "/api/v1/orgs", "", "").await;
    assert_eq!(st, 403);

    // Alerts go to the channels of their own organization only: one of acme's channels and
    // globex's alert, queued, never meet.
    let store = &w.s.store;
    store
        .add_channel(
            &ChannelRow {
                id: 0,
                name: "acme-hook".into(),
                kind: "webhook".into(),
                config: serde_json::json!({"url": "https://hooks.acme.example/x"}),
                domains: Vec::new(),
                enabled: true,
                org_id: w.acme,
            },
            0,
        )
        .await
        .unwrap();
    let timing = tlswatch::alerts::notify::Timing {
        group_wait: 0,
        ..Default::default()
    };
    let now = tlswatch::ingest::now_unix() + 60;
    // globex's silence holds its alert back: it ends first.
    store
        .expire_silence(w.b_ids["silence"], now - 30)
        .await
        .unwrap();
    tlswatch::alerts::notify::queue_due(store, &timing, now)
        .await
        .unwrap();
    let channels = store.channels().await.unwrap();
    let acme_hook = channels.iter().find(|c| c.name == "acme-hook").unwrap().id;
    let globex_hook = channels
        .iter()
        .find(|c| c.name == "globex-secret-channel")
        .unwrap()
        .id;
    let queued = store.notifications(50).await.unwrap();
    assert!(
        queued.iter().all(|n| n.channel_id != acme_hook),
        "acme's channel got {queued:?}"
    );
    assert!(
        queued
            .iter()
            .any(|n| n.channel_id == globex_hook && n.payload.contains("globex-secret-reason")),
        "globex's own channel got its alert: {queued:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_domain_is_seen_once_its_dns_proof_is_found_and_each_claimant_proves_it() {
    let w = world().await;
    let base = &w.s.base;
    let shared = "shared.example";
    // Reports arrive before anyone claims the domain (the instance had two organizations):
    // they wait in the store.
    let json = report_json("sender.example", "s1", shared, "2026-11-21", 40, &[]);
    import(&w.s.store, json.as_bytes(), "s1.json").await;
    assert!(w
        .s
        .store
        .claims(None)
        .await
        .unwrap()
        .iter()
        .all(|c| c.domain != shared));

    let editor = w.a_callers[1].1.clone();
    let (st, body) = call(
        base,
        &editor,
        "POST",
        "/api/v1/claims",
        "application/json",
        &format!(r#"{{"domain":"{shared}"}}"#),
    )
    .await;
    assert_eq!(st, 201, "{body}");
    let claim: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(claim["verified"], false);
    assert_eq!(
        claim["record"]["name"],
        format!("_tlswatch-challenge.{shared}")
    );
    let value = claim["record"]["value"].as_str().unwrap().to_owned();
    assert!(
        value.starts_with("tlswatch-verification=") && value.len() > 40,
        "{value}"
    );
    assert!(
        claim["last_error"]
            .as_str()
            .unwrap()
            .contains("no TXT record"),
        "{claim}"
    );
    // An editor may not vouch.
    let (st, _) = call(
        base,
        &editor,
        "POST",
        "/api/v1/claims",
        "application/json",
        r#"{"domain":"other.example","verified":true}"#,
    )
    .await;
    assert_eq!(st, 403);
    // Not proven: not seen.
    let stats = format!("/api/v1/domains/{shared}/stats?from=2026-11-01&to=2026-11-30");
    assert_eq!(call(base, &editor, "GET", &stats, "", "").await.0, 404);
    let due =
        w.s.store
            .claim_due_checks(i64::MAX / 8, 3600, 1000)
            .await
            .unwrap();
    assert!(
        !due.iter().any(|d| d == shared),
        "checked before any proof: {due:?}"
    );
    assert!(due.iter().any(|d| d == A), "{due:?}");

    // A record with another value proves nothing.
    let name = format!("_tlswatch-challenge.{shared}");
    w.dns.edit(|z| {
        z.txt(&name, &["tlswatch-verification=somebody-else"]);
    });
    let (st, body) = call(
        base,
        &editor,
        "POST",
        &format!("/api/v1/claims/{shared}/verify"),
        "application/json",
        "",
    )
    .await;
    assert_eq!(st, 200);
    assert!(body.contains("none is"), "{body}");
    assert_eq!(call(base, &editor, "GET", &stats, "", "").await.0, 404);

    // The right record: proven, and the reports that waited appear.
    w.dns.edit(|z| {
        z.txt(&name, &[&value]);
    });
    let (st, body) = call(
        base,
        &editor,
        "POST",
        &format!("/api/v1/claims/{shared}/verify"),
        "application/json",
        "",
    )
    .await;
    assert_eq!(st, 200);
    assert!(body.contains("\"verified\":true"), "{body}");
    let (st, body) = call(base, &editor, "GET", &stats, "", "").await;
    assert_eq!(st, 200);
    assert!(body.contains("\"success\":40"), "{body}");
    // Its checks are scheduled from now on (a domain nobody proved is never checked).
    let far = i64::MAX / 4;
    let due = w.s.store.claim_due_checks(far, 3600, 1000).await.unwrap();
    assert!(due.iter().any(|d| d == shared), "{due:?}");

    // globex claims it too: its own token, its own proof; acme's record does not prove it.
    let (st, body) = call(
        base,
        &w.b_admin,
        "POST",
        "/api/v1/claims",
        "application/json",
        &format!(r#"{{"domain":"{shared}"}}"#),
    )
    .await;
    assert_eq!(st, 201);
    let globex_claim: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(globex_claim["verified"], false, "{body}");
    assert_ne!(globex_claim["record"]["value"], claim["record"]["value"]);
    assert_eq!(call(base, &w.b_admin, "GET", &stats, "", "").await.0, 404);
    w.dns.edit(|z| {
        z.txt(&name, &[&value]);
        z.txt(&name, &[globex_claim["record"]["value"].as_str().unwrap()]);
    });
    let (_, body) = call(
        base,
        &w.b_admin,
        "POST",
        &format!("/api/v1/claims/{shared}/verify"),
        "application/json",
        "",
    )
    .await;
    assert!(body.contains("\"verified\":true"), "{body}");
    assert_eq!(call(base, &w.b_admin, "GET", &stats, "", "").await.0, 200);

    // The record removed: the periodic lookup takes the proof away (DNS claims only).
    w.dns.edit(|z| {
        z.clear(&name);
    });
    let orgs = Orgs::new(
        w.s.store.clone(),
        Some(Arc::new(CheckService::new(
            checker_for(&w.dns),
            w.s.store.clone(),
            ReportDestinations {
                mailbox: None,
                public_url: None,
                receiver_secret: None,
            },
        ))),
    );
    // Three days on, every claim is due again.
    let later = tlswatch::ingest::now_unix() + 3 * 86_400;
    let looked = orgs.recheck_due_at(later).await.unwrap();
    assert!(looked >= 2, "{looked}");
    assert_eq!(call(base, &editor, "GET", &stats, "", "").await.0, 404);
    assert_eq!(call(base, &w.b_admin, "GET", &stats, "", "").await.0, 404);
    // Vouched claims keep their proof.
    let (st, _) = call(
        base,
        &w.a_admin,
        "GET",
        &format!("/api/v1/domains/{A}/stats"),
        "",
        "",
    )
    .await;
    assert_eq!(st, 200);
    // The audit log says what happened, in each organization's own log.
    let log = w.s.store.audit_log_of(Some(w.acme), 50).await.unwrap();
    assert!(log.iter().any(|e| e.action == "domain.proven"), "{log:?}");
    assert!(
        log.iter().any(|e| e.action == "domain.proof-lost"),
        "{log:?}"
    );
    assert!(w
        .s
        .store
        .audit_log_of(Some(w.globex), 50)
        .await
        .unwrap()
        .iter()
        .all(|e| !e.detail.contains("acme")));
}

/// Runs the real binary; its exit status and standard output.
fn run(mut c: std::process::Command, stdin: &str) -> (i32, String) {
    use std::io::Write;
    let mut child = c
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_manages_organizations_their_people_tokens_and_domains() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = |args: &[&str]| {
        let mut c = support::tlswatch_cmd(dir.path());
        c.args(args);
        c
    };
    let (code, out) = run(cmd(&["org", "add", "Acme Mail"]), "");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Acme Mail"), "{out}");
    assert_ne!(
        run(cmd(&["org", "add", "Acme Mail"]), "").0,
        0,
        "a taken name"
    );
    assert_ne!(run(cmd(&["org", "add", "bad/name"]), "").0, 0);
    // Vouched for by the operator: seen at once. Another domain without: the record to publish.
    let (code, out) = run(
        cmd(&[
            "domain",
            "add",
            "acme.example",
            "--org",
            "Acme Mail",
            "--verified",
        ]),
        "",
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("verified (vouched for by cli:"), "{out}");
    let (code, out) = run(
        cmd(&["domain", "add", "pending.example", "--org", "Acme Mail"]),
        "",
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("_tlswatch-challenge.pending.example. IN TXT \"tlswatch-verification="),
        "{out}"
    );
    let (code, out) = run(cmd(&["domain", "add", "other.example", "--verified"]), "");
    assert_eq!(code, 0, "{out}");
    assert_ne!(
        run(cmd(&["domain", "add", "x.example", "--org", "Nope"]), "").0,
        0
    );
    let (_, out) = run(cmd(&["domain", "list"]), "");
    assert!(out.contains("acme.example\tAcme Mail\tverified"), "{out}");
    assert!(
        out.contains("pending.example\tAcme Mail\twaiting for proof"),
        "{out}"
    );
    assert!(out.contains("other.example\tdefault\tverified"), "{out}");
    let (_, out) = run(cmd(&["org", "list"]), "");
    assert!(
        out.contains("Acme Mail\t1 domains\t1 waiting for proof"),
        "{out}"
    );
    // People and tokens of the organization.
    let (code, out) = run(
        cmd(&[
            "user",
            "add",
            "--email",
            "ann@acme.example",
            "--role",
            "editor",
            "--org",
            "Acme Mail",
        ]),
        "correct horse battery staple\n",
    );
    assert_eq!(code, 0, "{out}");
    let (code, token) = run(
        cmd(&[
            "token",
            "create",
            "--name",
            "grafana",
            "--role",
            "viewer",
            "--org",
            "Acme Mail",
        ]),
        "",
    );
    assert_eq!(code, 0, "{token}");
    let token = token.lines().next().unwrap().trim().to_owned();
    let (_, out) = run(cmd(&["user", "list"]), "");
    assert!(
        out.contains("ann@acme.example\teditor\torganization 2"),
        "{out}"
    );

    // The token sees its organization's domain only, through a server on the same database.
    let db = support::sqlite_in(dir.path()).await;
    let s = support::server_with(
        db,
        tlswatch::http::HttpSettings::local("127.0.0.1:0".parse().unwrap()),
    )
    .await;
    let (st, body) = call(
        &s.base,
        &Caller::Token(token),
        "GET",
        "/api/v1/domains",
        "",
        "",
    )
    .await;
    assert_eq!(st, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let names: Vec<&str> = v["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["domain"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["acme.example"], "{body}");
}
