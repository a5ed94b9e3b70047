//! The REST API over real HTTP on both databases: its numbers equal a direct computation over
//! the imported reports (duplicates and sts+tlsa double listings not counted twice).

mod support;

use std::collections::BTreeMap;

use app::auth::Role;
use tlswatch::auth::new_secret;
use tlswatch::domain::counting::contributions;
use tlswatch::domain::days::format_day;
use tlswatch::domain::{parse_report, ParseContext};
use tlswatch::ingest::Limits;

use support::{fixture_bytes, import, report_json, server_on, TestDb};

async fn check(db: TestDb) {
    let s = server_on(db, Limits::default(), None, 100).await;
    let (token, hash) = new_secret("tlsw_");
    s.store
        .add_token("t", &hash, Role::Viewer, "test", 0)
        .await
        .unwrap();

    let mut inputs: Vec<Vec<u8>> = Vec::new();
    for i in 0..40u64 {
        let fails = [
            ("certificate-expired", "mx1.api.example", i % 4),
            ("starttls-not-supported", "mx2.api.example", i % 3),
        ];
        let fails: Vec<_> = fails.into_iter().filter(|f| f.2 > 0).collect();
        inputs.push(
            report_json(
                &format!("org{}.example", i % 3),
                &format!("id{}", i % 30),
                "api.example",
                &format!("2026-05-{:02}", 20 + i % 5),
                10 + i,
                &fails,
            )
            .into_bytes(),
        );
    }
    inputs.push(fixture_bytes("reports/d02-d06-microsoft-sts-and-tlsa.json"));
    let ms = String::from_utf8(inputs.last().unwrap().clone())
        .unwrap()
        .replace("dual.example", "api.example");
    *inputs.last_mut().unwrap() = ms.into_bytes();

    // Direct computation: each distinct report once, the counting rule per report.
    let mut seen = std::collections::HashSet::new();
    let (mut success, mut failure) = (0i64, 0i64);
    let mut by_mx: BTreeMap<String, i64> = BTreeMap::new();
    let mut by_rt: BTreeMap<String, i64> = BTreeMap::new();
    let mut by_day: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for input in &inputs {
        let r = parse_report(input, &ParseContext::default()).unwrap();
        if !seen.insert((r.organization_name.clone(), r.report_id.clone(), r.start)) {
            continue;
        }
        for c in contributions(&r) {
            success += c.success as i64;
            failure += c.failure as i64;
            let d = by_day.entry(format_day(c.day)).or_default();
            d.0 += c.success as i64;
            d.1 += c.failure as i64;
            for (mx, n) in c.failure_by_mx {
                *by_mx.entry(mx).or_default() += n as i64;
            }
            for (rt, n) in c.failure_by_result {
                *by_rt.entry(rt).or_default() += n as i64;
            }
        }
    }
    for (i, input) in inputs.iter().enumerate() {
        import(&s.store, input, &format!("in{i}.json")).await;
    }

    let get = |path: String| {
        let (base, token) = (s.base.clone(), token.clone());
        async move {
            let r = reqwest::Client::new()
                .get(format!("{base}{path}"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 200, "{path}");
            r.json::<serde_json::Value>().await.unwrap()
        }
    };
    let stats = get("/api/v1/domains/api.example/stats?from=2026-05-01&to=2026-05-31".into()).await;
    assert_eq!(
        (
            stats["success"].as_i64().unwrap(),
            stats["failure"].as_i64().unwrap()
        ),
        (success, failure)
    );
    let api_mx: BTreeMap<String, i64> = stats["by_mx"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["mx"].as_str().unwrap().to_owned(),
                m["failure"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(api_mx, by_mx);
    let api_rt: BTreeMap<String, i64> = stats["by_result_type"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["result_type"].as_str().unwrap().to_owned(),
                m["failure"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(api_rt, by_rt);
    let api_day: BTreeMap<String, (i64, i64)> = stats["by_day"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["day"].as_str().unwrap().to_owned(),
                (
                    d["success"].as_i64().unwrap(),
                    d["failure"].as_i64().unwrap(),
                ),
            )
        })
        .collect();
    assert_eq!(api_day, by_day);
    let reporters: i64 = stats["by_reporter"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reports"].as_i64().unwrap())
        .sum();
    assert_eq!(reporters as usize, seen.len());
    // The lists come in their documented order: days ascending, MX and result types with the
    // most failures first (ties by name), reporters with the most reports first.
    let list = |key: &str| stats[key].as_array().unwrap().clone();
    let days: Vec<String> = list("by_day")
        .iter()
        .map(|d| d["day"].as_str().unwrap().to_owned())
        .collect();
    assert!(days.windows(2).all(|w| w[0] < w[1]), "{days:?}");
    for (key, name) in [("by_mx", "mx"), ("by_result_type", "result_type")] {
        let rows: Vec<(i64, String)> = list(key)
            .iter()
            .map(|m| {
                (
                    -m["failure"].as_i64().unwrap(),
                    m[name].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert!(rows.len() > 1, "{key}: {rows:?}");
        assert!(rows.windows(2).all(|w| w[0] < w[1]), "{key}: {rows:?}");
    }
    let by_reporter: Vec<(i64, String)> = list("by_reporter")
        .iter()
        .map(|r| {
            (
                -r["reports"].as_i64().unwrap(),
                r["organization"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(by_reporter.len() > 1, "{by_reporter:?}");
    assert!(
        by_reporter.windows(2).all(|w| w[0] < w[1]),
        "{by_reporter:?}"
    );

    // Overview list, report list, detail and raw agree.
    let domains = get("/api/v1/domains?from=2026-05-01&to=2026-05-31".into()).await;
    let d = domains["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == "api.example")
        .unwrap()
        .clone();
    assert_eq!(
        (
            d["success"].as_i64().unwrap(),
            d["failure"].as_i64().unwrap()
        ),
        (success, failure)
    );
    let list = get("/api/v1/reports?domain=api.example&from=2026-05-01&to=2026-05-31".into()).await;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), seen.len());
    assert_eq!(
        list.iter()
            .map(|r| r["success"].as_i64().unwrap())
            .sum::<i64>(),
        success
    );
    let with_failures = get("/api/v1/reports?domain=api.example&failures=true".into()).await;
    assert!(with_failures
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["failure"].as_i64().unwrap() > 0));
    let id = list[0]["id"].as_i64().unwrap();
    let detail = get(format!("/api/v1/reports/{id}")).await;
    assert!(detail["report"]["policies"].is_array());
    let raw = reqwest::Client::new()
        .get(format!("{}/api/v1/reports/{id}/raw", s.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.headers()["content-type"], "application/tlsrpt+json");
    let raw: serde_json::Value = raw.json().await.unwrap();
    assert_eq!(raw["report-id"], detail["report"]["report-id"]);
    // Bad input gets a clear 400.
    let bad = reqwest::Client::new()
        .get(format!(
            "{}/api/v1/domains/api.example/stats?from=yesterday",
            s.base
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_numbers_equal_a_direct_computation_on_sqlite() {
    check(support::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_numbers_equal_a_direct_computation_on_postgres() {
    if let Some(db) = support::postgres().await {
        check(db).await;
    }
}

#[tokio::test]
async fn csv_export_escapes_report_strings() {
    let s = server_on(support::sqlite().await, Limits::default(), None, 100).await;
    let (token, hash) = new_secret("tlsw_");
    s.store
        .add_token("t", &hash, Role::Viewer, "test", 0)
        .await
        .unwrap();
    let json = report_json(
        "=HYPERLINK(\\\"x\\\"),evil",
        "r,1",
        "csv.example",
        "2026-05-01",
        3,
        &[],
    );
    import(&s.store, json.as_bytes(), "csv.json").await;
    let csv = reqwest::Client::new()
        .get(format!("{}/api/v1/reports?format=csv", s.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = csv.lines().nth(1).unwrap();
    assert!(line.contains("\"'=HYPERLINK(\"\"x\"\"),evil\""), "{line}");
    assert!(line.contains("\"r,1\""), "{line}");
}
