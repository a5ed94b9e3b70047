//! The numbers: the overview, per-domain trends and views, and the totals `/metrics` exports.

use std::collections::{BTreeMap, HashMap};

use app::api::{
    DomainDetails, DomainRow, DomainView, MtaRow, Overview, PolicySeenRow, ReporterRow,
    ResultTypeRow,
};

use super::views::day_series;
use super::{Actor, Outcome, Viewer};
use crate::domain::days::format_day;
use crate::store::alerts::{AlertRow, MetricTotals};
use crate::store::{QuarantineQuota, Store};

/// Statistics, for every adapter.
#[derive(Clone)]
pub struct Stats {
    store: Store,
}

/// Everything `/metrics` exports, read at once.
#[derive(Debug)]
pub struct MetricsSnapshot {
    /// Totals per domain, MX, result type; rejected inputs; checks; notifications.
    pub totals: MetricTotals,
    /// Active (pending and firing) alerts.
    pub alerts: Vec<AlertRow>,
    /// `(entries, bytes)` in the quarantine and its quota, when they could be read.
    pub quarantine: Option<((i64, i64), QuarantineQuota)>,
    /// The caller may see this process's instance-wide series (refusals, timeouts, the
    /// group commit's histograms): an instance admin or a member of the operator's organization.
    pub instance_wide: bool,
    /// Per mailbox: `(name, last success, failing, imported, duplicates, rejected)`.
    pub mailboxes: Vec<MailboxMetrics>,
}

/// One mailbox in `/metrics`.
#[derive(Debug, Clone)]
pub struct MailboxMetrics {
    /// Its name (the label).
    pub name: String,
    /// Enabled and its last poll failed.
    pub failing: bool,
    /// The identity provider refused the grant.
    pub auth_required: bool,
    /// Counts since it was added.
    pub totals: crate::store::MailboxTotals,
}

/// Per-domain trend: `(success, failure)` per bucket of days.
pub type Trend = (String, Vec<(i64, i64)>);

impl Stats {
    /// Statistics over `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// The overview of the days `from..=to` (inclusive): totals per domain with the latest
    /// check and firing alerts, and the daily series.
    pub async fn overview(&self, by: &Actor<Viewer>, from: i64, to: i64) -> Outcome<Overview> {
        let days = u32::try_from(to - from + 1).unwrap_or(1);
        let visible = super::visible(&self.store, by).await?;
        let (domains, checks, active) = tokio::try_join!(
            self.store.domain_totals(from, to),
            self.store.latest_check_summaries(),
            self.store.active_alerts(),
        )?;
        let domains = visible.keep(domains, |d| d.domain.as_str());
        let mut firing: HashMap<String, i64> = HashMap::new();
        for a in active
            .into_iter()
            .filter(|a| a.state == "firing" && by.reaches(a.org_id))
        {
            *firing.entry(a.domain).or_default() += 1;
        }
        let daily: Vec<(i64, i64, i64)> = match &visible {
            super::Visible::All => self
                .store
                .daily_totals(from, to)
                .await?
                .iter()
                .map(|t| (t.day, t.success, t.failure))
                .collect(),
            // The sum of the domains seen, day by day.
            super::Visible::Only(seen) => {
                let mut by_day: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
                for (name, bucket, ok, fail) in self.store.domain_buckets(from, to, 1).await? {
                    if seen.contains(&name) {
                        let day = by_day.entry(from + bucket).or_default();
                        day.0 += ok;
                        day.1 += fail;
                    }
                }
                by_day.into_iter().map(|(d, (s, f))| (d, s, f)).collect()
            }
        };
        let series = day_series(from, to, daily.into_iter());
        Ok(Overview {
            from: format_day(from),
            to: format_day(to),
            days,
            domains: domains
                .into_iter()
                .map(|d| {
                    let check = checks.iter().find(|c| c.0 == d.domain);
                    DomainRow {
                        spark: Vec::new(),
                        health: check.map(|c| c.1),
                        mode: check.and_then(|c| c.2.clone()),
                        alerts: firing.get(&d.domain).copied().unwrap_or(0),
                        name: d.domain,
                        success: d.success,
                        failure: d.failure,
                        reports: d.reports,
                    }
                })
                .collect(),
            series,
        })
    }

    /// Per-domain trends for `from..=to`: `(success, failure)` in up to 60 buckets of days.
    pub async fn trends(&self, by: &Actor<Viewer>, from: i64, to: i64) -> Outcome<Vec<Trend>> {
        let visible = super::visible(&self.store, by).await?;
        let days = (to - from + 1).max(1);
        // Up to 60 days: one point a day. Longer: whole weeks of the weekly rollup (the first
        // and last only the range's days), as many per point as keep it to 60 points.
        let (rows, n) = if days <= 60 {
            (self.store.domain_buckets(from, to, 1).await?, days as usize)
        } else {
            let weeks = to.div_euclid(7) - from.div_euclid(7) + 1;
            let per = (weeks + 59) / 60;
            (
                self.store.domain_week_buckets(from, to, per).await?,
                ((weeks + per - 1) / per) as usize,
            )
        };
        let mut spark: BTreeMap<String, Vec<(i64, i64)>> = BTreeMap::new();
        for (name, bucket, ok, fail) in rows {
            if !visible.sees(&name) {
                continue;
            }
            let b = spark.entry(name).or_insert_with(|| vec![(0, 0); n]);
            if let Some(slot) = usize::try_from(bucket).ok().and_then(|i| b.get_mut(i)) {
                slot.0 += ok;
                slot.1 += fail;
            }
        }
        Ok(spark.into_iter().collect())
    }

    /// One domain over `from..=to`; `None` when it is not a registered domain the caller
    /// sees.
    pub async fn domain(
        &self,
        by: &Actor<Viewer>,
        domain: &str,
        from: i64,
        to: i64,
    ) -> Outcome<Option<DomainView>> {
        let Some(domain) = crate::domain::names::normalize_domain(domain) else {
            return Ok(None);
        };
        if !super::visible(&self.store, by).await?.sees(&domain) {
            return Ok(None);
        }
        let Some(s) = self.store.domain_stats(&domain, from, to).await? else {
            return Ok(None);
        };
        let series = day_series(from, to, s.by_day.iter().copied());
        Ok(Some(DomainView {
            domain,
            from: format_day(from),
            to: format_day(to),
            success: s.success,
            failure: s.failure,
            series,
            by_mx: s.by_mx,
            by_result_type: s
                .by_result_type
                .into_iter()
                .map(|(result_type, failure)| ResultTypeRow {
                    result_type,
                    failure,
                })
                .collect(),
            reporters: s
                .by_reporter
                .into_iter()
                .map(
                    |(organization, success, failure, reports, last)| ReporterRow {
                        organization,
                        success,
                        failure,
                        reports,
                        last_day: format_day(last),
                        silent: last < to - 2,
                    },
                )
                .collect(),
        }))
    }

    /// A domain's sending MTAs with the most failures and the policies reporters saw.
    pub async fn domain_details(
        &self,
        by: &Actor<Viewer>,
        domain: &str,
        from: i64,
        to: i64,
    ) -> Outcome<Option<DomainDetails>> {
        let Some(domain) = crate::domain::names::normalize_domain(domain) else {
            return Ok(None);
        };
        if !super::visible(&self.store, by).await?.sees(&domain) {
            return Ok(None);
        }
        let (top, policies) = tokio::try_join!(
            self.store.top_sending_mtas(&domain, from, to, 15),
            self.store.policies_seen(&domain, from, to),
        )?;
        Ok(Some(DomainDetails {
            top_mtas: top
                .into_iter()
                .map(|(ip, failure, reporters)| MtaRow {
                    ip,
                    failure,
                    reporters,
                })
                .collect(),
            policies: policies
                .into_iter()
                .map(|p| PolicySeenRow {
                    policy_type: p.policy_type,
                    mode: p.mode,
                    mx: p.mx.join(", "),
                    first_day: format_day(p.first_day),
                    last_day: format_day(p.last_day),
                    reports: p.reports,
                    reporters: p.reporters,
                })
                .collect(),
        }))
    }

    /// What `/metrics` exports: the caller's organization's domains, alerts and mailboxes;
    /// the instance-wide series (rejected inputs, quarantine, checks, notifications, this
    /// process's counters and histograms) for the operator's (default) organization and instance admins only.
    pub async fn metrics(&self, by: &Actor<Viewer>) -> Outcome<MetricsSnapshot> {
        let (mut totals, mut alerts) =
            // Only active alerts are exported (firing ones): not the resolved history.
            tokio::try_join!(self.store.metric_totals(), self.store.active_alerts())?;
        let visible = super::visible(&self.store, by).await?;
        totals.domains = visible.keep(std::mem::take(&mut totals.domains), |t| t.0.as_str());
        totals.mx = visible.keep(std::mem::take(&mut totals.mx), |t| t.0.as_str());
        totals.result_types =
            visible.keep(std::mem::take(&mut totals.result_types), |t| t.0.as_str());
        alerts.retain(|a| by.reaches(a.org_id));
        let instance_wide = by.sees_all() || by.org() == crate::store::DEFAULT_ORG;
        let quarantine = if !instance_wide {
            totals.rejected = 0;
            totals.checks.clear();
            totals.notifications.clear();
            None
        } else {
            match self.store.quarantine_usage().await {
                Ok(usage) => Some((usage, self.store.quarantine_quota())),
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "quarantine usage unreadable");
                    None
                }
            }
        };
        let totals_by_id = self.store.mailbox_totals().await?;
        let mailboxes = self
            .store
            .mailboxes()
            .await?
            .into_iter()
            .filter(|m| by.reaches(m.org_id))
            .filter_map(|m| {
                let totals = totals_by_id.iter().find(|t| t.id == m.id)?.clone();
                Some(MailboxMetrics {
                    failing: m.enabled && m.last_error.is_some(),
                    auth_required: m.auth_required,
                    name: m.name,
                    totals,
                })
            })
            .collect();
        Ok(MetricsSnapshot {
            totals,
            alerts,
            quarantine,
            instance_wide,
            mailboxes,
        })
    }
}
