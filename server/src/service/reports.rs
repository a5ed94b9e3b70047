//! Reports and their numbers: lists, one report as stored, per-domain stats and totals.

use super::{Actor, Outcome, ServiceError, Viewer};
use crate::store::{DomainStats, DomainTotals, ReportFilter, ReportSummary, Store};

/// Report reading, for every adapter.
#[derive(Clone)]
pub struct Reports {
    store: Store,
    max_decompressed: usize,
}

/// One stored report: the JSON as received and the warnings recorded for it.
#[derive(Debug, Clone)]
pub struct StoredReport {
    /// The report JSON as received.
    pub json: Vec<u8>,
    /// Deviations tolerated, and later notes (a differing copy, say).
    pub warnings: Vec<String>,
}

impl Reports {
    /// Reports over `store`; stored reports are inflated up to `max_decompressed` bytes.
    pub fn new(store: Store, max_decompressed: usize) -> Self {
        Self {
            store,
            max_decompressed,
        }
    }

    /// Reports matching `filter`: one row per report and policy domain.
    pub async fn list(
        &self,
        _: &Actor<Viewer>,
        filter: &ReportFilter,
    ) -> Outcome<Vec<ReportSummary>> {
        Ok(self.store.reports(filter).await?)
    }

    /// One report as stored.
    pub async fn get(&self, _: &Actor<Viewer>, id: i64) -> Outcome<StoredReport> {
        let (raw, warnings) = self
            .store
            .report_raw(id)
            .await?
            .ok_or_else(|| ServiceError::NotFound("no such report".into()))?;
        let json = crate::ingest::extract::gunzip(&raw, self.max_decompressed).map_err(|e| {
            tracing::error!(report = id, error = %e, "a stored report does not inflate");
            ServiceError::Unavailable
        })?;
        Ok(StoredReport { json, warnings })
    }

    /// Totals per domain over `from..=to`.
    pub async fn domain_totals(
        &self,
        _: &Actor<Viewer>,
        from: i64,
        to: i64,
    ) -> Outcome<Vec<DomainTotals>> {
        Ok(self.store.domain_totals(from, to).await?)
    }

    /// One domain's stats over `from..=to`.
    pub async fn domain_stats(
        &self,
        _: &Actor<Viewer>,
        domain: &str,
        from: i64,
        to: i64,
    ) -> Outcome<DomainStats> {
        let domain = crate::domain::names::DomainName::parse(domain)?;
        self.store
            .domain_stats(&domain, from, to)
            .await?
            .ok_or_else(|| ServiceError::NotFound("domain not registered".into()))
    }
}
