//! Hosted MTA-STS policies: the view of a domain's policy, changes guarded by the domain's
//! readiness, its MX records and its reports, rollback, phase-out, and what the policy host
//! serves.

use std::sync::Arc;

use app::hosting::{DnsState, PolicyChange, PolicyVersion, PolicyView, Published, TxtRecord};

use super::{Actor, Editor, Outcome, ServiceError, Viewer};
use crate::check::run::CheckService;
use crate::domain::names::DomainName;
use crate::hosting::{self, Content, Dated, Facts, Mode};
use crate::store::policies::{NewVersion, VersionRow};
use crate::store::Store;

/// Days of reports the guards look at.
const REPORT_DAYS: i64 = 14;
/// Longest comment or override reason kept.
const TEXT_LIMIT: usize = 500;

/// Policy use cases, for every adapter.
#[derive(Clone)]
pub struct Policies {
    store: Store,
    checks: Option<Arc<CheckService>>,
    /// Wakes the certificate manager when a domain starts being hosted.
    certificates: Arc<tokio::sync::Notify>,
}

/// What the policy host answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Served {
    /// The policy file.
    Policy(String),
    /// Nothing here (404).
    Nothing,
}

fn host_of(domain: &str) -> String {
    format!("mta-sts.{domain}")
}

fn content_of(v: &VersionRow) -> Content {
    Content {
        mode: Mode::parse(&v.mode).unwrap_or(Mode::None),
        mx: v.mx.clone(),
        max_age: v.max_age,
    }
}

fn view_of(v: &VersionRow) -> PolicyVersion {
    PolicyVersion {
        version: v.version,
        id: v.policy_id.clone(),
        mode: v.mode.clone(),
        mx: v.mx.clone(),
        max_age: v.max_age,
        author: v.author.clone(),
        created_at: v.created_at,
        comment: v.comment.clone(),
        override_reason: v.override_reason.clone(),
        text: content_of(v).text(),
    }
}

fn txt_record(domain: &str, id: &str) -> TxtRecord {
    TxtRecord {
        name: format!("_mta-sts.{domain}"),
        value: hosting::txt_value(id),
    }
}

fn bounded(s: &str, what: &str) -> Outcome<String> {
    let s = s.trim();
    if s.chars().count() > TEXT_LIMIT {
        return Err(ServiceError::Invalid(format!(
            "{what} is longer than {TEXT_LIMIT} characters"
        )));
    }
    if s.chars().any(|c| c.is_control()) {
        return Err(ServiceError::Invalid(format!(
            "{what} contains control characters"
        )));
    }
    Ok(s.to_owned())
}

impl Policies {
    /// Policies kept in `store`, guarded with the readiness `checks` compute.
    pub fn new(
        store: Store,
        checks: Option<Arc<CheckService>>,
        certificates: Arc<tokio::sync::Notify>,
    ) -> Self {
        Self {
            store,
            checks,
            certificates,
        }
    }

    /// The domain's hosted policy: current version, history, TXT record, DNS state, the MX
    /// migration assistant and the certificate.
    pub async fn view(&self, by: &Actor<Viewer>, domain: &str) -> Outcome<PolicyView> {
        let name = super::registered(&self.store, by, domain).await?;
        let now = crate::ingest::now_unix();
        let hosting = self.store.policy_hosting(&name).await?;
        let versions = self.store.policy_versions(&name).await?;
        let latest = self.store.latest_check(&name).await?;
        let current = hosting.as_ref().and_then(|h| {
            versions
                .iter()
                .find(|v| v.version == h.current_version)
                .cloned()
        });
        let state = match &hosting {
            None => "not_hosted",
            Some(h) if h.state == "phasing_out" && h.phase_out_until.is_some_and(|t| t <= now) => {
                "stopped"
            }
            Some(h) => h.state.as_str(),
        };
        let published_id = latest.as_ref().and_then(|l| l.snapshot.sts_id.clone());
        let in_step = match (&current, &published_id) {
            (Some(c), Some(p)) => &c.policy_id == p,
            _ => false,
        };
        let advice = match (&current, &published_id, &latest) {
            (None, _, _) => None,
            (Some(_), _, _) if in_step => None,
            (Some(c), _, None) => Some(format!(
                "no check has run yet: publish {} and run the checks",
                txt_record(&name, &c.policy_id).value
            )),
            (Some(c), None, Some(_)) => Some(format!(
                "DNS has no valid _mta-sts record yet: publish \"{}\" at _mta-sts.{name}",
                hosting::txt_value(&c.policy_id)
            )),
            (Some(c), Some(p), Some(_)) => Some(format!(
                "DNS still shows id {p} while version {} (id {}) is served: senders that cached an older policy do not fetch the new one until the record changes; publish \"{}\"",
                c.version,
                c.policy_id,
                hosting::txt_value(&c.policy_id)
            )),
        };
        let live_mx = latest.as_ref().map(|l| l.mx_hosts.clone());
        let dated: Vec<Dated> = versions
            .iter()
            .filter(|v| {
                hosting
                    .as_ref()
                    .is_some_and(|h| v.version <= h.current_version)
            })
            .map(|v| Dated {
                content: content_of(v),
                created_at: v.created_at,
            })
            .collect();
        let migration = hosting::migration(&dated, live_mx.as_deref(), now);
        let uncovered_mx = match (&current, &live_mx) {
            (Some(c), Some(live)) => {
                let content = content_of(c);
                live.iter()
                    .filter(|h| !content.covers(h))
                    .cloned()
                    .collect()
            }
            _ => Vec::new(),
        };
        let (certificate_not_after, certificate_error) =
            self.store.certificate_status(&host_of(&name)).await?;
        Ok(PolicyView {
            domain: name.to_string(),
            state: state.into(),
            phase_out_until: hosting.as_ref().and_then(|h| h.phase_out_until),
            host: host_of(&name),
            txt_record: current.as_ref().map(|c| txt_record(&name, &c.policy_id)),
            current: current.as_ref().map(view_of),
            history: versions.iter().rev().map(view_of).collect(),
            dns: DnsState {
                published_id,
                checked_at: latest.as_ref().map(|l| l.started_at),
                in_step,
                advice,
            },
            migration,
            uncovered_mx,
            certificate_not_after,
            certificate_error,
        })
    }

    /// What the guards need to know about `name`.
    async fn facts(&self, name: &DomainName, now: i64) -> Outcome<Facts> {
        let latest = self.store.latest_check(name).await?;
        let readiness = match &self.checks {
            Some(checks) => checks
                .health(name)
                .await?
                .map(|h| (h.readiness.ready, h.readiness.blockers)),
            None => None,
        };
        let today = crate::domain::days::day_of(chrono::Utc::now());
        let from = today - (REPORT_DAYS - 1);
        let failures_by_mx = self
            .store
            .domain_stats(name, from, today)
            .await?
            .map(|s| s.by_mx)
            .unwrap_or_default();
        let mut reports_naming: Vec<(String, i64)> = Vec::new();
        for seen in self.store.policies_seen(name, from, today).await? {
            for p in seen.mx {
                match reports_naming.iter_mut().find(|(q, _)| *q == p) {
                    Some((_, n)) => *n += seen.reports,
                    None => reports_naming.push((p, seen.reports)),
                }
            }
        }
        Ok(Facts {
            readiness,
            live_mx: latest.map(|l| l.mx_hosts),
            failures_by_mx,
            reports_naming,
            days: REPORT_DAYS,
            now,
        })
    }

    /// Makes `next` the served version, after the guards (overridable with a reason, audited).
    async fn publish<R: super::Needs>(
        &self,
        by: &Actor<R>,
        name: &DomainName,
        next: Content,
        comment: &str,
        override_reason: Option<&str>,
        phase_out: bool,
    ) -> Outcome<Published> {
        let now = crate::ingest::now_unix();
        let comment = bounded(comment, "comment")?;
        let override_reason = match override_reason.map(|r| bounded(r, "override_reason")) {
            Some(Ok(r)) if !r.is_empty() => Some(r),
            Some(Err(e)) => return Err(e),
            _ => None,
        };
        let served = self.store.served_policy(name).await?;
        let current = served
            .as_ref()
            .filter(|(h, _)| h.state == "active" || h.phase_out_until.is_some_and(|t| t > now))
            .map(|(_, v)| content_of(v));
        let verdict = if phase_out {
            hosting::Verdict::default()
        } else {
            hosting::judge(current.as_ref(), &next, &self.facts(name, now).await?)
        };
        if !verdict.blockers.is_empty() && override_reason.is_none() {
            return Err(ServiceError::Conflict(format!(
                "refused: {} (to make the change anyway, give an override_reason; it is audited)",
                verdict.blockers.join("; ")
            )));
        }
        let id = hosting::new_policy_id(now);
        let (state, phase_out_until) = if phase_out {
            ("phasing_out", Some(now + next.max_age))
        } else {
            ("active", None)
        };
        let version = self
            .store
            .add_policy_version(
                name,
                &NewVersion {
                    policy_id: &id,
                    mode: next.mode.as_str(),
                    mx: &next.mx,
                    max_age: next.max_age,
                    author: by.name(),
                    created_at: now,
                    comment: &comment,
                    override_reason: override_reason
                        .as_deref()
                        .filter(|_| !verdict.blockers.is_empty()),
                    state,
                    phase_out_until,
                },
            )
            .await?;
        let detail = format!(
            "{name} version {version} id {id}: mode {} mx {} max_age {}{}",
            next.mode.as_str(),
            next.mx.join(","),
            next.max_age,
            if phase_out { " (phase-out)" } else { "" }
        );
        super::audit(&self.store, by, "policy.publish", &detail).await;
        if !verdict.blockers.is_empty() {
            super::audit(
                &self.store,
                by,
                "policy.override",
                &format!(
                    "{name} version {version}: {} — reason: {}",
                    verdict.blockers.join("; "),
                    override_reason.as_deref().unwrap_or_default()
                ),
            )
            .await;
        }
        self.certificates.notify_one();
        Ok(Published {
            version,
            txt_record: txt_record(name, &id),
            id,
            text: next.text(),
            warnings: verdict.warnings,
            overridden: verdict.blockers,
            phase_out_until,
        })
    }

    /// Publishes a new version (editor); 409 with the reasons when a guard refuses.
    pub async fn change(
        &self,
        by: &Actor<Editor>,
        domain: &str,
        change: &PolicyChange,
    ) -> Outcome<Published> {
        let name = super::registered(&self.store, by, domain).await?;
        let next = Content::parse(&change.mode, &change.mx, change.max_age)
            .map_err(ServiceError::Invalid)?;
        self.publish(
            by,
            &name,
            next,
            &change.comment,
            change.override_reason.as_deref(),
            false,
        )
        .await
    }

    /// Publishes the content of an earlier `version` again, as a new version with a new id.
    pub async fn rollback(
        &self,
        by: &Actor<Editor>,
        domain: &str,
        version: i64,
        override_reason: Option<&str>,
    ) -> Outcome<Published> {
        let name = super::registered(&self.store, by, domain).await?;
        let old = self
            .store
            .policy_versions(&name)
            .await?
            .into_iter()
            .find(|v| v.version == version)
            .ok_or_else(|| ServiceError::NotFound(format!("no version {version}")))?;
        self.publish(
            by,
            &name,
            content_of(&old),
            &format!("rollback to version {version}"),
            override_reason,
            false,
        )
        .await
    }

    /// Stops hosting: serves `mode: none` with the current `max_age` for that long, so every
    /// sender forgets the policy, then the host answers 404.
    pub async fn stop(&self, by: &Actor<Editor>, domain: &str) -> Outcome<Published> {
        let name = super::registered(&self.store, by, domain).await?;
        let now = crate::ingest::now_unix();
        let Some((hosting, current)) = self.store.served_policy(&name).await? else {
            return Err(ServiceError::NotFound(
                "this domain's policy is not hosted".into(),
            ));
        };
        if hosting.state == "phasing_out" {
            return Err(ServiceError::Conflict(format!(
                "hosting is already being stopped (until {})",
                hosting.phase_out_until.unwrap_or(now)
            )));
        }
        let next = Content {
            mode: Mode::None,
            mx: current.mx.clone(),
            max_age: current.max_age,
        };
        self.publish(by, &name, next, "hosting stopped", None, true)
            .await
    }

    /// What `GET /.well-known/mta-sts.txt` on `host` answers (public: senders fetch it).
    pub async fn served(&self, host: &str) -> Outcome<Served> {
        let Some(domain) = host
            .strip_prefix("mta-sts.")
            .and_then(crate::domain::names::normalize_domain)
        else {
            return Ok(Served::Nothing);
        };
        let now = crate::ingest::now_unix();
        Ok(match self.store.served_policy(&domain).await? {
            Some((h, v)) if h.state == "active" || h.phase_out_until.is_some_and(|t| t > now) => {
                Served::Policy(content_of(&v).text())
            }
            _ => Served::Nothing,
        })
    }

    /// The answer to an HTTP-01 challenge for `token` on `host`, when one is pending.
    pub async fn http_challenge(&self, host: &str, token: &str) -> Outcome<Option<String>> {
        let now = crate::ingest::now_unix();
        Ok(self
            .store
            .challenge(host, hosting::acme::HTTP_01, now)
            .await?
            .filter(|(t, _)| t == token)
            .map(|(_, answer)| answer))
    }
}
