//! The quarantine: what was rejected, its bytes, re-processing (admin).

use super::{Actor, InstanceAdmin, Outcome, ServiceError};
use crate::ingest::{InputOutcome, Limits};
use crate::store::{DomainPolicy, Rejected, Store};

/// Quarantine use cases, for every adapter.
#[derive(Clone)]
pub struct Quarantine {
    store: Store,
    limits: Limits,
    domains: DomainPolicy,
    wake: Option<std::sync::Arc<tokio::sync::Notify>>,
}

impl Quarantine {
    /// The quarantine of `store`; re-processing uses `limits` and, for inputs from the
    /// authenticated channels, `domains`.
    pub fn new(store: Store, limits: Limits, domains: DomainPolicy) -> Self {
        Self {
            store,
            limits,
            domains,
            wake: None,
        }
    }

    /// Wakes the alert loop through `wake` when a re-processed input brought new reports.
    pub fn waking(mut self, wake: std::sync::Arc<tokio::sync::Notify>) -> Self {
        self.wake = Some(wake);
        self
    }

    /// Rejected inputs not yet re-processed, newest first.
    pub async fn list(&self, _: &Actor<InstanceAdmin>, limit: i64) -> Outcome<Vec<Rejected>> {
        Ok(self.store.list_rejected(limit).await?)
    }

    /// The bytes of a rejected input, as received.
    pub async fn raw(&self, _: &Actor<InstanceAdmin>, id: i64) -> Outcome<Vec<u8>> {
        let (_, _, raw_gz) = self
            .store
            .rejected_raw(id)
            .await?
            .ok_or_else(|| ServiceError::NotFound("no such rejected input".into()))?;
        crate::ingest::extract::gunzip(&raw_gz, usize::MAX / 2).map_err(|e| {
            tracing::error!(input = id, error = %e, "a quarantined input does not inflate");
            ServiceError::Unavailable
        })
    }

    /// Runs a rejected input through the importer again.
    pub async fn reprocess(&self, by: &Actor<InstanceAdmin>, id: i64) -> Outcome<InputOutcome> {
        let o = crate::ingest::reprocess(&self.store, id, &self.limits, self.domains)
            .await?
            .ok_or_else(|| ServiceError::NotFound("no such rejected input".into()))?;
        if o.status == crate::ingest::Status::Imported {
            if let Some(w) = &self.wake {
                w.notify_one();
            }
        }
        let text = match o.status {
            crate::ingest::Status::Imported => format!("imported {} report(s)", o.reports),
            crate::ingest::Status::Duplicate => "already imported".to_owned(),
            crate::ingest::Status::Rejected => {
                format!("still rejected: {}", o.reason.clone().unwrap_or_default())
            }
        };
        super::audit(
            &self.store,
            by,
            "quarantine.reprocess",
            &format!("input {id}: {text}"),
        )
        .await;
        Ok(o)
    }
}
