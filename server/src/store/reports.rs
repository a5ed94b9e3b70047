//! Writing reports: dedup, policies, failure details and the daily rollups, all in one
//! transaction, so a crash never leaves half a report and the rollups always equal the rows.

use std::collections::{BTreeMap, HashMap};

use anyhow::Context;
use sqlx::{Any, Transaction};

use super::Store;
use crate::domain::counting::{contributions, counted_policies};
use crate::domain::Report;

/// A parsed report ready to store.
#[derive(Debug, Clone)]
pub struct NewReport {
    /// The parsed report.
    pub report: Report,
    /// SHA-256 (hex) of the report JSON.
    pub content_hash: String,
    /// The report as received, gzip-compressed.
    pub raw_gz: Vec<u8>,
    /// Size of the report JSON in bytes.
    pub raw_size: usize,
    /// Channel it arrived through: `cli`, `upload`, `https`, `imap`.
    pub channel: &'static str,
    /// Unix seconds it arrived.
    pub received_at: i64,
}

/// What storing one report did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreOutcome {
    /// Stored with this row id.
    Imported(i64),
    /// Already stored (same organization + report-id + date range, or the same JSON) as this id.
    Duplicate(i64),
    /// Not stored, with the reason (a domain that is not registered, say).
    Refused(String),
}

/// Whether unknown policy domains may be registered by this write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DomainPolicy {
    /// Register unknown domains (authenticated channels).
    AutoRegister,
    /// Refuse reports for unknown domains (the open HTTPS receiver, or when turned off).
    KnownOnly,
}

#[derive(Default)]
struct Rollups {
    domain: BTreeMap<(i64, i64), (i64, i64, i64)>,
    mx: BTreeMap<(i64, i64, String), i64>,
    result: BTreeMap<(i64, i64, String), i64>,
    reporter: BTreeMap<(i64, i64, String), (i64, i64, i64)>,
}

impl Store {
    /// Stores a batch of reports in one transaction. Duplicates (within the batch, in the
    /// database, or inserted concurrently by another instance) are detected and not counted.
    pub async fn store_reports(&self, batch: &[NewReport], domains: DomainPolicy) -> anyhow::Result<Vec<StoreOutcome>> {
        let _guard = self.write_guard().await;
        let mut tx = self.pool().begin().await.context("starting transaction")?;
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut domain_ids: HashMap<String, Option<i64>> = HashMap::new();
        let mut rollups = Rollups::default();
        for item in batch {
            outcomes.push(insert_one(&mut tx, item, domains, &mut domain_ids, &mut rollups).await?);
        }
        apply_rollups(&mut tx, &rollups).await?;
        tx.commit().await.context("committing reports")?;
        Ok(outcomes)
    }
}

async fn insert_one(
    tx: &mut Transaction<'static, Any>,
    item: &NewReport,
    domains: DomainPolicy,
    domain_ids: &mut HashMap<String, Option<i64>>,
    rollups: &mut Rollups,
) -> anyhow::Result<StoreOutcome> {
    let r = &item.report;
    let (start, end) = (r.start.timestamp(), r.end.timestamp());
    if let Some(id) = find_duplicate(tx, item).await? {
        return Ok(StoreOutcome::Duplicate(id));
    }
    for p in &r.policies {
        if !domain_ids.contains_key(&p.policy_domain) {
            let id = domain_id(tx, &p.policy_domain, domains, item.received_at).await?;
            domain_ids.insert(p.policy_domain.clone(), id);
        }
        if domain_ids[&p.policy_domain].is_none() {
            return Ok(StoreOutcome::Refused(format!("domain {} is not registered in tlswatch", p.policy_domain)));
        }
    }
    let counted = counted_policies(r);
    let contribs = contributions(r);
    let (success, failure) = contribs.iter().fold((0u64, 0u64), |(s, f), c| (s + c.success, f + c.failure));
    let warnings = serde_json::to_string(&r.warnings)?;
    let row: Option<(i64,)> = sqlx::query_as(
        "insert into report (org_name, report_id, contact_info, start_time, end_time, start_day, channel, received_at,
             content_hash, raw_gz, raw_size, warnings, policy_count, success_count, failure_count)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
         on conflict do nothing
         returning id",
    )
    .bind(&r.organization_name)
    .bind(&r.report_id)
    .bind(r.contact_info.as_deref())
    .bind(start)
    .bind(end)
    .bind(crate::domain::days::day_of(r.start))
    .bind(item.channel)
    .bind(item.received_at)
    .bind(&item.content_hash)
    .bind(&item.raw_gz)
    .bind(item.raw_size as i64)
    .bind(warnings)
    .bind(r.policies.len() as i64)
    .bind(to_i64(success))
    .bind(to_i64(failure))
    .fetch_optional(&mut **tx)
    .await
    .context("inserting report")?;
    let Some((report_row,)) = row else {
        // Another instance stored it between our check and our insert.
        let id = find_duplicate(tx, item).await?.unwrap_or_default();
        return Ok(StoreOutcome::Duplicate(id));
    };

    for (pos, (p, counted)) in r.policies.iter().zip(counted).enumerate() {
        let domain = domain_ids[&p.policy_domain].unwrap_or_default();
        let (policy_row,): (i64,) = sqlx::query_as(
            "insert into report_policy (report_id, position, policy_type, policy_domain, domain_id, policy_strings,
                 mx_patterns, success_count, failure_count, counted)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             returning id",
        )
        .bind(report_row)
        .bind(pos as i64)
        .bind(&p.policy_type)
        .bind(&p.policy_domain)
        .bind(domain)
        .bind(serde_json::to_string(&p.policy_strings)?)
        .bind(serde_json::to_string(&p.mx_hosts)?)
        .bind(to_i64(p.success))
        .bind(to_i64(p.failure))
        .bind(i64::from(counted))
        .fetch_one(&mut **tx)
        .await
        .context("inserting report policy")?;
        for f in &p.failures {
            sqlx::query(
                "insert into failure_detail (policy_id, result_type, sending_mta_ip, receiving_mx_hostname,
                     receiving_mx_helo, receiving_ip, failed_session_count, additional_information, failure_reason_code)
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(policy_row)
            .bind(&f.result_type)
            .bind(f.sending_mta_ip.as_deref())
            .bind(f.receiving_mx_hostname.as_deref())
            .bind(f.receiving_mx_helo.as_deref())
            .bind(f.receiving_ip.as_deref())
            .bind(to_i64(f.failed_session_count))
            .bind(f.additional_information.as_deref())
            .bind(f.failure_reason_code.as_deref())
            .execute(&mut **tx)
            .await
            .context("inserting failure detail")?;
        }
    }

    for c in contribs {
        let d = domain_ids[&c.domain].unwrap_or_default();
        let (s, f) = (to_i64(c.success), to_i64(c.failure));
        let e = rollups.domain.entry((d, c.day)).or_default();
        *e = (e.0 + s, e.1 + f, e.2 + 1);
        let e = rollups.reporter.entry((d, c.day, r.organization_name.clone())).or_default();
        *e = (e.0 + s, e.1 + f, e.2 + 1);
        for (mx, n) in c.failure_by_mx {
            *rollups.mx.entry((d, c.day, mx)).or_default() += to_i64(n);
        }
        for (rt, n) in c.failure_by_result {
            *rollups.result.entry((d, c.day, rt)).or_default() += to_i64(n);
        }
    }
    Ok(StoreOutcome::Imported(report_row))
}

async fn find_duplicate(tx: &mut Transaction<'static, Any>, item: &NewReport) -> anyhow::Result<Option<i64>> {
    let r = &item.report;
    let row: Option<(i64,)> = sqlx::query_as(
        "select id from report
         where content_hash = $1 or (org_name = $2 and report_id = $3 and start_time = $4 and end_time = $5)
         limit 1",
    )
    .bind(&item.content_hash)
    .bind(&r.organization_name)
    .bind(&r.report_id)
    .bind(r.start.timestamp())
    .bind(r.end.timestamp())
    .fetch_optional(&mut **tx)
    .await
    .context("looking for a duplicate report")?;
    Ok(row.map(|r| r.0))
}

async fn domain_id(tx: &mut Transaction<'static, Any>, name: &str, policy: DomainPolicy, now: i64) -> anyhow::Result<Option<i64>> {
    if policy == DomainPolicy::AutoRegister {
        sqlx::query("insert into domain (name, created_at, origin) values ($1, $2, 'auto') on conflict (name) do nothing")
            .bind(name)
            .bind(now)
            .execute(&mut **tx)
            .await
            .context("registering domain")?;
    }
    let row: Option<(i64,)> = sqlx::query_as("select id from domain where name = $1")
        .bind(name)
        .fetch_optional(&mut **tx)
        .await
        .context("looking up domain")?;
    Ok(row.map(|r| r.0))
}

async fn apply_rollups(tx: &mut Transaction<'static, Any>, r: &Rollups) -> anyhow::Result<()> {
    for (&(d, day), &(s, f, n)) in &r.domain {
        sqlx::query(
            "insert into daily_domain (domain_id, day, success, failure, reports) values ($1, $2, $3, $4, $5)
             on conflict (domain_id, day) do update set success = daily_domain.success + excluded.success,
                 failure = daily_domain.failure + excluded.failure, reports = daily_domain.reports + excluded.reports",
        )
        .bind(d)
        .bind(day)
        .bind(s)
        .bind(f)
        .bind(n)
        .execute(&mut **tx)
        .await
        .context("updating daily_domain")?;
    }
    for ((d, day, org), &(s, f, n)) in &r.reporter {
        sqlx::query(
            "insert into daily_reporter (domain_id, day, org_name, success, failure, reports) values ($1, $2, $3, $4, $5, $6)
             on conflict (domain_id, day, org_name) do update set success = daily_reporter.success + excluded.success,
                 failure = daily_reporter.failure + excluded.failure, reports = daily_reporter.reports + excluded.reports",
        )
        .bind(d)
        .bind(day)
        .bind(org)
        .bind(s)
        .bind(f)
        .bind(n)
        .execute(&mut **tx)
        .await
        .context("updating daily_reporter")?;
    }
    for ((d, day, mx), &n) in &r.mx {
        sqlx::query(
            "insert into daily_mx (domain_id, day, mx, failure) values ($1, $2, $3, $4)
             on conflict (domain_id, day, mx) do update set failure = daily_mx.failure + excluded.failure",
        )
        .bind(d)
        .bind(day)
        .bind(mx)
        .bind(n)
        .execute(&mut **tx)
        .await
        .context("updating daily_mx")?;
    }
    for ((d, day, rt), &n) in &r.result {
        sqlx::query(
            "insert into daily_result (domain_id, day, result_type, failure) values ($1, $2, $3, $4)
             on conflict (domain_id, day, result_type) do update set failure = daily_result.failure + excluded.failure",
        )
        .bind(d)
        .bind(day)
        .bind(rt)
        .bind(n)
        .execute(&mut **tx)
        .await
        .context("updating daily_result")?;
    }
    Ok(())
}

// Counts are at most 2^53 (checked by the parser) and sums of a batch stay far below i64::MAX.
fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
