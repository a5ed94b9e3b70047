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
    /// Only reports about domains the caller sees are listed, and of those only the rows of
    /// domains it sees.
    pub async fn list(
        &self,
        by: &Actor<Viewer>,
        filter: &ReportFilter,
    ) -> Outcome<Vec<ReportSummary>> {
        let filter = ReportFilter {
            org: by.org_filter(),
            ..filter.clone()
        };
        let rows = self.store.reports(&filter).await?;
        let visible = super::visible(&self.store, by).await?;
        Ok(visible.keep(rows, |r| r.domains.as_str()))
    }

    /// One report as stored, when it is about a domain the caller sees.
    pub async fn get(&self, by: &Actor<Viewer>, id: i64) -> Outcome<StoredReport> {
        let visible = super::visible(&self.store, by).await?;
        if !matches!(visible, super::Visible::All)
            && !self
                .store
                .report_domains(id)
                .await?
                .iter()
                .any(|d| visible.sees(d))
        {
            return Err(ServiceError::NotFound("no such report".into()));
        }
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
        by: &Actor<Viewer>,
        from: i64,
        to: i64,
    ) -> Outcome<Vec<DomainTotals>> {
        let rows = self.store.domain_totals(from, to).await?;
        let visible = super::visible(&self.store, by).await?;
        Ok(visible.keep(rows, |r| r.domain.as_str()))
    }

    /// One domain's stats over `from..=to`.
    pub async fn domain_stats(
        &self,
        by: &Actor<Viewer>,
        domain: &str,
        from: i64,
        to: i64,
    ) -> Outcome<DomainStats> {
        let domain = super::registered(&self.store, by, domain).await?;
        self.store
            .domain_stats(&domain, from, to)
            .await?
            .ok_or_else(|| ServiceError::NotFound("domain not registered".into()))
    }
}
