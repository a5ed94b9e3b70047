//! Hosted MTA-STS policies (RFC 8461 §3.2): what a version contains, the file served for it,
//! its id, and the guards that decide whether a change may be made. Everything here is pure;
//! the service layer (`service::policies`) gathers the facts (the latest check, the reports)
//! and the store keeps the versions. Serving is `http::policy_host`; certificates are
//! [`acme`] and [`tls`].

pub mod acme;
pub mod tls;

use crate::check::records::{mx_matches, valid_mx_pattern};
use crate::domain::names::normalize_mx_pattern;

/// Longest `max_age` RFC 8461 allows (about a year).
pub const MAX_AGE_LIMIT: i64 = 31_557_600;

/// Senders' modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Deliver anyway, report failures.
    Testing,
    /// Refuse delivery to hosts that fail.
    Enforce,
    /// Forget the policy.
    None,
}

impl Mode {
    /// The policy file's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Testing => "testing",
            Self::Enforce => "enforce",
            Self::None => "none",
        }
    }

    /// Parses the policy file's spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "testing" => Some(Self::Testing),
            "enforce" => Some(Self::Enforce),
            "none" => Some(Self::None),
            _ => None,
        }
    }
}

/// The content of a version: what senders get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    /// Mode.
    pub mode: Mode,
    /// MX patterns, normalized, without duplicates, in the order given.
    pub mx: Vec<String>,
    /// Seconds.
    pub max_age: i64,
}

impl Content {
    /// Validates a requested content; the message names what is wrong.
    pub fn parse(mode: &str, mx: &[String], max_age: i64) -> Result<Self, String> {
        let mode = Mode::parse(mode.trim()).ok_or_else(|| {
            format!(
                "mode {:?} is not one of testing, enforce, none",
                crate::domain::report::truncate(mode, 40)
            )
        })?;
        if !(0..=MAX_AGE_LIMIT).contains(&max_age) {
            return Err(format!(
                "max_age {max_age} is outside 0..={MAX_AGE_LIMIT} (RFC 8461 §3.2)"
            ));
        }
        if mx.len() > 100 {
            return Err("at most 100 mx patterns".into());
        }
        let mut patterns: Vec<String> = Vec::new();
        for m in mx {
            let shown = crate::domain::report::truncate(m, 80);
            let lowered = m.trim().trim_end_matches('.').to_ascii_lowercase();
            valid_mx_pattern(&lowered).map_err(|why| format!("mx {shown:?}: {why}"))?;
            let p = normalize_mx_pattern(&lowered).ok_or_else(|| {
                format!("mx {shown:?} is not a host name or a *. wildcard pattern")
            })?;
            if !patterns.contains(&p) {
                patterns.push(p);
            }
        }
        if patterns.is_empty() && mode != Mode::None {
            return Err(format!(
                "mode {} needs at least one mx pattern",
                mode.as_str()
            ));
        }
        Ok(Self {
            mode,
            mx: patterns,
            max_age,
        })
    }

    /// The policy file, with CRLF line ends (RFC 8461 §3.2).
    pub fn text(&self) -> String {
        let mut s = format!("version: STSv1\r\nmode: {}\r\n", self.mode.as_str());
        for m in &self.mx {
            s.push_str("mx: ");
            s.push_str(m);
            s.push_str("\r\n");
        }
        s.push_str(&format!("max_age: {}\r\n", self.max_age));
        s
    }

    /// Whether some pattern covers `host`.
    pub fn covers(&self, host: &str) -> bool {
        self.mx.iter().any(|p| mx_matches(p, host))
    }
}

/// A new policy id: the UTC time of the version (14 digits) and 8 random letters and digits,
/// so ids sort by time, stay within RFC 8461's 32 characters and are never reused (the
/// database also refuses a duplicate).
pub fn new_policy_id(now: i64) -> String {
    use rand::distributions::{Alphanumeric, DistString};
    let stamp = chrono::DateTime::from_timestamp(now, 0)
        .unwrap_or_default()
        .format("%Y%m%d%H%M%S");
    format!(
        "{stamp}{}",
        Alphanumeric.sample_string(&mut rand::thread_rng(), 8)
    )
}

/// The `_mta-sts` TXT record's value for `id`.
pub fn txt_value(id: &str) -> String {
    format!("v=STSv1; id={id}")
}

/// What the guards know about the domain besides the two versions.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// Whether the domain's enforce readiness passes (`None`: unknown, checks are off), with
    /// its blockers.
    pub readiness: Option<(bool, Vec<String>)>,
    /// MX hosts the latest check found (`None`: no check yet).
    pub live_mx: Option<Vec<String>>,
    /// Failed sessions per receiving MX host in the recent reports, with the days covered.
    pub failures_by_mx: Vec<(String, i64)>,
    /// Reports in the recent period whose policy lists each pattern.
    pub reports_naming: Vec<(String, i64)>,
    /// Days the report numbers cover.
    pub days: i64,
    /// Unix seconds of the change.
    pub now: i64,
}

/// A guard's verdict on a change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Reasons the change is refused (unless overridden).
    pub blockers: Vec<String>,
    /// Things to know that do not block it.
    pub warnings: Vec<String>,
}

fn date(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// The guards of a change from `current` to `next`:
/// - to `enforce` only when the enforce readiness passes;
/// - in `enforce`, every MX host of the latest check must be covered (senders would refuse to
///   deliver to the others); in `testing` an uncovered MX is a warning;
/// - removing a pattern that recent reports still name is warned with the numbers;
/// - a lowered `max_age` is warned: senders keep the old value for the old version;
/// - an added pattern is warned with the time before which MX records must not point at
///   hosts only it covers (the migration assistant's first step).
pub fn judge(current: Option<&Content>, next: &Content, facts: &Facts) -> Verdict {
    let mut v = Verdict::default();
    let was_enforce = current.is_some_and(|c| c.mode == Mode::Enforce);
    if next.mode == Mode::Enforce && !was_enforce {
        match &facts.readiness {
            Some((true, _)) => {}
            Some((false, blockers)) => v.blockers.push(format!(
                "the domain is not ready for enforce: {}",
                blockers.join(" ")
            )),
            None => v.blockers.push(
                "readiness for enforce is unknown (health checks are off on this server)".into(),
            ),
        }
    }
    if next.mode != Mode::None {
        if let Some(live) = &facts.live_mx {
            let uncovered: Vec<&String> = live.iter().filter(|h| !next.covers(h)).collect();
            if !uncovered.is_empty() {
                let list = uncovered
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                if next.mode == Mode::Enforce {
                    v.blockers.push(format!("the domain's MX records still name {list}, which the new policy does not cover: in enforce mode senders would refuse to deliver there; change the MX records first"));
                } else {
                    v.warnings.push(format!("the domain's MX records name {list}, which the new policy does not cover: senders will report failures for it"));
                }
            }
        }
    }
    if let Some(cur) = current {
        for removed in cur.mx.iter().filter(|p| !next.mx.contains(p)) {
            let failures: i64 = facts
                .failures_by_mx
                .iter()
                .filter(|(h, _)| !h.is_empty() && mx_matches(removed, h))
                .map(|(_, n)| n)
                .sum();
            let reports = facts
                .reports_naming
                .iter()
                .find(|(p, _)| p == removed)
                .map_or(0, |(_, n)| *n);
            if failures > 0 || reports > 0 {
                v.warnings.push(format!(
                    "mx {removed} is removed while reporters still apply it: {reports} report(s) in the last {} days describe a policy listing it, and {failures} failed session(s) named a host it covers",
                    facts.days
                ));
            }
        }
        if next.max_age < cur.max_age && next.mode != Mode::None {
            v.warnings.push(format!(
                "max_age lowered from {} to {}: senders that fetched the current version keep it until {} at the latest",
                cur.max_age,
                next.max_age,
                date(facts.now + cur.max_age)
            ));
        }
        let added: Vec<&String> = next.mx.iter().filter(|p| !cur.mx.contains(p)).collect();
        if !added.is_empty() && cur.mode != Mode::None {
            let list = added
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            v.warnings.push(format!(
                "{list} added: senders may keep the current version, without it, until {}; point MX records at hosts only it covers after that",
                date(facts.now + cur.max_age)
            ));
        }
    }
    v
}

/// A stored version, as the migration assistant reads the history.
#[derive(Debug, Clone)]
pub struct Dated {
    /// The content.
    pub content: Content,
    /// Unix seconds it was made.
    pub created_at: i64,
}

/// The migration assistant: for each pattern of the newest version in `history` (oldest
/// first), since when it is in the policy, from when no sender can hold a policy without it,
/// the live MX hosts it covers, and the next step.
pub fn migration(
    history: &[Dated],
    live_mx: Option<&[String]>,
    now: i64,
) -> Vec<app::hosting::MxStep> {
    let Some(current) = history.last() else {
        return Vec::new();
    };
    current
        .content
        .mx
        .iter()
        .map(|pattern| {
            // The current run of versions holding the pattern starts after the last one
            // without it.
            let start = history
                .iter()
                .rposition(|d| !d.content.mx.contains(pattern) || d.content.mode == Mode::None)
                .map_or(0, |i| i + 1)
                .min(history.len() - 1);
            let since = history[start].created_at;
            let longest_before = history[..start]
                .iter()
                .map(|d| d.content.max_age)
                .max()
                .unwrap_or(0);
            let safe_from = since + longest_before;
            let covers: Vec<String> = live_mx
                .unwrap_or_default()
                .iter()
                .filter(|h| mx_matches(pattern, h))
                .cloned()
                .collect();
            let (state, advice) = if now < safe_from {
                (
                    "waiting",
                    format!("senders may still hold a policy without {pattern} until {}: do not point MX records at hosts only it covers before then", date(safe_from)),
                )
            } else if live_mx.is_some() && covers.is_empty() {
                (
                    "unused",
                    format!("no MX record uses {pattern} any more: it can be dropped from the policy"),
                )
            } else {
                (
                    "ready",
                    format!("every sender's policy includes {pattern}: MX records may point at the hosts it covers"),
                )
            };
            app::hosting::MxStep {
                mx: pattern.clone(),
                in_policy_since: since,
                safe_from,
                covers,
                state: state.into(),
                advice,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(mode: &str, mx: &[&str], max_age: i64) -> Content {
        Content::parse(
            mode,
            &mx.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            max_age,
        )
        .unwrap()
    }

    #[test]
    fn content_is_validated_and_served_with_crlf() {
        let c = content(
            "testing",
            &["MX1.Example.com.", "*.example.net", "mx1.example.com"],
            86400,
        );
        assert_eq!(c.mx, vec!["mx1.example.com", "*.example.net"]);
        assert_eq!(
            c.text(),
            "version: STSv1\r\nmode: testing\r\nmx: mx1.example.com\r\nmx: *.example.net\r\nmax_age: 86400\r\n"
        );
        let parsed = crate::check::records::parse_policy(c.text().as_bytes());
        assert!(parsed.valid(), "{:?}", parsed.problems);
        assert!(Content::parse("enforcing", &["a.example".into()], 1)
            .unwrap_err()
            .contains("mode"));
        assert!(Content::parse("testing", &[], 1)
            .unwrap_err()
            .contains("at least one mx"));
        assert!(Content::parse("testing", &["a..b".into()], 1)
            .unwrap_err()
            .contains("a..b"));
        assert!(Content::parse("testing", &["a.example".into()], MAX_AGE_LIMIT + 1).is_err());
        assert!(Content::parse("none", &[], 86400).is_ok());
    }

    #[test]
    fn ids_are_short_alphanumeric_and_distinct() {
        let a = new_policy_id(1_764_547_200);
        let b = new_policy_id(1_764_547_200);
        assert!(a.starts_with("20251201"));
        assert!(a.len() <= 32 && a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }

    #[test]
    fn enforce_needs_readiness() {
        let cur = content("testing", &["mx.example.com"], 86400);
        let next = content("enforce", &["mx.example.com"], 604800);
        let mut facts = Facts {
            readiness: Some((false, vec!["Reports on only 3 of the last 30 days.".into()])),
            ..Facts::default()
        };
        let v = judge(Some(&cur), &next, &facts);
        assert_eq!(v.blockers.len(), 1);
        assert!(v.blockers[0].contains("only 3 of the last 30"));
        facts.readiness = Some((true, vec![]));
        assert!(judge(Some(&cur), &next, &facts).blockers.is_empty());
        facts.readiness = None;
        assert!(judge(Some(&cur), &next, &facts).blockers[0].contains("unknown"));
        // Staying in enforce needs no readiness.
        assert!(judge(Some(&next), &next, &facts).blockers.is_empty());
    }

    #[test]
    fn uncovered_live_mx_blocks_enforce_and_warns_testing() {
        let cur = content("enforce", &["mx1.example.com", "mx2.example.com"], 604800);
        let next = content("enforce", &["mx1.example.com"], 604800);
        let facts = Facts {
            live_mx: Some(vec!["mx1.example.com".into(), "mx2.example.com".into()]),
            failures_by_mx: vec![("mx2.example.com".into(), 7)],
            reports_naming: vec![("mx2.example.com".into(), 12)],
            days: 14,
            ..Facts::default()
        };
        let v = judge(Some(&cur), &next, &facts);
        assert_eq!(v.blockers.len(), 1, "{v:?}");
        assert!(v.blockers[0].contains("mx2.example.com"));
        assert!(v
            .warnings
            .iter()
            .any(|w| w.contains("12 report(s)") && w.contains("7 failed")));
        let testing = content("testing", &["mx1.example.com"], 604800);
        let v = judge(Some(&cur), &testing, &facts);
        assert!(v.blockers.is_empty());
        assert!(v.warnings.iter().any(|w| w.contains("does not cover")));
    }

    #[test]
    fn lowering_max_age_and_adding_mx_are_warned() {
        let cur = content("testing", &["mx1.example.com"], 604800);
        let next = content("testing", &["mx1.example.com", "mx2.example.com"], 86400);
        let v = judge(
            Some(&cur),
            &next,
            &Facts {
                now: 0,
                ..Facts::default()
            },
        );
        assert!(v.blockers.is_empty());
        assert!(v
            .warnings
            .iter()
            .any(|w| w.contains("lowered from 604800 to 86400") && w.contains("1970-01-08")));
        assert!(v
            .warnings
            .iter()
            .any(|w| w.starts_with("mx2.example.com added") && w.contains("1970-01-08")));
    }

    #[test]
    fn migration_waits_for_the_longest_earlier_max_age() {
        let day = 86_400;
        let history = vec![
            Dated {
                content: content("testing", &["old.example.com"], 7 * day),
                created_at: 0,
            },
            Dated {
                content: content("testing", &["old.example.com", "new.example.net"], day),
                created_at: 10 * day,
            },
        ];
        let live = vec!["old.example.com".to_string()];
        let steps = migration(&history, Some(&live), 12 * day);
        assert_eq!(steps[0].mx, "old.example.com");
        assert_eq!(steps[0].state, "ready");
        assert_eq!(steps[1].state, "waiting");
        assert_eq!(steps[1].in_policy_since, 10 * day);
        assert_eq!(steps[1].safe_from, 17 * day);
        // After the wait the new MX is ready; once DNS moved, the old one is unused.
        let steps = migration(&history, Some(&["new.example.net".to_string()]), 18 * day);
        assert_eq!(
            (steps[0].state.as_str(), steps[1].state.as_str()),
            ("unused", "ready")
        );
    }
}
