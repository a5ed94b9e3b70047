//! Consistency across records and the history kept between runs (groups I and J).

use super::*;

impl Checker {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn consistency(
        &self,
        out: &mut Out,
        domain: &str,
        txt: &TxtState,
        policy: Option<&Policy>,
        rpt_valid: bool,
        null_mx: bool,
        any_tlsa: bool,
        rpt: &Result<dns::Answer<Vec<Vec<Vec<u8>>>>, DnsError>,
    ) {
        let policy_ok = policy.is_some_and(|p| p.valid());
        let mode = policy.filter(|p| p.valid()).and_then(|p| p.mode);
        if txt.present && !txt.valid && policy_ok {
            out.add("STS-X-01", Severity::Fail, "the policy file is valid but the _mta-sts record is not; senders treat the domain as having no policy");
        } else if txt.present && !policy_ok && !out.has("STS-X-01", Severity::Fail) {
            out.add("STS-X-01", Severity::Fail, "an MTA-STS record is published but no valid policy could be fetched; senders report the failure and act as if there were no policy").reported_as("sts-policy-fetch-error");
        } else if txt.valid && policy_ok {
            out.add(
                "STS-X-01",
                Severity::Pass,
                "record and policy are both valid",
            );
        }
        if !txt.valid && policy_ok {
            let sev = if mode == Some(Mode::None) {
                Severity::Info
            } else {
                Severity::Warn
            };
            out.add("STS-X-02", sev, "a valid policy is served but there is no valid _mta-sts record, so senders never look for it");
        }
        match mode {
            Some(Mode::Testing) => {
                if !rpt_valid {
                    out.add("STS-X-03", Severity::Warn, "mode testing without a valid TLS-RPT record: nobody learns what enforce would break");
                }
                out.add("STS-X-05", Severity::Warn, "mode testing: senders deliver even when checks fail; switch to enforce when ready");
            }
            Some(Mode::Enforce) if !rpt_valid => {
                out.add(
                    "STS-X-04",
                    Severity::Warn,
                    "mode enforce without a valid TLS-RPT record: refused deliveries go unnoticed",
                );
            }
            Some(Mode::Enforce) => {}
            Some(Mode::None) => {
                let ma = policy.and_then(|p| p.max_age).unwrap_or(0);
                if ma > 86_400 {
                    out.add("STS-X-06", Severity::Warn, format!("mode none with max_age {ma}: a removal policy should use a small max_age (one day)"));
                } else {
                    out.add(
                        "STS-X-06",
                        Severity::Warn,
                        "mode none: MTA-STS gives no protection",
                    );
                }
            }
            None => {}
        }
        if let (Some(m), Some(ma)) = (mode, policy.and_then(|p| p.max_age)) {
            let (sev, msg) = match m {
                Mode::Enforce if ma < 86_400 => (Severity::Warn, format!("max_age {ma} is under a day: senders re-fetch constantly and an attacker has an easy window")),
                Mode::Enforce if ma < 1_209_600 => (Severity::Warn, format!("max_age {ma} is under two weeks; raise it now that the policy is enforced (604800 to 31557600)")),
                Mode::Testing if ma < 86_400 => (Severity::Warn, format!("max_age {ma} is under a day")),
                Mode::Testing | Mode::None if ma > 2_592_000 => (Severity::Info, format!("max_age {ma} is over 30 days: senders that do not re-check the id keep this policy for long")),
                _ => (Severity::Pass, format!("max_age {ma} suits mode {}", m.as_str())),
            };
            out.add("STS-X-07", sev, msg);
        }
        if mode == Some(Mode::Testing) {
            let blocking: Vec<&Finding> = out
                .findings
                .iter()
                .filter(|f| {
                    matches!(f.severity, Severity::Fail | Severity::Warn)
                        && (f.id.starts_with("STS-MX-0")
                            || f.id.starts_with("STS-SMTP-0")
                            || f.id.starts_with("STS-HOST-")
                            || f.id.starts_with("STS-HTTP-0")
                            || f.id.starts_with("STS-POL-"))
                })
                .collect();
            if blocking.is_empty() {
                out.add("STS-X-08", Severity::Pass, "every MX is covered and passes the STARTTLS checks, and the policy host is valid: the checks do not block enforce");
            } else {
                let ids: Vec<String> = blocking
                    .iter()
                    .map(|f| f.id.clone())
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect();
                out.add(
                    "STS-X-08",
                    Severity::Warn,
                    format!("not yet: fix {}", ids.join(", ")),
                );
            }
        }
        if domain.split('.').count() > 2 {
            out.add("STS-X-09", Severity::Info, format!("if {domain} is a subdomain: senders never use the parent domain's policy for it"));
        }
        if any_tlsa && txt.present {
            out.add("STS-X-10", Severity::Info, "DANE and MTA-STS are both deployed: DANE senders validate with TLSA and ignore MTA-STS");
        }
        if null_mx && txt.present {
            out.add(
                "STS-X-11",
                Severity::Info,
                "the domain has a null MX; its MTA-STS policy is pointless",
            );
        }
        if let Ok(a) = rpt {
            let text: Vec<String> = a
                .data
                .iter()
                .map(|s| String::from_utf8_lossy(&s.concat()).into_owned())
                .collect();
            let broken = out
                .findings
                .iter()
                .any(|f| f.severity == Severity::Fail && f.id.starts_with("STS-"));
            if broken && text.iter().any(|t| t.contains(&format!("@{domain}"))) {
                out.add("STS-X-12", Severity::Info, "reports go to this domain, whose MTA-STS has failures; they still arrive (senders deliver reports without MTA-STS)");
            }
        }
    }

    pub(super) fn stateful(
        &self,
        out: &mut Out,
        previous: Option<&Snapshot>,
        txt: &TxtState,
        policy: Option<&Policy>,
        body_hash: Option<String>,
        now: i64,
    ) -> Snapshot {
        let valid = policy.is_some_and(|p| p.valid());
        let mut snap = Snapshot {
            sts_id: txt.id.clone(),
            policy_sha256: body_hash.clone(),
            mode: policy
                .filter(|_| valid)
                .and_then(|p| p.mode)
                .map(|m| m.as_str().to_string()),
            max_age: policy
                .filter(|_| valid)
                .and_then(|p| p.max_age)
                .map(|m| m as i64),
            at: now,
            id_history: previous.map(|p| p.id_history.clone()).unwrap_or_default(),
        };
        if let (Some(id), Some(h)) = (&snap.sts_id, &snap.policy_sha256) {
            if !snap.id_history.iter().any(|(i, hh)| i == id && hh == h) {
                snap.id_history.push((id.clone(), h.clone()));
                let keep = snap.id_history.len().saturating_sub(20);
                snap.id_history.drain(..keep);
            }
        }
        let Some(prev) = previous else {
            out.add(
                "STS-H-01",
                Severity::Info,
                "first run: nothing to compare with yet",
            );
            return snap;
        };
        match (
            &prev.sts_id,
            &snap.sts_id,
            &prev.policy_sha256,
            &snap.policy_sha256,
        ) {
            (Some(pid), Some(id), Some(ph), Some(h)) if pid == id && ph != h => {
                out.add("STS-H-01", Severity::Warn, format!("the policy file changed since {} but the id is still {id}: senders keep the cached old policy", fmt_time(prev.at)));
            }
            (Some(pid), Some(id), Some(ph), Some(h)) if pid != id && ph == h => {
                out.add("STS-H-02", Severity::Info, format!("the id changed ({pid} → {id}) but the policy file did not; if you meant to change the policy, update the file too (file first, then id)"));
            }
            (Some(_), Some(_), Some(_), Some(_)) => {
                out.add(
                    "STS-H-01",
                    Severity::Pass,
                    "the id and the policy changed together (or neither changed)",
                );
            }
            _ => {}
        }
        if let (Some(id), Some(h)) = (&snap.sts_id, &snap.policy_sha256) {
            if prev.id_history.iter().any(|(i, hh)| i == id && hh != h)
                && prev.sts_id.as_deref() != Some(id)
            {
                out.add("STS-H-03", Severity::Warn, format!("id {id} was used earlier for a different policy; senders that remember it keep the old one"));
            }
        }
        if let (Some(pm), Some(pma)) = (&prev.mode, prev.max_age) {
            let gone = snap.sts_id.is_none() || !valid;
            if gone && pm != "none" && now - prev.at < pma {
                out.add("STS-H-04", Severity::Warn, format!("the {pm} policy seen on {} (max_age {pma}) is gone; senders may still apply it until {}", fmt_time(prev.at), fmt_time(prev.at + pma)));
            }
            if let Some(ma) = snap.max_age {
                if ma < pma {
                    out.add("STS-H-05", Severity::Info, format!("max_age lowered from {pma} to {ma}: senders keep the old value until it expires"));
                }
            }
        }
        snap
    }
}
