//! The session counting rule.
//!
//! A report may describe the same sessions more than once: Microsoft lists every session to a
//! domain under its MTA-STS policy (`sts`) *and* under its DANE policy (`tlsa`), because each
//! session was checked against both. Summing all policies would double those sessions.
//!
//! **Rule.** Within one report and one policy domain:
//! 1. `sts` and `tlsa` policies are two views of the same sessions. Only the view with more
//!    sessions (success + failure) is counted; on a tie, `sts` is counted. Several policies of the
//!    counted type (a policy that changed during the day) are added together.
//! 2. Policies of any other type (`no-policy-found`, unknown types) describe sessions no other
//!    policy saw and are always added.
//! 3. Failure details are counted with their policy: per-MX and per-result-type breakdowns use
//!    the same counted policies as the domain totals, so they never exceed them through
//!    double listing.
//!
//! Every policy is still stored with a `counted` flag, so nothing is lost and the rule can be
//! re-applied.

use std::collections::BTreeMap;

use super::days::day_of;
use super::report::Report;

/// For each policy of `report`, whether it counts towards domain totals.
pub fn counted_policies(report: &Report) -> Vec<bool> {
    // Per domain: total sessions under sts and under tlsa.
    let mut views: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for p in &report.policies {
        let e = views.entry(p.policy_domain.as_str()).or_default();
        let n = p.success.saturating_add(p.failure);
        match p.policy_type.as_str() {
            "sts" => e.0 = e.0.saturating_add(n),
            "tlsa" => e.1 = e.1.saturating_add(n),
            _ => {}
        }
    }
    report
        .policies
        .iter()
        .map(|p| {
            let (sts, tlsa) = views[p.policy_domain.as_str()];
            match p.policy_type.as_str() {
                "sts" => sts >= tlsa,
                "tlsa" => tlsa > sts,
                _ => true,
            }
        })
        .collect()
}

/// What one report adds to the daily rollups of one domain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contribution {
    /// The policy domain.
    pub domain: String,
    /// UTC day the report's range starts on.
    pub day: i64,
    /// Counted successful sessions.
    pub success: u64,
    /// Counted failed sessions.
    pub failure: u64,
    /// Failed sessions per receiving MX host name (`""` when the report names none).
    pub failure_by_mx: BTreeMap<String, u64>,
    /// Failed sessions per result type.
    pub failure_by_result: BTreeMap<String, u64>,
}

/// Applies the counting rule: one contribution per policy domain in the report.
pub fn contributions(report: &Report) -> Vec<Contribution> {
    let counted = counted_policies(report);
    let day = day_of(report.start);
    let mut by_domain: BTreeMap<&str, Contribution> = BTreeMap::new();
    for (p, counted) in report.policies.iter().zip(counted) {
        let c = by_domain
            .entry(p.policy_domain.as_str())
            .or_insert_with(|| Contribution {
                domain: p.policy_domain.clone(),
                day,
                ..Default::default()
            });
        if !counted {
            continue;
        }
        c.success = c.success.saturating_add(p.success);
        c.failure = c.failure.saturating_add(p.failure);
        // Details that add up to more than the policy's total are stored as sent (and the
        // parser warned), but a breakdown never exceeds its total: each detail counts at most
        // what the total has left, in the order the sender listed them.
        let mut left = p.failure;
        for f in &p.failures {
            let n = f.failed_session_count.min(left);
            left -= n;
            if n == 0 {
                continue;
            }
            let mx = f.receiving_mx_hostname.clone().unwrap_or_default();
            *c.failure_by_mx.entry(mx).or_default() += n;
            *c.failure_by_result
                .entry(f.result_type.clone())
                .or_default() += n;
        }
    }
    by_domain.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::report::{parse_report, ParseContext};

    fn report(policies: &str) -> Report {
        let json = format!(
            r#"{{"organization-name":"o","report-id":"r","contact-info":"a@b.c",
            "date-range":{{"start-datetime":"2026-01-01T00:00:00Z","end-datetime":"2026-01-01T23:59:59Z"}},
            "policies":[{policies}]}}"#
        );
        parse_report(json.as_bytes(), &ParseContext::default()).unwrap()
    }

    fn policy(ty: &str, domain: &str, ok: u64, fail: u64) -> String {
        format!(
            r#"{{"policy":{{"policy-type":"{ty}","policy-domain":"{domain}"}},
            "summary":{{"total-successful-session-count":{ok},"total-failure-session-count":{fail}}}}}"#
        )
    }

    #[test]
    fn sts_and_tlsa_listing_the_same_sessions_count_once() {
        let r = report(
            &[
                policy("sts", "a.example", 10, 2),
                policy("tlsa", "a.example", 10, 2),
            ]
            .join(","),
        );
        let c = contributions(&r);
        assert_eq!((c[0].success, c[0].failure), (10, 2));
        assert_eq!(counted_policies(&r), vec![true, false]);
    }

    #[test]
    fn the_view_with_more_sessions_wins() {
        let r = report(
            &[
                policy("sts", "a.example", 3, 0),
                policy("tlsa", "a.example", 9, 1),
            ]
            .join(","),
        );
        assert_eq!(counted_policies(&r), vec![false, true]);
        assert_eq!(contributions(&r)[0].success, 9);
    }

    #[test]
    fn other_policy_types_and_other_domains_add_up() {
        let r = report(
            &[
                policy("sts", "a.example", 5, 0),
                policy("sts", "a.example", 1, 1),
                policy("no-policy-found", "a.example", 2, 0),
                policy("tlsa", "b.example", 4, 0),
            ]
            .join(","),
        );
        let c = contributions(&r);
        assert_eq!(c.len(), 2);
        assert_eq!(
            (c[0].domain.as_str(), c[0].success, c[0].failure),
            ("a.example", 8, 1)
        );
        assert_eq!((c[1].domain.as_str(), c[1].success), ("b.example", 4));
    }
}
