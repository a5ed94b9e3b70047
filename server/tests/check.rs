//! The checker against real DNS, HTTPS and SMTP servers on loopback (the lab), one scenario per
//! catalogue situation: certificates from a CA made at test time (valid, expired, wrong name,
//! untrusted), redirects, wrong media types, oversized and invalid policies, missing STARTTLS.

mod support;

use app::health::{Finding, Severity};
use tlswatch::check::lab::{self, Lab, PolicyResponse, TestCa};
use tlswatch::check::run::{CheckService, ReportDestinations};
use tlswatch::check::{Checker, Outcome};
use tlswatch::store::Store;

const D: &str = "example.test";

async fn check(lab: &Lab) -> Outcome {
    Checker::new(lab.config.clone())
        .unwrap()
        .check(D, None)
        .await
}

fn find<'a>(o: &'a Outcome, id: &str) -> Vec<&'a Finding> {
    o.findings.iter().filter(|f| f.id == id).collect()
}

/// The single (or worst) severity reported for `id`.
fn sev(o: &Outcome, id: &str) -> Severity {
    find(o, id)
        .iter()
        .map(|f| f.severity)
        .max()
        .unwrap_or_else(|| panic!("{id} not reported:\n{}", dump(o)))
}

fn dump(o: &Outcome) -> String {
    o.findings
        .iter()
        .map(|f| {
            format!(
                "{:<5} {:<12} {} {}",
                f.severity.as_str(),
                f.id,
                f.subject.clone().unwrap_or_default(),
                f.detail
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn a_healthy_testing_domain_passes_everything_that_matters() {
    let lab = Lab::healthy(D, 3).await.unwrap();
    let o = check(&lab).await;
    assert!(
        o.count(Severity::Fail) == 0 && o.count(Severity::Error) == 0,
        "{}",
        dump(&o)
    );
    for id in [
        "STS-TXT-01",
        "STS-TXT-03",
        "STS-TXT-07",
        "STS-TXT-08",
        "STS-HOST-01",
        "STS-HOST-02",
        "STS-HOST-03",
        "STS-HOST-04",
        "STS-HOST-05",
        "STS-HOST-06",
        "STS-HTTP-01",
        "STS-HTTP-03",
        "STS-HTTP-04",
        "STS-HTTP-06",
        "STS-POL-04",
        "STS-POL-05",
        "STS-POL-07",
        "STS-MX-01",
        "STS-MX-03",
        "STS-MX-04",
        "STS-SMTP-01",
        "STS-SMTP-02",
        "STS-SMTP-04",
        "STS-SMTP-05",
        "STS-SMTP-06",
        "STS-SMTP-08",
        "STS-SMTP-11",
        "RPT-TXT-02",
        "RPT-TXT-04",
        "STS-X-01",
        "STS-X-08",
    ] {
        assert_eq!(sev(&o, id), Severity::Pass, "{id}\n{}", dump(&o));
    }
    // One probe per MX address, three MX hosts.
    assert_eq!(find(&o, "STS-SMTP-05").len(), 3);
    // Mode testing is a warning, not a failure.
    assert_eq!(sev(&o, "STS-X-05"), Severity::Warn);
    assert_eq!(o.snapshot.mode.as_deref(), Some("testing"));
    assert_eq!(o.snapshot.sts_id.as_deref(), Some("20261129000000"));
    assert_eq!(o.mx_hosts.len(), 3);
}

fn policy(mode: &str, mx: &[&str], max_age: u64) -> String {
    lab::policy_text(
        mode,
        &mx.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        max_age,
    )
}

const HOST: &str = "mta-sts.example.test";

#[tokio::test]
async fn policy_host_certificates_expired_wrong_name_and_untrusted_fail_as_webpki_invalid() {
    let lab = Lab::healthy(D, 1).await.unwrap();
    lab.https.certs.set(HOST, &lab.ca.leaf(&[HOST], -100, -1));
    let o = check(&lab).await;
    assert_eq!(sev(&o, "STS-HOST-06"), Severity::Fail, "{}", dump(&o));
    assert_eq!(
        find(&o, "STS-HOST-06")[0].result_type.as_deref(),
        Some("sts-webpki-invalid")
    );

    lab.https
        .certs
        .set(HOST, &lab.ca.leaf(&["www.example.test"], -1, 90));
    let o = check(&lab).await;
    assert_eq!(sev(&o, "STS-HOST-05"), Severity::Fail, "{}", dump(&o));
    assert!(find(&o, "STS-HOST-05")[0]
        .detail
        .contains("www.example.test"));

    let other = TestCa::new("some other CA");
    lab.https.certs.set(HOST, &other.leaf(&[HOST], -1, 90));
    let o = check(&lab).await;
    assert_eq!(sev(&o, "STS-HOST-04"), Severity::Fail, "{}", dump(&o));
    assert_eq!(sev(&o, "STS-HOST-05"), Severity::Skip);

    lab.https.certs.set(HOST, &lab.ca.leaf(&[HOST], -1, 5));
    let o = check(&lab).await;
    assert_eq!(
        sev(&o, "STS-HOST-06"),
        Severity::Warn,
        "expires in 5 days\n{}",
        dump(&o)
    );
}

#[tokio::test]
async fn redirects_are_reported_and_never_followed() {
    let lab = Lab::healthy(D, 1).await.unwrap();
    lab.https.serve(
        HOST,
        PolicyResponse {
            status: 301,
            headers: vec![(
                "location".into(),
                "https://www.example.test/.well-known/mta-sts.txt".into(),
            )],
            body: Vec::new(),
            block_user_agent: None,
        },
    );
    // A browser following the redirect would find a valid policy there.
    lab.https.serve(
        "www.example.test",
        PolicyResponse::ok(&policy("enforce", &["mx1.example.test"], 86400)),
    );
    lab.dns.edit(|z| {
        z.ip("www.example.test", lab::loopback(lab.block, 1));
    });
    let before = lab
        .https
        .accepted
        .load(std::sync::atomic::Ordering::Relaxed);
    let o = check(&lab).await;
    assert_eq!(sev(&o, "STS-HTTP-01"), Severity::Fail, "{}", dump(&o));
    let f = find(&o, "STS-HTTP-01")[0];
    assert!(
        f.detail.contains("301") && f.detail.contains("www.example.test"),
        "{}",
        f.detail
    );
    assert_eq!(f.result_type.as_deref(), Some("sts-policy-fetch-error"));
    assert_eq!(sev(&o, "STS-HTTP-02"), Severity::Info);
    assert_eq!(
        sev(&o, "STS-POL-04"),
        Severity::Skip,
        "the redirect target must not be parsed"
    );
    assert_eq!(sev(&o, "STS-X-01"), Severity::Fail);
    assert!(o.snapshot.mode.is_none());
    // Two connections: the fetch and the no-SNI handshake; none to follow the redirect.
    assert_eq!(
        lab.https
            .accepted
            .load(std::sync::atomic::Ordering::Relaxed)
            - before,
        2
    );
}

#[tokio::test]
async fn status_other_than_200_media_type_size_and_bot_blocking() {
    let lab = Lab::healthy(D, 1).await.unwrap();
    for status in [404u16, 204, 500] {
        lab.https.serve(
            HOST,
            PolicyResponse {
                status,
                headers: vec![],
                body: Vec::new(),
                block_user_agent: None,
            },
        );
        let o = check(&lab).await;
        assert_eq!(
            sev(&o, "STS-HTTP-01"),
            Severity::Fail,
            "{status}\n{}",
            dump(&o)
        );
    }
    let good = policy("testing", &["mx1.example.test"], 86400);
    lab.https.serve(
        HOST,
        PolicyResponse {
            status: 200,
            headers: vec![("content-type".into(), "text/html".into())],
            body: good.clone().into_bytes(),
            block_user_agent: None,
        },
    );
    let o = check(&lab).await;
    assert_eq!(sev(&o, "STS-HTTP-03"), Severity::Warn, "{}", dump(&o));
    assert_eq!(
        sev(&o, "STS-POL-05"),
        Severity::Pass,
        "the policy itself is fine"
    );

    let mut big = good.clone();
    big.push_str(&format!("comment: {}\n", "x".repeat(70 * 1024)));
    lab.https.serve(HOST, PolicyResponse::ok(&big));
    let o = check(&lab).await;
    assert_eq!(sev(&o, "STS-HTTP-04"), Severity::Fail, "{}", dump(&o));

    lab.https.serve(
        HOST,
        PolicyResponse {
            block_user_agent: Some("libwww".into()),
            ..PolicyResponse::ok(&good)
        },
    );
    let o = check(&lab).await;
    assert_eq!(sev(&o, "STS-HTTP-06"), Severity::Fail, "{}", dump(&o));
}

#[tokio::test]
async fn policy_content_is_parsed_exactly() {
    let lab = Lab::healthy(D, 1).await.unwrap();
    let cases: Vec<(String, &str, Severity)> = vec![
        (
            "version: STSv1\r\nmode: testing\r\nmx: mx1.example.test\r\nmax_age: 86400\r\n".into(),
            "STS-POL-02",
            Severity::Pass,
        ),
        (
            "version: STSv1\rmode: testing\rmx: mx1.example.test\rmax_age: 86400\r".into(),
            "STS-POL-02",
            Severity::Fail,
        ),
        (
            "version: STSv1\nmode: doubt\nmx: mx1.example.test\nmax_age: 86400\n".into(),
            "STS-POL-05",
            Severity::Fail,
        ),
        (
            "version: STSv1\nmode: testing\nmx: mx1.example.test\nmax_age: xxx\n".into(),
            "STS-POL-06",
            Severity::Fail,
        ),
        (
            "version: STSv1\nmode: testing\nmx: mx1.example.test\nmax_age: 31557601\n".into(),
            "STS-POL-06",
            Severity::Fail,
        ),
        (
            "version: STSv1\nmode: testing\nmx: mx1.example.test\nmax_age: 0\n".into(),
            "STS-POL-06",
            Severity::Warn,
        ),
        (
            "version: STSv1\nmode: enforce\nmax_age: 86400\n".into(),
            "STS-POL-07",
            Severity::Fail,
        ),
        (
            "version: STSv1\nmode: none\nmax_age: 86400\n".into(),
            "STS-POL-07",
            Severity::Pass,
        ),
        (
            "version: STSv1\nmode: testing\nmx: *.*.example.test\nmax_age: 86400\n".into(),
            "STS-POL-08",
            Severity::Fail,
        ),
        (
            "\u{feff}version: STSv1\nmode: testing\nmx: mx1.example.test\nmax_age: 86400\n".into(),
            "STS-POL-01",
            Severity::Warn,
        ),
        (
            "<html><body>404</body></html>".into(),
            "STS-POL-11",
            Severity::Fail,
        ),
        (
            "version: STSv1\nmode: testing\nmx: mx1.example.test\nmax-age: 86400\n".into(),
            "STS-POL-10",
            Severity::Warn,
        ),
    ];
    for (body, id, want) in cases {
        lab.https.serve(HOST, PolicyResponse::ok(&body));
        let o = check(&lab).await;
        assert_eq!(sev(&o, id), want, "{body:?}\n{}", dump(&o));
        if want == Severity::Fail {
            assert_eq!(sev(&o, "STS-X-01"), Severity::Fail, "{body:?}");
        }
    }
    // mode none is valid (no mx needed) but gives no protection.
    lab.https.serve(
        HOST,
        PolicyResponse::ok("version: STSv1\nmode: none\nmax_age: 86400\n"),
    );
    let o = check(&lab).await;
    assert_eq!(sev(&o, "STS-X-01"), Severity::Pass, "{}", dump(&o));
    assert_eq!(sev(&o, "STS-X-06"), Severity::Warn);
}

#[tokio::test]
async fn mta_sts_txt_record_cases() {
    let lab = Lab::healthy(D, 1).await.unwrap();
    let name = "_mta-sts.example.test";
    let set = |strings: &[&[&str]]| {
        lab.dns.edit(|z| {
            z.clear(name);
            for s in strings {
                z.txt(name, s);
            }
        });
    };
    set(&[&["v=STSv1; id=2026-04-29"]]);
    let o = check(&lab).await;
    assert_eq!(sev(&o, "STS-TXT-08"), Severity::Fail, "{}", dump(&o));
    assert_eq!(
        sev(&o, "STS-X-01"),
        Severity::Fail,
        "a published but invalid record makes senders ignore the policy"
    );

    set(&[&["v=STSv1; id=1"], &["v=STSv1; id=2"]]);
    assert_eq!(sev(&check(&lab).await, "STS-TXT-03"), Severity::Fail);

    set(&[&["v=STSv1; id=1"], &["v=spf1 -all"]]);
    let o = check(&lab).await;
    assert_eq!(sev(&o, "STS-TXT-04"), Severity::Warn);
    assert_eq!(sev(&o, "STS-TXT-03"), Severity::Pass);

    // Split into two strings: joined without a space.
    set(&[&["v=STSv1; id=2026", "1129"]]);
    let o = check(&lab).await;
    assert_eq!(
        find(&o, "STS-TXT-08")[0].detail,
        "id=20261129",
        "{}",
        dump(&o)
    );
    assert!(matches!(
        sev(&o, "STS-TXT-06"),
        Severity::Warn | Severity::Info
    ));

    // CNAME delegation is followed.
    lab.dns.edit(|z| {
        z.clear(name);
        z.cname(name, "_mta-sts.provider.test");
        z.txt("_mta-sts.provider.test", &["v=STSv1; id=abc123"]);
    });
    let o = check(&lab).await;
    assert_eq!(sev(&o, "STS-TXT-02"), Severity::Info, "{}", dump(&o));
    assert_eq!(sev(&o, "STS-TXT-08"), Severity::Pass);

    // Absent: informational, later checks skipped, policy still fetched (STS-X-02).
    lab.dns.edit(|z| {
        z.clear(name);
        z.txt(D, &["v=STSv1; id=misplaced"]);
    });
    let o = check(&lab).await;
    assert_eq!(sev(&o, "STS-TXT-01"), Severity::Info, "{}", dump(&o));
    assert_eq!(sev(&o, "STS-TXT-08"), Severity::Skip);
    assert_eq!(sev(&o, "STS-TXT-05"), Severity::Fail);
    assert_eq!(sev(&o, "STS-X-02"), Severity::Warn);

    // SERVFAIL and timeouts are the checker's "error", not a failure of the domain.
    lab.dns.edit(|z| {
        z.servfail.insert(name.into());
    });
    assert_eq!(sev(&check(&lab).await, "STS-TXT-01"), Severity::Error);
}

#[tokio::test]
async fn mx_coverage_depends_on_the_mode() {
    let lab = Lab::healthy(D, 2).await.unwrap();
    lab.https.serve(
        HOST,
        PolicyResponse::ok(&policy(
            "enforce",
            &["mx1.example.test", "old.example.test"],
            1_209_600,
        )),
    );
    let o = check(&lab).await;
    let mx2 = find(&o, "STS-MX-03")
        .into_iter()
        .find(|f| f.subject.as_deref() == Some("mx2.example.test"))
        .unwrap();
    assert_eq!(mx2.severity, Severity::Fail, "{}", dump(&o));
    assert_eq!(mx2.result_type.as_deref(), Some("validation-failure"));
    assert_eq!(
        sev(&o, "STS-MX-05"),
        Severity::Warn,
        "old.example.test is stale"
    );
    assert_eq!(sev(&o, "STS-MX-04"), Severity::Pass);

    lab.https.serve(
        HOST,
        PolicyResponse::ok(&policy("testing", &["mx1.example.test"], 86400)),
    );
    let o = check(&lab).await;
    assert_eq!(sev(&o, "STS-MX-03"), Severity::Warn);

    // Wildcards replace exactly one label.
    lab.https.serve(
        HOST,
        PolicyResponse::ok(&policy(
            "enforce",
            &["*.mx1.example.test", "*.test"],
            1_209_600,
        )),
    );
    let o = check(&lab).await;
    assert_eq!(sev(&o, "STS-MX-04"), Severity::Fail, "{}", dump(&o));
    assert_eq!(sev(&o, "STS-MX-06"), Severity::Info);
}

#[tokio::test]
async fn smtp_probes_classify_like_a_sender() {
    let lab = Lab::healthy(D, 1).await.unwrap();
    let mx = "mx1.example.test";
    let smtp = &lab.smtp[0];

    smtp.certs.set(mx, &lab.ca.leaf(&[mx], -100, -2));
    let o = check(&lab).await;
    assert_eq!(sev(&o, "STS-SMTP-06"), Severity::Fail, "{}", dump(&o));
    assert_eq!(
        find(&o, "STS-SMTP-06")[0].result_type.as_deref(),
        Some("certificate-expired")
    );

    smtp.certs
        .set(mx, &lab.ca.leaf(&["other.example.test"], -1, 90));
    let o = check(&lab).await;
    assert_eq!(sev(&o, "STS-SMTP-05"), Severity::Fail, "{}", dump(&o));
    assert_eq!(
        find(&o, "STS-SMTP-05")[0].result_type.as_deref(),
        Some("certificate-host-mismatch")
    );

    smtp.certs
        .set(mx, &TestCa::new("untrusted").leaf(&[mx], -1, 90));
    let o = check(&lab).await;
    assert_eq!(sev(&o, "STS-SMTP-04"), Severity::Fail, "{}", dump(&o));
    assert_eq!(
        find(&o, "STS-SMTP-04")[0].result_type.as_deref(),
        Some("certificate-not-trusted")
    );

    // SNI required: no certificate without SNI.
    smtp.certs.set(mx, &lab.ca.leaf(&[mx], -1, 90));
    smtp.certs.set_default(None);
    let o = check(&lab).await;
    assert_eq!(sev(&o, "STS-SMTP-08"), Severity::Warn, "{}", dump(&o));
    assert_eq!(sev(&o, "STS-SMTP-05"), Severity::Pass);

    smtp.set(|b| b.starttls_code = 454);
    let o = check(&lab).await;
    assert_eq!(sev(&o, "STS-SMTP-03"), Severity::Fail, "{}", dump(&o));

    smtp.set(|b| b.offer_starttls = false);
    let o = check(&lab).await;
    assert_eq!(sev(&o, "STS-SMTP-02"), Severity::Fail, "{}", dump(&o));
    assert_eq!(
        find(&o, "STS-SMTP-02")[0].result_type.as_deref(),
        Some("starttls-not-supported")
    );
    assert_eq!(sev(&o, "STS-SMTP-04"), Severity::Skip);

    // Greeting names that are not the MX name are informational.
    smtp.set(|b| {
        b.offer_starttls = true;
        b.name = "localhost.localdomain".into();
    });
    let o = check(&lab).await;
    assert_eq!(sev(&o, "STS-SMTP-11"), Severity::Info, "{}", dump(&o));
    assert!(find(&o, "STS-SMTP-11")[0]
        .detail
        .contains("localhost.localdomain"));
}

#[tokio::test]
async fn an_unreachable_mx_is_an_error_not_a_failure() {
    let lab = Lab::healthy(D, 1).await.unwrap();
    let mut config = lab.config.clone();
    // Nothing listens on this port of the MX address.
    let free = std::net::TcpListener::bind((lab::loopback(lab.block, 10), 0)).unwrap();
    config.smtp_port = free.local_addr().unwrap().port();
    drop(free);
    let o = Checker::new(config).unwrap().check(D, None).await;
    assert_eq!(sev(&o, "STS-SMTP-01"), Severity::Error, "{}", dump(&o));
    assert_eq!(sev(&o, "STS-SMTP-02"), Severity::Skip);
    assert_eq!(o.count(Severity::Fail), 0, "{}", dump(&o));
}

#[tokio::test]
async fn tlsrpt_record_cases() {
    let lab = Lab::healthy(D, 1).await.unwrap();
    let name = "_smtp._tls.example.test";
    let o = check(&lab).await;
    assert_eq!(sev(&o, "RPT-TXT-08"), Severity::Pass, "{}", dump(&o));
    for (txt, id) in [
        ("v=TLSRPTv1; rua=postmaster@example.test", "RPT-TXT-05"),
        (
            "v=TLSRPTv1; rua=mailto:tlsrpt@example.test!10m",
            "RPT-TXT-06",
        ),
        ("v=TSLRPTv1; rua=mailto:tlsrpt@example.test", "RPT-TXT-04"),
        ("v=TLSRPTv1", "RPT-TXT-04"),
    ] {
        lab.dns.edit(|z| {
            z.clear(name);
            z.txt(name, &[txt]);
        });
        assert_eq!(sev(&check(&lab).await, id), Severity::Fail, "{txt}");
    }
    lab.dns.edit(|z| {
        z.clear(name);
    });
    let o = check(&lab).await;
    assert_eq!(sev(&o, "RPT-TXT-01"), Severity::Warn);
    assert_eq!(
        sev(&o, "STS-X-03"),
        Severity::Warn,
        "testing without TLS-RPT"
    );
}

#[tokio::test]
async fn the_checker_refuses_private_addresses_unless_allowed() {
    let lab = Lab::healthy(D, 1).await.unwrap();
    let mut config = lab.config.clone();
    config.allow_private = false;
    // Also a name resolving to the cloud metadata address.
    lab.dns.edit(|z| {
        z.clear("mx1.example.test");
        z.ip("mx1.example.test", "169.254.169.254".parse().unwrap());
        z.ip("mx1.example.test", "10.0.0.1".parse().unwrap());
    });
    let (h, s) = (
        lab.https
            .accepted
            .load(std::sync::atomic::Ordering::Relaxed),
        lab.smtp[0]
            .accepted
            .load(std::sync::atomic::Ordering::Relaxed),
    );
    let o = Checker::new(config).unwrap().check(D, None).await;
    assert_eq!(sev(&o, "STS-HOST-02"), Severity::Error, "{}", dump(&o));
    assert!(find(&o, "STS-HOST-02")[0]
        .detail
        .contains("not a public address"));
    let smtp = find(&o, "STS-SMTP-01");
    assert_eq!(smtp.len(), 2, "{}", dump(&o));
    assert!(smtp
        .iter()
        .all(|f| f.severity == Severity::Error && f.detail.contains("not a public address")));
    assert_eq!(
        lab.https
            .accepted
            .load(std::sync::atomic::Ordering::Relaxed),
        h,
        "no connection to the policy host"
    );
    assert_eq!(
        lab.smtp[0]
            .accepted
            .load(std::sync::atomic::Ordering::Relaxed),
        s,
        "no connection to the MX"
    );
}

#[tokio::test]
async fn stateful_checks_compare_with_the_previous_run() {
    let lab = Lab::healthy(D, 1).await.unwrap();
    let checker = Checker::new(lab.config.clone()).unwrap();
    let first = checker.check(D, None).await;
    assert_eq!(sev(&first, "STS-H-01"), Severity::Info);
    // The body changes, the id does not.
    lab.https.serve(
        HOST,
        PolicyResponse::ok(&policy("enforce", &["mx1.example.test"], 1_209_600)),
    );
    let second = checker.check(D, Some(&first.snapshot)).await;
    assert_eq!(
        sev(&second, "STS-H-01"),
        Severity::Warn,
        "{}",
        dump(&second)
    );
    // A new id for the changed body (senders refetch; the body is what the previous run saw).
    lab.dns.edit(|z| {
        z.clear("_mta-sts.example.test");
        z.txt("_mta-sts.example.test", &["v=STSv1; id=20261130000000"]);
    });
    let third = checker.check(D, Some(&second.snapshot)).await;
    assert_eq!(sev(&third, "STS-H-02"), Severity::Info, "{}", dump(&third));
    assert!(find(&third, "STS-H-01").is_empty());
    // Going back to a lower max_age.
    lab.https.serve(
        HOST,
        PolicyResponse::ok(&policy("enforce", &["mx1.example.test"], 86_400)),
    );
    lab.dns.edit(|z| {
        z.clear("_mta-sts.example.test");
        z.txt("_mta-sts.example.test", &["v=STSv1; id=20261201000000"]);
    });
    let fourth = checker.check(D, Some(&third.snapshot)).await;
    assert_eq!(
        sev(&fourth, "STS-H-05"),
        Severity::Info,
        "{}",
        dump(&fourth)
    );
    // Removed without a mode none phase-out.
    lab.dns.edit(|z| {
        z.clear("_mta-sts.example.test");
    });
    let fifth = checker.check(D, Some(&fourth.snapshot)).await;
    assert_eq!(sev(&fifth, "STS-H-04"), Severity::Warn, "{}", dump(&fifth));
}

#[tokio::test]
async fn dnssec_and_dane_facts_are_reported() {
    let lab = Lab::healthy(D, 1).await.unwrap();
    lab.dns.edit(|z| {
        z.authentic = true;
        z.tlsa("_25._tcp.mx1.example.test", 3, 1, 1, vec![0xab; 32]);
    });
    let o = check(&lab).await;
    assert!(
        find(&o, "DANE-01")[0].detail.contains("DNSSEC-validated"),
        "{}",
        dump(&o)
    );
    assert_eq!(sev(&o, "DANE-02"), Severity::Info);
    assert!(
        find(&o, "DANE-03")[0].detail.contains("3 1 1"),
        "{}",
        dump(&o)
    );
    assert_eq!(sev(&o, "STS-X-10"), Severity::Info);
}

#[tokio::test]
async fn null_mx_and_bad_input() {
    let lab = Lab::healthy(D, 1).await.unwrap();
    lab.dns.edit(|z| {
        z.clear(D);
        z.mx(D, 0, ".");
    });
    let o = check(&lab).await;
    assert_eq!(sev(&o, "STS-MX-01"), Severity::Info, "{}", dump(&o));
    assert_eq!(sev(&o, "STS-X-11"), Severity::Info);
    let checker = Checker::new(lab.config.clone()).unwrap();
    for bad in ["<script>", "127.0.0.1", "localhost", "a..b"] {
        let o = checker.check(bad, None).await;
        assert_eq!(sev(&o, "CHECK-00"), Severity::Fail, "{bad}");
        assert_eq!(o.findings.len(), 1);
    }
}

on_both_databases! {
    runs_are_stored_compared_and_explained => runs_are_stored_compared_and_explained;
    a_due_check_is_claimed_by_one_instance => a_due_check_is_claimed_by_one_instance;
}

async fn runs_are_stored_compared_and_explained(store: &Store) {
    let lab = Lab::healthy(D, 2).await.unwrap();
    let dest = ReportDestinations {
        mailbox: Some("tlsrpt@watch.example".into()),
        public_url: Some("https://watch.example".into()),
        receiver_secret: None,
    };
    let service = CheckService::new(
        Checker::new(lab.config.clone()).unwrap(),
        store.clone(),
        dest,
    );
    assert!(service.health(D).await.unwrap().is_none(), "unknown domain");
    let (id1, _) = service.run(D, "manual").await.unwrap();
    // The policy changes without a new id: the stored snapshot makes the next run notice.
    lab.https.serve(
        HOST,
        PolicyResponse::ok(&policy("testing", &["mx1.example.test"], 86400)),
    );
    let (id2, o2) = service.run(D, "schedule").await.unwrap();
    assert!(id2 > id1);
    assert_eq!(sev(&o2, "STS-H-01"), Severity::Warn, "{}", dump(&o2));
    let latest = store.latest_check(D).await.unwrap().unwrap();
    assert_eq!(latest.row.id, id2);
    assert_eq!(latest.findings, o2.findings);
    assert_eq!(latest.row.trigger, "schedule");
    assert_eq!(latest.row.warns as usize, o2.count(Severity::Warn));
    assert_eq!(
        latest.mx_hosts,
        vec!["mx1.example.test", "mx2.example.test"]
    );
    let h = service.health(D).await.unwrap().unwrap();
    assert_eq!(h.history.len(), 2);
    assert_eq!(h.history[0].id, id2);
    assert_eq!(
        h.findings.first().map(|f| f.severity),
        Some(o2.worst()),
        "worst first"
    );
    // Setup guide: records with live states, mx lines from the live MX set.
    assert!(
        h.setup
            .policy_file
            .contains("mx: mx1.example.test\nmx: mx2.example.test\n"),
        "{}",
        h.setup.policy_file
    );
    assert!(h.setup.policy_file.contains("mode: testing"));
    let id = h.setup.sts_txt_value.strip_prefix("v=STSv1; id=").unwrap();
    assert!(id.len() == 14 && id.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(
        h.setup.tlsrpt_txt_value,
        "v=TLSRPTv1; rua=mailto:tlsrpt@watch.example,https://watch.example/tlsrpt"
    );
    assert!(h.setup.tlsrpt_done && h.setup.sts_done);
    assert!(h.setup.steps.iter().all(|s| s.state.is_some()));
    // The second MX is not covered any more (testing: warn), so step 4 is not a pass.
    assert_eq!(
        h.setup.steps[3].state,
        Some(Severity::Warn),
        "{}",
        dump(&o2)
    );
    // Readiness: no reports yet, so not ready, and it says why.
    assert!(!h.readiness.ready);
    assert_eq!(h.readiness.mode.as_deref(), Some("testing"));
    assert!(
        h.readiness
            .blockers
            .iter()
            .any(|b| b.contains("days of reports")),
        "{:?}",
        h.readiness.blockers
    );
    let summaries = store.latest_check_summaries().await.unwrap();
    assert_eq!(
        summaries,
        vec![(D.to_string(), o2.worst(), Some("testing".to_string()))]
    );
}

async fn a_due_check_is_claimed_by_one_instance(store: &Store) {
    for i in 0..20 {
        store
            .add_domain(&format!("d{i}.example"), "manual", 0)
            .await
            .unwrap();
    }
    // Two "instances" claim at the same moment.
    let (a, b) = tokio::join!(
        store.claim_due_checks(1000, 3600, 100),
        store.claim_due_checks(1000, 3600, 100)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut all: Vec<String> = a.iter().chain(b.iter()).cloned().collect();
    all.sort();
    let n = all.len();
    all.dedup();
    assert_eq!(n, 20, "each domain claimed exactly once: {a:?} {b:?}");
    assert_eq!(all.len(), 20);
    // Not due again until the interval has passed.
    assert!(store
        .claim_due_checks(1000 + 3599, 3600, 100)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .claim_due_checks(1000 + 3600, 3600, 100)
            .await
            .unwrap()
            .len(),
        20
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_check_command_prints_json_findings_and_exits_2_on_failure() {
    let lab = Lab::healthy(D, 1).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("lab-ca.pem");
    std::fs::write(&ca, &lab.ca.cert_pem).unwrap();
    let run = |extra: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tlswatch"));
        cmd.args(["check", D, "--format", "json"])
            .args(extra)
            .env("TLSWATCH_DATA_DIR", dir.path())
            .env_remove("TLSWATCH_DATABASE_URL")
            .env("TLSWATCH_DNS_SERVERS", lab.dns.addr.to_string())
            .env("TLSWATCH_EXTRA_CA_FILE", &ca)
            .env("TLSWATCH_CHECK_ALLOW_PRIVATE", "true")
            .env(
                "TLSWATCH_CHECK_HTTPS_PORT",
                lab.https.addr.port().to_string(),
            )
            .env(
                "TLSWATCH_CHECK_SMTP_PORT",
                lab.smtp[0].addr.port().to_string(),
            );
        let out = cmd.output().unwrap();
        let findings: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        (out.status.code(), findings)
    };
    let (code, findings) = run(&[]);
    assert_eq!(code, Some(0), "{findings:#?}");
    for f in &findings {
        for key in ["id", "severity", "title", "detail", "fix"] {
            assert!(f.get(key).is_some(), "{key} missing in {f}");
        }
    }
    assert!(
        findings
            .iter()
            .any(|f| f["id"] == "STS-SMTP-05" && f["severity"] == "pass"),
        "{findings:#?}"
    );
    lab.smtp[0].set(|b| b.offer_starttls = false);
    let (code, findings) = run(&["--no-store"]);
    assert_eq!(code, Some(2));
    let f = findings.iter().find(|f| f["id"] == "STS-SMTP-02").unwrap();
    assert_eq!(f["severity"], "fail");
    assert!(f["fix"].as_str().unwrap().contains("STARTTLS"));
    // Without TLSWATCH_CHECK_ALLOW_PRIVATE the lab's loopback addresses are refused.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tlswatch"))
        .args(["check", D, "--format", "json", "--no-store"])
        .env("TLSWATCH_DATA_DIR", dir.path())
        .env_remove("TLSWATCH_DATABASE_URL")
        .env_remove("TLSWATCH_CHECK_ALLOW_PRIVATE")
        .env("TLSWATCH_DNS_SERVERS", lab.dns.addr.to_string())
        .output()
        .unwrap();
    let findings: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(findings
        .iter()
        .any(|f| f["id"] == "STS-HOST-02" && f["severity"] == "error"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_over_the_api_need_the_right_role() {
    use app::auth::Role;
    let lab = Lab::healthy(D, 1).await.unwrap();
    let db = support::sqlite().await;
    let checks = std::sync::Arc::new(CheckService::new(
        Checker::new(lab.config.clone()).unwrap(),
        db.store.clone(),
        ReportDestinations::default(),
    ));
    let settings = tlswatch::http::HttpSettings {
        checks: Some(checks),
        ..tlswatch::http::HttpSettings::local("127.0.0.1:0".parse().unwrap())
    };
    let s = support::server_with(db, settings).await;
    s.store.add_domain(D, "manual", 0).await.unwrap();
    let mut tokens = std::collections::HashMap::new();
    for role in [Role::Viewer, Role::Editor] {
        let (token, hash) = tlswatch::auth::new_secret("tlsw_");
        s.store
            .add_token(role.as_str(), &hash, role, "test", 0)
            .await
            .unwrap();
        tokens.insert(role, token);
    }
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/domains/{D}/checks", s.base);
    assert_eq!(http.get(&url).send().await.unwrap().status(), 401);
    let before: serde_json::Value = http
        .get(&url)
        .bearer_auth(&tokens[&Role::Viewer])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(before["latest"].is_null());
    assert_eq!(before["findings"].as_array().unwrap().len(), 0);
    assert_eq!(
        http.post(&url)
            .bearer_auth(&tokens[&Role::Viewer])
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    let run = http
        .post(&url)
        .bearer_auth(&tokens[&Role::Editor])
        .send()
        .await
        .unwrap();
    assert_eq!(run.status(), 200);
    let run: serde_json::Value = run.json().await.unwrap();
    assert_eq!(run["worst"], "warn", "{run:#}");
    let after: serde_json::Value = http
        .get(&url)
        .bearer_auth(&tokens[&Role::Viewer])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(after["latest"]["id"], run["id"]);
    assert_eq!(after["latest"]["trigger"], "api");
    assert_eq!(after["history"].as_array().unwrap().len(), 1);
    assert_eq!(after["readiness"]["mode"], "testing");
    let other = format!("{}/api/v1/domains/unknown.example/checks", s.base);
    assert_eq!(
        http.post(&other)
            .bearer_auth(&tokens[&Role::Editor])
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    // The audit log names who ran it.
    let audit = s.store.audit_log(50).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.action == "check.run" && a.detail.contains(D)),
        "{audit:?}"
    );
}
