//! Domains and their configuration checks: the latest findings, running the checks now.

use std::sync::Arc;

use app::health::HealthView;

use super::{Actor, Editor, Outcome, ServiceError, Viewer};
use crate::check::run::CheckService;
use crate::check::Outcome as CheckOutcome;
use crate::store::Store;

/// Domain use cases, for every adapter.
#[derive(Clone)]
pub struct Domains {
    store: Store,
    checks: Option<Arc<CheckService>>,
}

/// The answer when the server runs without health checks.
fn checks_off() -> ServiceError {
    ServiceError::NotFound("health checks are not enabled on this server".into())
}

impl Domains {
    /// Domains of `store`, checked by `checks` when there is a checker.
    pub fn new(store: Store, checks: Option<Arc<CheckService>>) -> Self {
        Self { store, checks }
    }

    /// Whether this server runs checks.
    pub fn checks_enabled(&self) -> bool {
        self.checks.is_some()
    }

    /// The domains the caller sees: its organization's proven ones (an instance admin: every
    /// registered domain).
    pub async fn names(&self, by: &Actor<Viewer>) -> Outcome<Vec<String>> {
        let names = self.store.domain_names().await?;
        let visible = super::visible(&self.store, by).await?;
        Ok(visible.keep(names, String::as_str))
    }

    /// The latest findings, history, setup guide and readiness of a registered domain.
    pub async fn health(&self, by: &Actor<Viewer>, domain: &str) -> Outcome<HealthView> {
        let checks = self.checks.as_ref().ok_or_else(checks_off)?;
        let name = super::registered(&self.store, by, domain).await?;
        checks
            .health(&name)
            .await?
            .ok_or_else(|| ServiceError::NotFound("domain not registered".into()))
    }

    /// Runs the checks of a registered domain now (audited); the run's id and outcome.
    pub async fn run_check(
        &self,
        by: &Actor<Editor>,
        domain: &str,
        trigger: &str,
    ) -> Outcome<(i64, CheckOutcome)> {
        let checks = self.checks.as_ref().ok_or_else(checks_off)?;
        let name = super::registered(&self.store, by, domain).await?;
        let (id, outcome) = checks.run(&name, trigger).await?;
        super::audit(
            &self.store,
            by,
            "check.run",
            &format!("{name} run {id}: {}", outcome.worst().as_str()),
        )
        .await;
        Ok((id, outcome))
    }
}
