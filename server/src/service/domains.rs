//! Domains and their configuration checks: the latest findings, running the checks now.

use std::sync::Arc;

use app::health::HealthView;

use super::{Actor, Editor, Outcome, ServiceError, Viewer};
use crate::check::run::CheckService;
use crate::check::Outcome as CheckOutcome;
use crate::domain::names::DomainName;
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

    /// Registered domain names.
    pub async fn names(&self, _: &Actor<Viewer>) -> Outcome<Vec<String>> {
        Ok(self.store.domain_names().await?)
    }

    /// Registers a domain (audited); its normalized name.
    pub async fn add(&self, by: &Actor<Editor>, domain: &str) -> Outcome<DomainName> {
        let name = DomainName::parse(domain)?;
        self.store
            .add_domain(&name, "manual", crate::ingest::now_unix())
            .await?;
        super::audit(&self.store, by, "domain.add", &name).await;
        Ok(name)
    }

    /// The latest findings, history, setup guide and readiness of a registered domain.
    pub async fn health(&self, _: &Actor<Viewer>, domain: &str) -> Outcome<HealthView> {
        let checks = self.checks.as_ref().ok_or_else(checks_off)?;
        // The check service answers `None` for a domain that is not registered.
        let name = DomainName::parse(domain)?;
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
        let name = super::registered(&self.store, domain).await?;
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
