//! Months of reports. On PostgreSQL `report`, `report_policy` and `failure_detail` are
//! partitioned by month of `start_day` (migration `20261204000001_report_partitions.sql`): a
//! month's partitions are made before the first report of that month is stored, and retention
//! drops whole months. SQLite keeps one table each; there these are no-ops.

use std::collections::HashSet;

use anyhow::Context;
use chrono::{Datelike, NaiveDate};

use super::{Backend, Store};

/// Reports starting before this day (2000-01-01) are refused: TLS-RPT did not exist, and on
/// PostgreSQL each month needs its own partitions, which an open endpoint must not let anyone
/// create by the thousand.
pub const FIRST_DAY: i64 = 10_957;

/// Reports may start at most this many days after today (clocks differ; a report describes
/// the past).
pub const DAYS_AHEAD: i64 = 31;

/// The first day of the month `day` falls in.
pub fn month_of(day: i64) -> i64 {
    match NaiveDate::from_num_days_from_ce_opt(days_to_ce(day)) {
        Some(d) => day - i64::from(d.day0()),
        None => day,
    }
}

/// The first day of the month after the one `day` falls in.
pub fn next_month(day: i64) -> i64 {
    let Some(d) = NaiveDate::from_num_days_from_ce_opt(days_to_ce(day)) else {
        return day + 31;
    };
    let (y, m) = if d.month() == 12 {
        (d.year() + 1, 1)
    } else {
        (d.year(), d.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1)
        .map(|n| i64::from(n.num_days_from_ce()) - CE_TO_UNIX)
        .unwrap_or(day + 31)
}

/// Days from 0001-01-01 (day 1 of the common era) to 1970-01-01.
const CE_TO_UNIX: i64 = 719_163;

fn days_to_ce(day: i64) -> i32 {
    i32::try_from(day + CE_TO_UNIX).unwrap_or(i32::MAX)
}

/// The month of a partition suffix `YYYYMM`.
fn month_of_suffix(s: &str) -> Option<i64> {
    if s.len() != 6 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let d = NaiveDate::from_ymd_opt(s[..4].parse().ok()?, s[4..].parse().ok()?, 1)?;
    Some(i64::from(d.num_days_from_ce()) - CE_TO_UNIX)
}

/// One month of stored reports (PostgreSQL partitions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportMonth {
    /// `YYYYMM`.
    pub name: String,
    /// Its first day and the first day of the next month.
    pub from_day: i64,
    /// The first day of the next month.
    pub to_day: i64,
}

impl Store {
    /// Makes the partitions of the months `days` fall in, where they do not exist yet
    /// (PostgreSQL). Each month is asked for once per process.
    pub(crate) async fn ensure_months(
        &self,
        days: impl IntoIterator<Item = i64>,
    ) -> anyhow::Result<()> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        let wanted: HashSet<i64> = days.into_iter().map(month_of).collect();
        let missing: Vec<i64> = {
            let known = self.months.lock().unwrap_or_else(|e| e.into_inner());
            wanted.into_iter().filter(|m| !known.contains(m)).collect()
        };
        for month in missing {
            sqlx::query("select tlswatch_report_month($1)")
                .bind(month)
                .execute(&self.pool)
                .await
                .context("making the partitions of a month of reports")?;
            self.months
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(month);
        }
        Ok(())
    }

    /// The months that have partitions, oldest first (PostgreSQL; empty on SQLite).
    pub async fn report_months(&self) -> anyhow::Result<Vec<ReportMonth>> {
        if self.backend != Backend::Postgres {
            return Ok(Vec::new());
        }
        let names: Vec<(String,)> = sqlx::query_as(
            "select cast(c.relname as text) from pg_inherits i join pg_class c on c.oid = i.inhrelid
             where i.inhparent = cast('report' as regclass) order by 1",
        )
        .fetch_all(&self.pool)
        .await
        .context("listing the months of reports")?;
        Ok(names
            .into_iter()
            .filter_map(|(n,)| {
                let s = n.strip_prefix("report_")?;
                let from_day = month_of_suffix(s)?;
                Some(ReportMonth {
                    name: s.to_owned(),
                    from_day,
                    to_day: next_month(from_day),
                })
            })
            .collect())
    }

    /// Drops the months (PostgreSQL partitions) whose reports all ended before `before` (Unix
    /// time), failure and policy rows first. Returns how many reports went with them. A month
    /// with a report ending later is left to the row-by-row pruning.
    pub(crate) async fn drop_old_months(&self, before: i64) -> anyhow::Result<u64> {
        let mut dropped = 0;
        for month in self.report_months().await? {
            if month.to_day.saturating_mul(86_400) > before {
                continue;
            }
            let table = format!("report_{}", month.name);
            let mut tx = self
                .pool
                .begin()
                .await
                .context("dropping a month of reports")?;
            let (later, reports): (i64, i64) = sqlx::query_as(&format!(
                "select cast(count(*) filter (where end_time >= $1) as bigint), cast(count(*) as bigint) from {table}"
            ))
            .bind(before)
            .fetch_one(&mut *tx)
            .await
            .context("counting a month of reports")?;
            if later > 0 {
                continue;
            }
            for t in ["failure_detail", "report_policy", "report"] {
                sqlx::query(&format!(
                    "alter table {t} detach partition {t}_{}",
                    month.name
                ))
                .execute(&mut *tx)
                .await
                .with_context(|| format!("detaching {t}_{}", month.name))?;
                sqlx::query(&format!("drop table {t}_{}", month.name))
                    .execute(&mut *tx)
                    .await
                    .with_context(|| format!("dropping {t}_{}", month.name))?;
            }
            tx.commit().await.context("dropping a month of reports")?;
            self.months
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&month.from_day);
            tracing::info!(month = %month.name, reports, "retention dropped a month of reports");
            dropped += u64::try_from(reports).unwrap_or(0);
        }
        Ok(dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::days::{format_day, parse_day};

    #[test]
    fn months_start_on_the_first_and_end_before_the_next() {
        let d = |s| parse_day(s).unwrap();
        assert_eq!(month_of(d("2026-12-02")), d("2026-12-01"));
        assert_eq!(month_of(d("2026-12-01")), d("2026-12-01"));
        assert_eq!(month_of(d("2024-02-29")), d("2024-02-01"));
        assert_eq!(next_month(d("2026-12-31")), d("2027-01-01"));
        assert_eq!(next_month(d("2024-02-01")), d("2024-03-01"));
        assert_eq!(format_day(FIRST_DAY), "2000-01-01");
        assert_eq!(month_of_suffix("202601"), Some(d("2026-01-01")));
        assert_eq!(month_of_suffix("2026-1"), None);
        assert_eq!(month_of_suffix("202613"), None);
    }
}
