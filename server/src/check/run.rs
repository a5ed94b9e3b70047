//! Running checks for the application: on demand (UI, API, CLI) and on a schedule, storing each
//! run with its findings, and assembling the health view (findings, history, setup, readiness).

use std::sync::Arc;
use std::time::Duration;

use app::health::HealthView;
use futures::StreamExt;

use super::{setup, Checker, Outcome};
use crate::store::Store;

/// Where the guided setup points the `_smtp._tls` record.
#[derive(Debug, Clone, Default)]
pub struct ReportDestinations {
    /// `TLSWATCH_REPORT_ADDRESS`: the mailbox tlswatch polls.
    pub mailbox: Option<String>,
    /// `TLSWATCH_PUBLIC_URL`: where senders reach this tlswatch over HTTPS.
    pub public_url: Option<String>,
    /// The receiver's secret path segment.
    pub receiver_secret: Option<String>,
}

impl ReportDestinations {
    /// The `rua=` URIs.
    pub fn rua(&self) -> Vec<String> {
        let mut v = Vec::new();
        if let Some(m) = &self.mailbox {
            v.push(format!("mailto:{m}"));
        }
        if let Some(u) = &self.public_url {
            let base = u.trim_end_matches('/');
            if base.starts_with("https://") {
                match &self.receiver_secret {
                    Some(s) => v.push(format!("{base}/tlsrpt/{s}")),
                    None => v.push(format!("{base}/tlsrpt")),
                }
            }
        }
        v
    }
}

/// The checker with the store it saves into.
pub struct CheckService {
    checker: Checker,
    store: Store,
    destinations: ReportDestinations,
}

impl CheckService {
    /// A service saving into `store`.
    pub fn new(checker: Checker, store: Store, destinations: ReportDestinations) -> Self {
        Self {
            checker,
            store,
            destinations,
        }
    }

    /// The checker.
    pub fn checker(&self) -> &Checker {
        &self.checker
    }

    /// Checks `domain`, comparing with its previous run, and stores the run.
    pub async fn run(&self, domain: &str, trigger: &str) -> anyhow::Result<(i64, Outcome)> {
        let started = crate::ingest::now_unix();
        let name = crate::domain::names::normalize_domain(domain)
            .ok_or_else(|| anyhow::anyhow!("{domain:?} is not a domain name"))?;
        let previous = self.store.latest_check(&name).await?.map(|r| r.snapshot);
        let outcome = self.checker.check(&name, previous.as_ref()).await;
        if outcome.findings.iter().any(|f| f.id == "CHECK-00") {
            anyhow::bail!("{domain:?} is not a domain name");
        }
        let id = self.store.save_check(&outcome, trigger, started).await?;
        Ok((id, outcome))
    }

    /// The health view of a registered domain; `None` for an unknown one.
    pub async fn health(&self, domain: &str) -> anyhow::Result<Option<HealthView>> {
        let Some(name) = crate::domain::names::normalize_domain(domain) else {
            return Ok(None);
        };
        if !self.store.domain_registered(&name).await? {
            return Ok(None);
        }
        let latest = self.store.latest_check(&name).await?;
        let history = self.store.check_history(&name, 30).await?;
        let today = crate::domain::days::day_of(chrono::Utc::now());
        let last30 = self.store.domain_stats(&name, today - 29, today).await?;
        let last14 = self.store.domain_stats(&name, today - 13, today).await?;
        let setup = setup::guide(
            &name,
            latest.as_ref(),
            &self.destinations,
            crate::ingest::now_unix(),
        );
        let readiness = setup::readiness(latest.as_ref(), last30.as_ref(), last14.as_ref());
        let mut findings = latest
            .as_ref()
            .map(|l| l.findings.clone())
            .unwrap_or_default();
        findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
        Ok(Some(HealthView {
            domain: name,
            latest: latest.map(|l| l.row),
            findings,
            history,
            setup,
            readiness,
        }))
    }

    /// Runs the due scheduled checks until `stop` turns true. Each due domain is claimed in the
    /// database first, so with several instances each check runs once per interval.
    pub async fn run_scheduler(
        self: Arc<Self>,
        interval: Duration,
        tick: Duration,
        concurrency: usize,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            let now = crate::ingest::now_unix();
            match self
                .store
                .claim_due_checks(now, interval.as_secs() as i64, 200)
                .await
            {
                Ok(domains) if !domains.is_empty() => {
                    tracing::info!(count = domains.len(), "running scheduled checks");
                    futures::stream::iter(domains)
                        .for_each_concurrent(concurrency.max(1), |d| {
                            let s = self.clone();
                            async move {
                                match s.run(&d, "schedule").await {
                                    Ok((_, o)) => tracing::info!(domain = %d, worst = o.worst().as_str(), millis = o.elapsed.as_millis() as u64, "scheduled check done"),
                                    Err(e) => tracing::warn!(domain = %d, error = %format!("{e:#}"), "scheduled check failed"),
                                }
                            }
                        })
                        .await;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "claiming scheduled checks failed")
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(tick) => {}
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                return;
            }
        }
    }
}
