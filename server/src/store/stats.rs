//! Reading the daily rollups for charts and tables.

use anyhow::Context;

use super::Store;

/// Totals of one domain over a range of days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainTotals {
    /// Domain name.
    pub domain: String,
    /// Counted successful sessions.
    pub success: i64,
    /// Counted failed sessions.
    pub failure: i64,
    /// Reports that contributed.
    pub reports: i64,
}

/// Totals of one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyTotals {
    /// Day number (days since 1970-01-01, UTC).
    pub day: i64,
    /// Counted successful sessions.
    pub success: i64,
    /// Counted failed sessions.
    pub failure: i64,
}

impl Store {
    /// Every registered domain with its totals for `from..=to` (days), zero when it has none.
    pub async fn domain_totals(&self, from: i64, to: i64) -> anyhow::Result<Vec<DomainTotals>> {
        let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
            "select d.name, cast(coalesce(sum(dd.success), 0) as bigint), cast(coalesce(sum(dd.failure), 0) as bigint),
                    cast(coalesce(sum(dd.reports), 0) as bigint)
             from domain d left join daily_domain dd on dd.domain_id = d.id and dd.day between $1 and $2
             group by d.name
             order by d.name",
        )
        .bind(from)
        .bind(to)
        .fetch_all(self.pool())
        .await
        .context("reading domain totals")?;
        Ok(rows
            .into_iter()
            .map(|(domain, success, failure, reports)| DomainTotals {
                domain,
                success,
                failure,
                reports,
            })
            .collect())
    }

    /// Daily totals across all domains for `from..=to`; days without data are absent.
    pub async fn daily_totals(&self, from: i64, to: i64) -> anyhow::Result<Vec<DailyTotals>> {
        let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
            "select day, cast(sum(success) as bigint), cast(sum(failure) as bigint)
             from daily_domain where day between $1 and $2
             group by day order by day",
        )
        .bind(from)
        .bind(to)
        .fetch_all(self.pool())
        .await
        .context("reading daily totals")?;
        Ok(rows
            .into_iter()
            .map(|(day, success, failure)| DailyTotals {
                day,
                success,
                failure,
            })
            .collect())
    }

    /// Number of stored reports.
    pub async fn report_count(&self) -> anyhow::Result<i64> {
        let (n,): (i64,) = sqlx::query_as("select count(*) from report")
            .fetch_one(self.pool())
            .await
            .context("counting reports")?;
        Ok(n)
    }
}
