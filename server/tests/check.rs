//! The checker against real DNS, HTTPS and SMTP servers on loopback (the lab), one scenario per
//! catalogue situation: certificates from a CA made at test time (valid, expired, wrong name,
//! untrusted), redirects, wrong media types, oversized and invalid policies, missing STARTTLS.

use app::health::{Finding, Severity};
use tlswatch::check::lab::{self, Lab, PolicyResponse, TestCa};
use tlswatch::check::{Checker, Outcome};

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
