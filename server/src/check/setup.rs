//! Guided setup (the records to publish, each step judged by the live checks) and enforce
//! readiness (from the report history and the latest checks).

use app::health::{Readiness, SetupGuide, SetupStep, Severity};

use super::policy::policy_text;
use super::run::ReportDestinations;
use crate::store::checks::StoredRun;
use crate::store::DomainStats;

/// The state of a step judged by `ids`: the worst finding among them, with the severity the
/// findings list gives it (a record that is missing is the same `warn` here as there); `None`
/// before any check.
fn step_state(run: Option<&StoredRun>, ids: &[&str]) -> Option<Severity> {
    let run = run?;
    let of: Vec<_> = run
        .findings
        .iter()
        .filter(|f| ids.contains(&f.id.as_str()))
        .collect();
    // The record is missing and the rest was skipped: the step is what the lookup says.
    let first = of.iter().find(|f| f.id == ids[0]).map(|f| f.severity);
    let rest_skipped = of
        .iter()
        .filter(|f| f.id != ids[0])
        .all(|f| f.severity == Severity::Skip);
    if let (Some(s @ (Severity::Info | Severity::Warn)), true) = (first, rest_skipped) {
        return Some(s);
    }
    of.iter()
        .map(|f| f.severity)
        .filter(|s| *s != Severity::Info)
        .max()
        .or(Some(Severity::Skip))
}

/// A fresh `id`: the UTC time as 14 digits (letters and digits only, unlike `2026-04-29`).
pub fn fresh_id(now: i64) -> String {
    chrono::DateTime::from_timestamp(now, 0)
        .map(|d| d.format("%Y%m%d%H%M%S").to_string())
        .unwrap_or_else(|| now.to_string())
}

/// The setup guide for `domain`.
pub fn guide(
    domain: &str,
    latest: Option<&StoredRun>,
    dest: &ReportDestinations,
    now: i64,
) -> SetupGuide {
    let mx: Vec<String> = match latest.map(|l| l.mx_hosts.clone()) {
        Some(m) if !m.is_empty() => m,
        _ => vec![format!("mail.{domain}")],
    };
    let rua = dest.rua();
    let tlsrpt_value = if rua.is_empty() {
        format!("v=TLSRPTv1; rua=mailto:tlsrpt@{domain}")
    } else {
        format!("v=TLSRPTv1; rua={}", rua.join(","))
    };
    let steps = vec![
        SetupStep {
            title: format!("Publish the TLS-RPT record at _smtp._tls.{domain} so reports arrive"),
            state: step_state(latest, &["RPT-TXT-01", "RPT-TXT-02", "RPT-TXT-04", "RPT-TXT-05", "RPT-TXT-06", "RPT-TXT-07"]),
            checks: vec!["RPT-TXT-01".into(), "RPT-TXT-02".into(), "RPT-TXT-04".into()],
        },
        SetupStep {
            title: format!("Serve the policy file at https://mta-sts.{domain}/.well-known/mta-sts.txt with a valid certificate"),
            state: step_state(latest, &["STS-HOST-01", "STS-HOST-02", "STS-HOST-03", "STS-HOST-04", "STS-HOST-05", "STS-HOST-06", "STS-HTTP-01", "STS-HTTP-03", "STS-HTTP-04", "STS-POL-01", "STS-POL-02", "STS-POL-03", "STS-POL-04", "STS-POL-05", "STS-POL-06", "STS-POL-07", "STS-POL-08"]),
            checks: vec!["STS-HOST-01".into(), "STS-HOST-04".into(), "STS-HOST-05".into(), "STS-HTTP-01".into(), "STS-POL-04".into()],
        },
        SetupStep {
            title: format!("Publish the MTA-STS record at _mta-sts.{domain} (change its id whenever the policy changes)"),
            state: step_state(latest, &["STS-TXT-01", "STS-TXT-03", "STS-TXT-07", "STS-TXT-08"]),
            checks: vec!["STS-TXT-01".into(), "STS-TXT-03".into(), "STS-TXT-08".into()],
        },
        SetupStep {
            title: "Make every MX host covered by the policy, with STARTTLS and a valid certificate".into(),
            state: step_state(latest, &["STS-MX-03", "STS-MX-04", "STS-SMTP-02", "STS-SMTP-03", "STS-SMTP-04", "STS-SMTP-05", "STS-SMTP-06"]),
            checks: vec!["STS-MX-03".into(), "STS-SMTP-02".into(), "STS-SMTP-04".into(), "STS-SMTP-05".into(), "STS-SMTP-06".into()],
        },
    ];
    let passed = |id: &str| {
        latest.is_some_and(|l| {
            l.findings
                .iter()
                .any(|f| f.id == id && f.severity == Severity::Pass)
        })
    };
    SetupGuide {
        sts_done: passed("STS-X-01"),
        tlsrpt_done: passed("RPT-TXT-02") && passed("RPT-TXT-04"),
        policy_file: policy_text("testing", &mx, 86_400),
        sts_txt_name: format!("_mta-sts.{domain}"),
        sts_txt_value: format!("v=STSv1; id={}", fresh_id(now)),
        tlsrpt_txt_name: format!("_smtp._tls.{domain}"),
        tlsrpt_txt_value: tlsrpt_value,
        steps,
    }
}

/// Result types a domain's own configuration causes (policy host, policy, MX hosts).
const ATTRIBUTABLE: [&str; 8] = [
    "sts-policy-fetch-error",
    "sts-policy-invalid",
    "sts-webpki-invalid",
    "validation-failure",
    "starttls-not-supported",
    "certificate-host-mismatch",
    "certificate-expired",
    "certificate-not-trusted",
];

/// Whether the domain can move from `testing` to `enforce`, from the last 30 days of reports
/// (`last30`), failures in the last 14 (`last14`) and the latest check.
pub fn readiness(
    latest: Option<&StoredRun>,
    last30: Option<&DomainStats>,
    last14: Option<&DomainStats>,
) -> Readiness {
    let mut blockers = Vec::new();
    let mut met = Vec::new();
    let mode = latest.and_then(|l| l.snapshot.mode.clone());
    let max_age = latest.and_then(|l| l.snapshot.max_age);
    match (&latest, mode.as_deref()) {
        (None, _) => blockers.push("No check has run yet: run the checks.".to_string()),
        (Some(_), None) => blockers
            .push("No valid MTA-STS policy is published yet: follow the setup guide.".to_string()),
        (Some(_), Some("none")) => {
            blockers.push("The policy is in mode none (MTA-STS switched off).".to_string())
        }
        (Some(_), Some("enforce")) => {
            met.push("The policy is already in enforce mode.".to_string())
        }
        (Some(_), Some(_)) => met.push("A valid testing policy is published.".to_string()),
    }
    let report_days = last30.map_or(0, |s| {
        s.by_day
            .iter()
            .filter(|(_, ok, fail)| ok + fail > 0)
            .count()
    });
    if report_days >= 14 {
        met.push(format!("Reports on {report_days} of the last 30 days."));
    } else {
        blockers.push(format!("Reports on only {report_days} of the last 30 days; wait for at least 14 days of reports."));
    }
    let reporters = last30.map_or(0, |s| s.by_reporter.len());
    if reporters >= 2 {
        met.push(format!("{reporters} organizations report."));
    } else {
        blockers.push(format!("{reporters} reporting organization(s); wait for at least 2 so one sender's view is not all you see."));
    }
    let attributable: Vec<(String, i64)> = last14
        .map(|s| {
            s.by_result_type
                .iter()
                .filter(|(t, n)| *n > 0 && ATTRIBUTABLE.contains(&t.as_str()))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    if attributable.is_empty() {
        met.push("No failures caused by the policy or an MX host in the last 14 days.".to_string());
    } else {
        let list: Vec<String> = attributable
            .iter()
            .map(|(t, n)| format!("{n} × {t}"))
            .collect();
        blockers.push(format!(
            "Failures in the last 14 days that enforce would turn into refused mail: {}.",
            list.join(", ")
        ));
    }
    if let Some(l) = latest {
        let failing: std::collections::BTreeSet<&str> = l
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Fail)
            .map(|f| f.id.as_str())
            .collect();
        if failing.is_empty() {
            met.push(format!("No check fails (run of {}).", l.row.started));
        } else {
            blockers.push(format!(
                "Checks failing: {}.",
                failing.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    let enforce = mode.as_deref() == Some("enforce");
    let max_age_advice = match (mode.as_deref(), max_age) {
        (Some("enforce"), Some(m)) if m >= 1_209_600 => format!("max_age {m} is long enough; up to 31557600 (a year) is allowed."),
        (Some("enforce"), Some(m)) => format!("Raise max_age from {m} to at least 1209600 (two weeks), then towards 31557600, changing the id each time."),
        (Some("testing"), _) => "Keep max_age short (86400) while testing. After switching to enforce and a clean week of reports, raise it to 604800, then to 1209600 or more, changing the id each time.".to_string(),
        _ => "Start with mode testing and max_age 86400.".to_string(),
    };
    Readiness {
        ready: blockers.is_empty() && !enforce,
        mode,
        blockers,
        met,
        max_age_advice,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_ids_are_valid_record_ids() {
        let id = fresh_id(1_795_000_000);
        assert_eq!(id.len(), 14);
        assert!(id.bytes().all(|b| b.is_ascii_digit()));
        let rec = super::super::records::parse_sts_record(&format!("v=STSv1; id={id}"));
        assert!(rec.valid());
    }

    #[test]
    fn readiness_without_history_lists_every_blocker() {
        let r = readiness(None, None, None);
        assert!(!r.ready);
        assert!(r.blockers.len() >= 3, "{:?}", r.blockers);
    }
}
