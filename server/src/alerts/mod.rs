//! Alerting on TLS-RPT and MTA-STS facts, the way Alertmanager does it: rules evaluate the daily
//! rollups and the latest checks into alert instances keyed by labels (pending → firing →
//! resolved); notifications are grouped per channel and domain, repeated while firing, sent when
//! resolved, held back by silences and acknowledgements, retried with backoff, and recorded.
//!
//! Evaluation and notification run under a database lease, so with several instances on one
//! PostgreSQL each notification is queued once; delivery claims each notification row.

pub mod channels;
pub mod notify;
pub mod params;

use std::collections::{BTreeMap, BTreeSet};

use app::health::Severity;

use crate::domain::days::format_day;
use crate::store::alerts::{Active, RuleRow};
use crate::store::Store;
use params::{CertExpiry, FailureSpike, NewFailureType, NoReports, RuleParams};

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Rolling median and median absolute deviation (scaled to a standard deviation).
pub fn median_mad(values: &[f64]) -> (f64, f64) {
    let mut v = values.to_vec();
    let m = median(&mut v);
    let mut dev: Vec<f64> = values.iter().map(|x| (x - m).abs()).collect();
    (m, 1.4826 * median(&mut dev))
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn pct(x: f64) -> String {
    format!("{:.2} %", x * 100.0)
}

/// A spike test on one series of `(day, sessions, failures)`.
struct Spike {
    day: i64,
    rate: f64,
    baseline: f64,
    threshold: f64,
    failures: i64,
    sessions: i64,
}

/// Finds the worst day of the evaluation window whose rate is above the baseline (median +
/// k × MAD of the baseline window) or the absolute rate, with enough sessions and failures.
fn spike(series: &BTreeMap<i64, (i64, i64)>, today: i64, p: &FailureSpike) -> Option<Spike> {
    let FailureSpike {
        baseline_days,
        eval_days,
        k,
        min_sessions,
        min_failures,
        absolute_rate: absolute,
        ..
    } = *p;
    let mut worst: Option<Spike> = None;
    for day in (today - eval_days + 1)..=today {
        let Some(&(sessions, failures)) = series.get(&day) else {
            continue;
        };
        if sessions < min_sessions || failures < min_failures {
            continue;
        }
        let rate = failures as f64 / sessions as f64;
        let base: Vec<f64> = ((day - baseline_days)..day)
            .filter_map(|d| series.get(&d))
            .filter(|(s, _)| *s > 0)
            .map(|(s, f)| *f as f64 / *s as f64)
            .collect();
        let (m, mad) = median_mad(&base);
        // With a flat baseline, half a percentage point above it still counts as a spike.
        let threshold = (m + k * mad).max(m + 0.005).min(absolute);
        if rate > threshold && worst.as_ref().is_none_or(|w| rate > w.rate) {
            worst = Some(Spike {
                day,
                rate,
                baseline: m,
                threshold,
                failures,
                sessions,
            });
        }
    }
    worst
}

/// Evaluates every enabled rule for every domain its organization has proven (and its
/// organization's mailboxes) at `now` and applies the result. Returns the active conditions
/// found.
pub async fn evaluate(store: &Store, now: i64) -> anyhow::Result<Vec<Active>> {
    let today = now.div_euclid(86_400);
    let rules: Vec<RuleRow> = store
        .alert_rules()
        .await?
        .into_iter()
        .filter(|r| r.enabled)
        .collect();
    let mut domains: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for (org, name) in store.proven_claims().await? {
        domains.entry(org).or_default().push(name);
    }
    let none = Vec::new();
    let mut active = Vec::new();
    for rule in &rules {
        let params = match RuleParams::from_stored(&rule.kind, &rule.params) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(rule = rule.id, error = %e, "rule skipped: its stored parameters are invalid; save it again");
                continue;
            }
        };
        let for_secs = params.for_minutes() * 60;
        if let RuleParams::MailboxFailing(p) = &params {
            // About mailboxes, not domains: evaluated once.
            active.extend(
                mailbox_failing(store, rule, p, now)
                    .await?
                    .into_iter()
                    .map(|mut a| {
                        a.for_secs = for_secs;
                        a
                    }),
            );
            continue;
        }
        for domain in domains
            .get(&rule.org_id)
            .unwrap_or(&none)
            .iter()
            .filter(|d| rule.domain.as_ref().is_none_or(|r| r == *d))
        {
            let found = match &params {
                RuleParams::FailureSpike(p) => failure_spike(store, rule, p, domain, today).await?,
                RuleParams::NewFailureType(p) => {
                    new_failure_type(store, rule, p, domain, today).await?
                }
                RuleParams::ConfigRegression(_) => from_checks(store, rule, None, domain).await?,
                RuleParams::CertExpiry(p) => from_checks(store, rule, Some(p), domain).await?,
                RuleParams::NoReports(p) => no_reports(store, rule, p, domain, today).await?,
                RuleParams::MailboxFailing(_) => Vec::new(),
            };
            active.extend(found.into_iter().map(|mut a| {
                a.for_secs = for_secs;
                a
            }));
        }
    }
    let rule_ids: Vec<i64> = rules.iter().map(|r| r.id).collect();
    store.apply_evaluation(&rule_ids, &active, now).await?;
    Ok(active)
}

fn active(
    rule: &RuleRow,
    domain: &str,
    labels: BTreeMap<String, String>,
    value: f64,
    baseline: Option<f64>,
    threshold: Option<f64>,
    reason: String,
) -> Active {
    Active {
        rule_id: rule.id,
        labels,
        domain: domain.to_string(),
        value,
        baseline,
        threshold,
        reason,
        for_secs: 0,
    }
}

async fn failure_spike(
    store: &Store,
    rule: &RuleRow,
    p: &FailureSpike,
    domain: &str,
    today: i64,
) -> anyhow::Result<Vec<Active>> {
    let from = today - p.baseline_days - p.eval_days;
    let days = store.domain_days(domain, from, today).await?;
    let totals: BTreeMap<i64, (i64, i64)> =
        days.iter().map(|(d, s, f, _)| (*d, (s + f, *f))).collect();
    let mut out = Vec::new();
    if let Some(s) = spike(&totals, today, p) {
        out.push(active(rule, domain, labels(&[("rule", "failure_spike"), ("domain", domain)]), s.rate, Some(s.baseline), Some(s.threshold),
            format!("{domain}: {} of {} sessions failed on {} ({}), above the threshold {} (baseline median {})", s.failures, s.sessions, format_day(s.day), pct(s.rate), pct(s.threshold), pct(s.baseline))));
    }
    // Per receiving MX and per result type: their failures against the domain's sessions.
    for by_mx in [true, false] {
        let rows = store
            .domain_failure_days(domain, by_mx, from, today)
            .await?;
        let keys: BTreeSet<&String> = rows.iter().map(|r| &r.1).collect();
        for key in keys {
            let series: BTreeMap<i64, (i64, i64)> = totals
                .iter()
                .map(|(d, (sessions, _))| {
                    let f: i64 = rows
                        .iter()
                        .filter(|r| r.0 == *d && &r.1 == key)
                        .map(|r| r.2)
                        .sum();
                    (*d, (*sessions, f))
                })
                .collect();
            if let Some(s) = spike(&series, today, p) {
                let (label, what) = if by_mx {
                    (
                        "mx",
                        format!("MX {}", if key.is_empty() { "(unnamed)" } else { key }),
                    )
                } else {
                    ("result_type", key.clone())
                };
                out.push(active(rule, domain, labels(&[("rule", "failure_spike"), ("domain", domain), (label, if key.is_empty() { "(unnamed)" } else { key })]), s.rate, Some(s.baseline), Some(s.threshold),
                    format!("{domain}: {what} had {} failed of {} sessions on {} ({}), above the threshold {} (baseline median {})", s.failures, s.sessions, format_day(s.day), pct(s.rate), pct(s.threshold), pct(s.baseline))));
            }
        }
    }
    Ok(out)
}

async fn new_failure_type(
    store: &Store,
    rule: &RuleRow,
    p: &NewFailureType,
    domain: &str,
    today: i64,
) -> anyhow::Result<Vec<Active>> {
    let (eval, base, min) = (p.eval_days, p.baseline_days, p.min_failures);
    let rows = store
        .domain_failure_days(domain, false, today - eval - base + 1, today)
        .await?;
    let in_baseline: BTreeSet<&String> = rows
        .iter()
        .filter(|r| r.0 <= today - eval && r.2 > 0)
        .map(|r| &r.1)
        .collect();
    let mut recent: BTreeMap<&String, (i64, i64)> = BTreeMap::new();
    for (d, t, f) in rows.iter().filter(|r| r.0 > today - eval) {
        let e = recent.entry(t).or_insert((0, *d));
        e.0 += f;
        e.1 = e.1.min(*d);
    }
    Ok(recent
        .into_iter()
        .filter(|(t, (n, _))| *n >= min && !in_baseline.contains(t))
        .map(|(t, (n, first))| {
            active(rule, domain, labels(&[("rule", "new_failure_type"), ("domain", domain), ("result_type", t)]), n as f64, Some(0.0), Some(min as f64),
                format!("{domain}: {n} sessions failed with {t} since {}, a result type not seen in the {base} days before", format_day(first)))
        })
        .collect())
}

/// `config_regression` (`expiry: None`) or `cert_expiry` from the latest check run.
async fn from_checks(
    store: &Store,
    rule: &RuleRow,
    expiry: Option<&CertExpiry>,
    domain: &str,
) -> anyhow::Result<Vec<Active>> {
    let Some(run) = store.latest_check(domain).await? else {
        return Ok(Vec::new());
    };
    let expiry_ids = ["STS-HOST-06", "STS-SMTP-06"];
    let mut out = Vec::new();
    for f in &run.findings {
        let subject = f.subject.clone().unwrap_or_default();
        match expiry {
            // A failing check, or a policy changed without a new id (senders keep the stale one).
            None if f.severity == Severity::Fail
                || (f.id == "STS-H-01" && f.severity == Severity::Warn) =>
            {
                out.push(active(
                    rule,
                    domain,
                    labels(&[
                        ("rule", "config_regression"),
                        ("domain", domain),
                        ("check", &f.id),
                        ("subject", &subject),
                    ]),
                    1.0,
                    None,
                    None,
                    format!(
                        "{domain}: check {} ({}) fails: {} (run of {} UTC)",
                        f.id, f.title, f.detail, run.row.started
                    ),
                ));
            }
            Some(&CertExpiry { days, .. }) if expiry_ids.contains(&f.id.as_str()) => {
                // "expires in N days" (warn/info) or "expired" (fail: a regression, also here).
                let left = f
                    .detail
                    .split("expires in ")
                    .nth(1)
                    .and_then(|r| r.split_whitespace().next())
                    .and_then(|n| n.parse::<i64>().ok());
                let expired = f.severity == Severity::Fail;
                if expired || left.is_some_and(|l| l < days) {
                    out.push(active(
                        rule,
                        domain,
                        labels(&[
                            ("rule", "cert_expiry"),
                            ("domain", domain),
                            ("check", &f.id),
                            ("subject", &subject),
                        ]),
                        left.unwrap_or(0) as f64,
                        None,
                        Some(days as f64),
                        format!(
                            "{domain}: certificate of {} {} (check {})",
                            if subject.is_empty() {
                                format!("mta-sts.{domain}")
                            } else {
                                subject.clone()
                            },
                            f.detail,
                            f.id
                        ),
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Enabled mailboxes whose last poll failed and that have not been polled successfully for
/// `hours` (or never). The alert's domain is empty: it is about a mailbox.
async fn mailbox_failing(
    store: &Store,
    rule: &RuleRow,
    p: &crate::alerts::params::MailboxFailing,
    now: i64,
) -> anyhow::Result<Vec<Active>> {
    let totals = store.mailbox_totals().await?;
    let mut out = Vec::new();
    for m in store.mailboxes().await? {
        if m.org_id != rule.org_id {
            continue;
        }
        let Some(error) = m.last_error.as_ref().filter(|_| m.enabled) else {
            continue;
        };
        let last_success = totals
            .iter()
            .find(|t| t.id == m.id)
            .and_then(|t| t.last_success_at);
        let quiet = last_success.map_or(i64::MAX, |t| now - t);
        if quiet < p.hours * 3600 {
            continue;
        }
        let since = match last_success {
            Some(t) => format!("no successful poll for {} h", (now - t) / 3600),
            None => "never polled successfully".to_owned(),
        };
        let labels = BTreeMap::from([
            ("rule".to_owned(), rule.kind.clone()),
            ("mailbox".to_owned(), m.name.clone()),
        ]);
        out.push(active(
            rule,
            "",
            labels,
            quiet.min(i64::from(i32::MAX)) as f64 / 3600.0,
            None,
            Some(p.hours as f64),
            format!(
                "mailbox {} {} ({since}): {}",
                m.name,
                if m.auth_required {
                    "needs authorization"
                } else {
                    "is failing"
                },
                crate::domain::report::truncate(error, 300)
            ),
        ));
    }
    Ok(out)
}

async fn no_reports(
    store: &Store,
    rule: &RuleRow,
    p: &NoReports,
    domain: &str,
    today: i64,
) -> anyhow::Result<Vec<Active>> {
    let (quiet, base, min_days) = (p.days, p.baseline_days, p.min_days_with_reports);
    let base_from = today - quiet - base + 1;
    let base_to = today - quiet;
    let rows = store.reporter_days(domain, base_from, today).await?;
    let mut out = Vec::new();
    let days_with = |pred: &dyn Fn(&(i64, String, i64)) -> bool, from: i64, to: i64| {
        rows.iter()
            .filter(|r| r.0 >= from && r.0 <= to && r.2 > 0 && pred(r))
            .map(|r| r.0)
            .collect::<BTreeSet<_>>()
            .len() as i64
    };
    let before = days_with(&|_| true, base_from, base_to);
    let recent = days_with(&|_| true, base_to + 1, today);
    if before >= min_days && recent == 0 {
        out.push(active(rule, domain, labels(&[("rule", "no_reports"), ("domain", domain)]), 0.0, Some(before as f64), Some(min_days as f64),
            format!("{domain}: no report for {quiet} days, after reports on {before} of the {base} days before")));
        return Ok(out);
    }
    let orgs: BTreeSet<&String> = rows.iter().map(|r| &r.1).collect();
    for org in orgs {
        let b = days_with(&|r| &r.1 == org, base_from, base_to);
        let r = days_with(&|r| &r.1 == org, base_to + 1, today);
        if b >= min_days && r == 0 {
            out.push(active(rule, domain, labels(&[("rule", "no_reports"), ("domain", domain), ("reporter", org)]), 0.0, Some(b as f64), Some(min_days as f64),
                format!("{domain}: {org} sent no report for {quiet} days, after reports on {b} of the {base} days before")));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_mad() {
        assert_eq!(median_mad(&[1.0, 2.0, 3.0, 4.0, 100.0]).0, 3.0);
        let (m, mad) = median_mad(&[0.01, 0.01, 0.01, 0.01]);
        assert_eq!((m, mad), (0.01, 0.0));
    }

    #[test]
    fn a_spike_needs_enough_sessions_and_failures() {
        let p = FailureSpike::default();
        let mut s: BTreeMap<i64, (i64, i64)> = (0..14).map(|d| (d, (1000, 2))).collect();
        s.insert(14, (1000, 150));
        let sp = spike(&s, 14, &p).expect("spike");
        assert_eq!(sp.day, 14);
        assert!((sp.baseline - 0.002).abs() < 1e-9);
        // Too few sessions: no page.
        s.insert(14, (50, 40));
        assert!(spike(&s, 14, &p).is_none());
        // Normal day: nothing.
        s.insert(14, (1000, 3));
        assert!(spike(&s, 14, &p).is_none());
    }
}
