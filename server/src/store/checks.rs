//! Health check runs: history per domain, and the claim that makes a scheduled check run on one
//! instance only.

use anyhow::Context;
use app::health::{CheckRunRow, Finding, Severity};
use sqlx::Row;

use super::Store;
use crate::check::{Outcome, Snapshot};

/// A stored run with its findings.
#[derive(Debug, Clone)]
pub struct StoredRun {
    /// Listing fields.
    pub row: CheckRunRow,
    /// Findings in run order.
    pub findings: Vec<Finding>,
    /// State for the next run.
    pub snapshot: Snapshot,
    /// MX hosts found.
    pub mx_hosts: Vec<String>,
    /// Unix seconds of the start.
    pub started_at: i64,
}

fn fmt_time(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

fn row_of(r: &sqlx::any::AnyRow) -> anyhow::Result<CheckRunRow> {
    let started: i64 = r.try_get("started_at")?;
    Ok(CheckRunRow {
        id: r.try_get("id")?,
        started: fmt_time(started),
        millis: r.try_get("millis")?,
        trigger: r.try_get("trigger_kind")?,
        worst: Severity::parse(&r.try_get::<String, _>("worst")?).unwrap_or(Severity::Error),
        fails: r.try_get("fails")?,
        warns: r.try_get("warns")?,
        mode: r.try_get("mode")?,
    })
}

impl Store {
    /// Stores a finished run of `domain` (registering the domain if needed); returns its id.
    pub async fn save_check(
        &self,
        outcome: &Outcome,
        trigger: &str,
        started_at: i64,
    ) -> anyhow::Result<i64> {
        let domain_id = self
            .add_domain(&outcome.domain, "manual", started_at)
            .await?;
        let _guard = self.write_guard().await?;
        let (id,): (i64,) = sqlx::query_as(
            "insert into check_run (domain_id, started_at, millis, trigger_kind, worst, fails, warns, mode, findings, snapshot, mx_hosts, policy_text)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) returning id",
        )
        .bind(domain_id)
        .bind(started_at)
        .bind(i64::try_from(outcome.elapsed.as_millis()).unwrap_or(i64::MAX))
        .bind(trigger)
        .bind(outcome.worst().as_str())
        .bind(outcome.count(Severity::Fail) as i64)
        .bind(outcome.count(Severity::Warn) as i64)
        .bind(outcome.snapshot.mode.as_deref())
        .bind(serde_json::to_string(&outcome.findings)?)
        .bind(serde_json::to_string(&outcome.snapshot)?)
        .bind(serde_json::to_string(&outcome.mx_hosts)?)
        .bind(outcome.policy_text.as_deref())
        .fetch_one(self.pool())
        .await
        .context("storing a check run")?;
        sqlx::query("update domain set check_worst = $1, check_mode = $2 where id = $3")
            .bind(outcome.worst().as_str())
            .bind(outcome.snapshot.mode.as_deref())
            .bind(domain_id)
            .execute(self.pool())
            .await
            .context("recording the latest check")?;
        Ok(id)
    }

    /// The newest run of `domain`, with findings.
    pub async fn latest_check(&self, domain: &str) -> anyhow::Result<Option<StoredRun>> {
        let row = sqlx::query(
            "select c.id, c.started_at, c.millis, c.trigger_kind, c.worst, c.fails, c.warns, c.mode, c.findings, c.snapshot, c.mx_hosts
             from check_run c join domain d on d.id = c.domain_id
             where d.name = $1 order by c.started_at desc, c.id desc limit 1",
        )
        .bind(domain)
        .fetch_optional(self.pool())
        .await
        .context("reading the latest check")?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(StoredRun {
            row: row_of(&r)?,
            findings: serde_json::from_str(&r.try_get::<String, _>("findings")?)
                .unwrap_or_default(),
            snapshot: serde_json::from_str(&r.try_get::<String, _>("snapshot")?)
                .unwrap_or_default(),
            mx_hosts: serde_json::from_str(&r.try_get::<String, _>("mx_hosts")?)
                .unwrap_or_default(),
            started_at: r.try_get("started_at")?,
        }))
    }

    /// Runs of `domain`, newest first.
    pub async fn check_history(
        &self,
        domain: &str,
        limit: i64,
    ) -> anyhow::Result<Vec<CheckRunRow>> {
        let rows = sqlx::query(
            "select c.id, c.started_at, c.millis, c.trigger_kind, c.worst, c.fails, c.warns, c.mode
             from check_run c join domain d on d.id = c.domain_id
             where d.name = $1 order by c.started_at desc, c.id desc limit $2",
        )
        .bind(domain)
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .context("reading check history")?;
        rows.iter().map(row_of).collect()
    }

    /// Latest worst severity and mode of every domain with a run (for the overview).
    pub async fn latest_check_summaries(
        &self,
    ) -> anyhow::Result<Vec<(String, Severity, Option<String>)>> {
        let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
            "select name, check_worst, check_mode from domain where check_worst is not null order by name",
        )
        .fetch_all(self.pool())
        .await
        .context("reading check summaries")?;
        Ok(rows
            .into_iter()
            .map(|(d, w, m)| (d, Severity::parse(&w).unwrap_or(Severity::Error), m))
            .collect())
    }

    /// Claims up to `limit` domains whose scheduled check is due, moving their next time to
    /// `now + interval`. The conditional update makes each claim succeed on one instance only.
    pub async fn claim_due_checks(
        &self,
        now: i64,
        interval: i64,
        limit: i64,
    ) -> anyhow::Result<Vec<String>> {
        let due: Vec<(i64, String, i64)> = sqlx::query_as(
            // Only domains some organization has proven (or was vouched for) are checked: a
            // domain a report merely named waits, as its reports do.
            "select id, name, next_check_at from domain d where next_check_at <= $1
               and exists (select 1 from org_domain c where c.domain_id = d.id and c.verified_at is not null)
             order by next_check_at, id limit $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .context("finding due checks")?;
        let mut claimed = Vec::new();
        for (id, name, was) in due {
            let _guard = self.write_guard().await?;
            let done = sqlx::query(
                "update domain set next_check_at = $1 where id = $2 and next_check_at = $3",
            )
            .bind(now + interval)
            .bind(id)
            .bind(was)
            .execute(self.pool())
            .await
            .context("claiming a check")?;
            if done.rows_affected() == 1 {
                claimed.push(name);
            }
        }
        Ok(claimed)
    }
}
