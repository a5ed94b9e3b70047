//! Writing reports: dedup, policies, failure details and the daily rollups, all in one
//! transaction, so a crash never leaves half a report and the rollups always equal the rows.
//!
//! A batch costs a handful of multi-row statements whatever its size, which is what makes bulk
//! imports fast; the HTTPS receiver simply sends batches of one.

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::Context;
use sha2::{Digest, Sha256};
use sqlx::{Any, Row, Transaction};

use super::rows::{insert_rows, list, Script, Val};
use super::{partitions, Backend, Store};
use crate::domain::counting::{contributions, counted_policies, Contribution};
use crate::domain::days::{day_of, format_day};
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
    /// What its rows are made of, computed with it ([`NewReport::new`]).
    derived: Derived,
}

/// What a report's rows need computed from it: its identity, the counting rule's results, its
/// JSON columns. Computed when the report is prepared, on the threads that parse in parallel,
/// so the writer, which holds the one write turn, only puts rows together.
#[derive(Debug, Clone)]
struct Derived {
    dedup_key: String,
    /// The parse warnings as a JSON array.
    warnings: String,
    /// Counted successful and failed sessions.
    totals: (i64, i64),
    /// What it adds to the rollups, per policy domain.
    contributions: Vec<Contribution>,
    /// Per policy: its policy strings and MX patterns as JSON arrays, whether it is counted.
    policies: Vec<(String, String, bool)>,
}

impl NewReport {
    /// `report` as received over `channel` at `received_at` (`raw_gz`: the JSON of
    /// `raw_size` bytes, compressed, whose SHA-256 is `content_hash`).
    pub fn new(
        report: Report,
        content_hash: String,
        raw_gz: Vec<u8>,
        raw_size: usize,
        channel: &'static str,
        received_at: i64,
    ) -> Self {
        let json = |v: &[String]| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
        let contributions = contributions(&report);
        let totals = contributions.iter().fold((0, 0), |(s, f), c| {
            (s + to_i64(c.success), f + to_i64(c.failure))
        });
        let derived = Derived {
            dedup_key: dedup_key(&report),
            warnings: json(&report.warnings),
            totals,
            contributions,
            policies: report
                .policies
                .iter()
                .zip(counted_policies(&report))
                .map(|(p, counted)| (json(&p.policy_strings), json(&p.mx_hosts), counted))
                .collect(),
        };
        Self {
            report,
            content_hash,
            raw_gz,
            raw_size,
            channel,
            received_at,
            derived,
        }
    }

    /// Identity of a report whatever its bytes: organization, report-id and date range.
    /// The day its range starts (six digits), a dash, then SHA-256 (hex) of the organization,
    /// report-id and dates: [`dedup_key`].
    pub fn dedup_key(&self) -> &str {
        &self.derived.dedup_key
    }
}

/// [`NewReport::dedup_key`] of `r`.
///
/// The day comes first so that the unique index on the key keeps a day's reports together
/// (issue 18). Reports arrive by day (a receiver's are mostly yesterday's, an archive's come in
/// date order), and with the hash alone each new report went to a leaf of that index at a
/// random place, so a batch rewrote nearly every page of it (`tlswatch-bench ingest 40000`
/// wrote 5.6 KB a report to disk with the hash alone, 4.3 KB with the day first). Stored keys
/// were given the prefix by the migration `20261208000001_report_key_by_day` (the same day,
/// clamped to `0..=999_999` as here).
fn dedup_key(r: &Report) -> String {
    let mut h = Sha256::new();
    for part in [
        r.organization_name.as_bytes(),
        b"\0",
        r.report_id.as_bytes(),
        b"\0",
    ] {
        h.update(part);
    }
    h.update(r.start.timestamp().to_be_bytes());
    h.update(r.end.timestamp().to_be_bytes());
    format!(
        "{:06}-{}",
        day_of(r.start).clamp(0, 999_999),
        hex::encode(h.finalize())
    )
}

/// What storing one report did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreOutcome {
    /// Stored with this row id.
    Imported(i64),
    /// Already stored (same organization + report-id + date range, or the same JSON); the id of
    /// the stored copy when known.
    Duplicate(Option<i64>),
    /// Not stored, with the reason (a domain that is not registered, say).
    Refused(String),
    /// Not stored: a report with the same organization, report-id and date range is stored
    /// (its id) but this copy's content differs. A warning was added to the stored report.
    Conflicting(i64),
}

/// Whether unknown policy domains may be registered by this write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DomainPolicy {
    /// Register unknown domains (authenticated channels).
    AutoRegister,
    /// Refuse reports for unknown domains (the open HTTPS receiver, or when turned off).
    KnownOnly,
}

type Key3<'a> = (i64, i64, &'a str);

#[derive(Default)]
struct Rollups<'a> {
    domain: BTreeMap<(i64, i64), [i64; 3]>,
    reporter: BTreeMap<Key3<'a>, [i64; 3]>,
    mx: BTreeMap<Key3<'a>, i64>,
    result: BTreeMap<Key3<'a>, i64>,
}

impl Store {
    /// Stores a batch of reports in one transaction. Duplicates (within the batch, in the
    /// database, or inserted concurrently by another instance) are detected and not counted.
    /// The reports come back in the caller's order with their outcomes.
    ///
    /// Reports are written in the order of their identity, so concurrent writers (other
    /// instances, group commits) that carry the same reports lock their rows in one order and
    /// cannot deadlock; they are sorted by moving them, not by copying their raw bytes,
    /// strings and policies.
    pub async fn store_reports(
        &self,
        batch: Vec<NewReport>,
        domains: DomainPolicy,
    ) -> anyhow::Result<(Vec<NewReport>, Vec<StoreOutcome>)> {
        let stored = self.write_reports(batch, domains).await?;
        self.durable().await?;
        Ok(stored)
    }

    /// [`Store::store_reports`] without waiting for durability: the transaction has
    /// committed, and the caller calls [`Store::durable`] before it answers or acts on the
    /// outcomes (the group committer writes the next transaction meanwhile).
    pub async fn write_reports(
        &self,
        batch: Vec<NewReport>,
        domains: DomainPolicy,
    ) -> anyhow::Result<(Vec<NewReport>, Vec<StoreOutcome>)> {
        let mut order: Vec<usize> = (0..batch.len()).collect();
        order.sort_by(|&a, &b| batch[a].dedup_key().cmp(batch[b].dedup_key()));
        if order.iter().enumerate().all(|(i, &o)| i == o) {
            let outcomes = self.store_in_order(&batch, domains).await?;
            return Ok((batch, outcomes));
        }
        let mut slots: Vec<Option<NewReport>> = batch.into_iter().map(Some).collect();
        let sorted: Vec<NewReport> = order
            .iter()
            .map(|&i| slots[i].take().expect("each index once"))
            .collect();
        let stored = self.store_in_order(&sorted, domains).await?;
        let mut reports: Vec<Option<NewReport>> = (0..sorted.len()).map(|_| None).collect();
        let mut outcomes: Vec<Option<StoreOutcome>> = vec![None; sorted.len()];
        for ((report, outcome), &i) in sorted.into_iter().zip(stored).zip(&order) {
            reports[i] = Some(report);
            outcomes[i] = Some(outcome);
        }
        Ok((
            reports.into_iter().flatten().collect(),
            outcomes
                .into_iter()
                .map(|o| o.unwrap_or(StoreOutcome::Duplicate(None)))
                .collect(),
        ))
    }

    async fn store_in_order(
        &self,
        batch: &[NewReport],
        domains: DomainPolicy,
    ) -> anyhow::Result<Vec<StoreOutcome>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let mut outcomes: Vec<Option<StoreOutcome>> = vec![None; batch.len()];
        // A report dated outside 2000-01-01 .. a month from now is refused (and quarantined
        // by the caller): no report describes that, and on PostgreSQL every month has its own
        // partitions, which anyone who can send must not be able to multiply.
        let last_day = day_of(chrono::Utc::now()) + partitions::DAYS_AHEAD;
        for (i, item) in batch.iter().enumerate() {
            let day = day_of(item.report.start);
            if !(partitions::FIRST_DAY..=last_day).contains(&day) {
                outcomes[i] = Some(StoreOutcome::Refused(format!(
                    "the report's date-range starts on {}, outside {} to {}",
                    format_day(day),
                    format_day(partitions::FIRST_DAY),
                    format_day(last_day)
                )));
            }
        }
        self.ensure_months(
            batch
                .iter()
                .enumerate()
                .filter(|(i, _)| outcomes[*i].is_none())
                .map(|(_, item)| day_of(item.report.start)),
        )
        .await?;
        let mut turn = self.write_guard().await?;
        let mut tx = self
            .begin_write(&mut turn)
            .await
            .context("starting transaction")?;
        mark_duplicates(&mut tx, self.backend(), batch, &mut outcomes).await?;
        let domain_ids =
            resolve_domains(&mut tx, self.backend(), batch, &outcomes, domains).await?;
        for (i, item) in batch.iter().enumerate() {
            if outcomes[i].is_none() {
                if let Some(p) = item
                    .report
                    .policies
                    .iter()
                    .find(|p| !domain_ids.contains_key(&p.policy_domain))
                {
                    outcomes[i] = Some(StoreOutcome::Refused(format!(
                        "domain {} is not registered in tlswatch",
                        p.policy_domain
                    )));
                }
            }
        }
        let first_ids = new_ids(&mut tx, self.backend()).await?;
        let mut script = Script::new(self.backend());
        let report_ids =
            insert_reports(&mut tx, &mut script, first_ids, batch, &mut outcomes).await?;
        insert_policies(
            &mut tx,
            &mut script,
            first_ids,
            batch,
            &report_ids,
            &domain_ids,
        )
        .await?;
        let rollups = rollups(batch, &report_ids, &domain_ids);
        apply_rollups(&mut tx, &mut script, &rollups).await?;
        script.flush(&mut tx).await?;
        tx.commit().await.context("committing reports")?;
        Ok(outcomes
            .into_iter()
            .map(|o| o.unwrap_or(StoreOutcome::Duplicate(None)))
            .collect())
    }
}

/// The values of an `in (…)` list, padded to a power of two by repeating the first (which
/// selects nothing more), and their number: the statement's text then takes few forms whatever
/// the batch's size, and the database reuses its compiled statement instead of parsing it again.
fn padded_list<T>(chunk: &[T]) -> (usize, impl Iterator<Item = &T>) {
    let n = chunk.len().next_power_of_two();
    let pad = chunk.first().into_iter().cycle().take(n - chunk.len());
    (n, chunk.iter().chain(pad))
}

async fn mark_duplicates(
    tx: &mut Transaction<'_, Any>,
    b: Backend,
    batch: &[NewReport],
    outcomes: &mut [Option<StoreOutcome>],
) -> anyhow::Result<()> {
    let mut seen = HashSet::new();
    for (i, item) in batch.iter().enumerate() {
        if outcomes[i].is_some() {
            continue;
        }
        let new_hash = seen.insert(item.content_hash.as_str());
        let new_key = seen.insert(item.dedup_key());
        if !(new_hash && new_key) {
            outcomes[i] = Some(StoreOutcome::Duplicate(None));
        }
    }
    // Equal content means equal organization, report-id and dates, so the dedup key finds
    // every stored copy; its content hash tells a copy from a conflicting report. (The
    // content hash has no index of its own: a second unique key on a random hash cost every
    // stored report another index page written at a random place.)
    let mut by_key: HashMap<String, (i64, String)> = HashMap::new();
    let todo: Vec<usize> = (0..batch.len())
        .filter(|&i| outcomes[i].is_none())
        .collect();
    for chunk in todo.chunks(1_000) {
        let (n, keys) = padded_list(chunk);
        // A report's dedup key fixes its dates: only the days of the chunk can hold a copy
        // (on PostgreSQL only their months' partitions are read).
        let days = chunk.iter().map(|&i| day_of(batch[i].report.start));
        let (first, last) = (days.clone().min().unwrap_or(0), days.max().unwrap_or(0));
        let sql = format!(
            "select id, content_hash, dedup_key from report
             where start_day between ${} and ${} and dedup_key in ({})",
            n + 1,
            n + 2,
            list(b, 1, n)
        );
        let mut q = sqlx::query(&sql);
        for &i in keys {
            q = q.bind(batch[i].dedup_key());
        }
        q = q.bind(first).bind(last);
        for row in q
            .fetch_all(&mut **tx)
            .await
            .context("looking for duplicate reports")?
        {
            let id: i64 = row.try_get(0)?;
            by_key.insert(row.try_get(2)?, (id, row.try_get(1)?));
        }
    }
    for &i in &todo {
        let item = &batch[i];
        let Some((id, hash)) = by_key.get(item.dedup_key()) else {
            continue;
        };
        if *hash == item.content_hash {
            outcomes[i] = Some(StoreOutcome::Duplicate(Some(*id)));
        } else {
            outcomes[i] = Some(StoreOutcome::Conflicting(*id));
            let r = &item.report;
            note_conflict(
                tx,
                *id,
                &format!(
                    "another copy with the same organization, report-id and dates arrived over {} at {} with different content \
                     ({} successful, {} failed sessions; sha256 {}); it was not counted",
                    item.channel,
                    chrono::DateTime::from_timestamp(item.received_at, 0)
                        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                        .unwrap_or_default(),
                    r.policies.iter().map(|p| p.success).sum::<u64>(),
                    r.policies.iter().map(|p| p.failure).sum::<u64>(),
                    &item.content_hash[..16.min(item.content_hash.len())],
                ),
            )
            .await?;
        }
    }
    Ok(())
}

/// Appends a warning to a stored report (at most 100 warnings are kept per report).
async fn note_conflict(
    tx: &mut Transaction<'_, Any>,
    id: i64,
    warning: &str,
) -> anyhow::Result<()> {
    let (text,): (String,) = sqlx::query_as("select warnings from report where id = $1")
        .bind(id)
        .fetch_one(&mut **tx)
        .await
        .context("reading report warnings")?;
    let mut warnings: Vec<String> = serde_json::from_str(&text).unwrap_or_default();
    if warnings.len() >= 100 || warnings.iter().any(|w| w == warning) {
        return Ok(());
    }
    warnings.push(warning.to_owned());
    sqlx::query("update report set warnings = $1 where id = $2")
        .bind(serde_json::to_string(&warnings)?)
        .bind(id)
        .execute(&mut **tx)
        .await
        .context("recording a conflicting copy")?;
    Ok(())
}

async fn resolve_domains(
    tx: &mut Transaction<'_, Any>,
    b: Backend,
    batch: &[NewReport],
    outcomes: &[Option<StoreOutcome>],
    policy: DomainPolicy,
) -> anyhow::Result<HashMap<String, i64>> {
    let names: Vec<&str> = batch
        .iter()
        .zip(outcomes)
        .filter(|(_, o)| o.is_none())
        .flat_map(|(item, _)| {
            item.report
                .policies
                .iter()
                .map(|p| p.policy_domain.as_str())
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if names.is_empty() {
        return Ok(HashMap::new());
    }
    if policy == DomainPolicy::AutoRegister {
        let now = batch[0].received_at;
        let rows: Vec<Vec<Val>> = names
            .iter()
            .map(|n| vec![Val::Text(n), Val::I64(now), Val::Text("auto")])
            .collect();
        let inserted = insert_rows(
            tx,
            b,
            "insert into domain (name, created_at, origin)",
            3,
            &rows,
            "on conflict (name) do nothing returning id",
        )
        .await?;
        // While there is a single organization, a domain a report registered belongs to it:
        // an installation with one organization works as it did before organizations. With
        // several, the domain waits for an organization to prove it owns it. Only the
        // domains this batch registered (usually none) are claimed.
        let new: Vec<i64> = inserted
            .iter()
            .map(|r| r.try_get::<i64, _>(0))
            .collect::<Result<_, _>>()?;
        for chunk in new.chunks(1_000) {
            let sql = format!(
                "insert into org_domain (org_id, domain_id, challenge, created_at, verified_at, vouched_by)
                 select (select min(o.id) from organization o), d.id, 'single-organization', d.created_at, d.created_at, 'single organization'
                 from domain d
                 where d.id in ({}) and (select count(*) from organization) = 1
                 on conflict (org_id, domain_id) do nothing",
                list(b, 1, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(*id);
            }
            q.execute(&mut **tx)
                .await
                .context("claiming auto-registered domains")?;
        }
    }
    let mut ids = HashMap::new();
    for chunk in names.chunks(1_000) {
        // One row, not one per domain: each row is a hand-off of its own (packed_rows).
        let (n, names) = padded_list(chunk);
        let sql = super::packed_rows(
            b,
            &format!(
                "select id, name from domain where name in ({})",
                list(b, 1, n)
            ),
            "id, name",
        );
        let mut q = sqlx::query(&sql);
        for name in names {
            q = q.bind(*name);
        }
        let row = q.fetch_one(&mut **tx).await.context("looking up domains")?;
        for (id, name) in super::unpack_rows::<(i64, String)>(&row, 0)? {
            ids.insert(name, id);
        }
    }
    Ok(ids)
}

/// Inserts the reports still without an outcome; returns (batch index, row id) of each report
/// inserted, in the batch's order.
async fn insert_reports<'b>(
    tx: &mut Transaction<'_, Any>,
    script: &mut Script<'b>,
    first_ids: Option<(i64, i64)>,
    batch: &'b [NewReport],
    outcomes: &mut [Option<StoreOutcome>],
) -> anyhow::Result<Vec<(usize, i64)>> {
    let todo: Vec<usize> = (0..batch.len())
        .filter(|&i| outcomes[i].is_none())
        .collect();
    let first_id = first_ids.map(|(report, _)| report);
    let rows: Vec<Vec<Val>> = todo
        .iter()
        .enumerate()
        .map(|(k, &i)| {
            let (item, r) = (&batch[i], &batch[i].report);
            first_id
                .map(|first| Val::I64(first + k as i64))
                .into_iter()
                .chain([
                    Val::Text(&r.organization_name),
                    Val::Text(&r.report_id),
                    Val::OptText(r.contact_info.as_deref()),
                    Val::I64(r.start.timestamp()),
                    Val::I64(r.end.timestamp()),
                    Val::I64(day_of(r.start)),
                    Val::Text(item.channel),
                    Val::I64(item.received_at),
                    Val::Text(&item.content_hash),
                    Val::Bytes(&item.raw_gz),
                    Val::I64(item.raw_size as i64),
                    Val::Text(&item.derived.warnings),
                    Val::I64(r.policies.len() as i64),
                    Val::I64(item.derived.totals.0),
                    Val::I64(item.derived.totals.1),
                    Val::Text(item.dedup_key()),
                ])
                .collect()
        })
        .collect();
    const COLUMNS: &str = "org_name, report_id, contact_info, start_time, end_time, start_day, channel, received_at,
             content_hash, raw_gz, raw_size, warnings, policy_count, success_count, failure_count, dedup_key";
    let ids: Vec<(usize, i64)> = match first_id {
        Some(first) => {
            // No `on conflict`: a conflict cannot happen here, and if it did the batch fails
            // whole rather than count a report that was not written.
            script
                .insert_rows(
                    tx,
                    &format!("insert into report (id, {COLUMNS})"),
                    17,
                    &rows,
                    "",
                )
                .await?;
            todo.iter()
                .enumerate()
                .map(|(k, &i)| (i, first + k as i64))
                .collect()
        }
        None => {
            let inserted = script
                .insert_rows(
                    tx,
                    &format!("insert into report ({COLUMNS})"),
                    16,
                    &rows,
                    "on conflict do nothing returning id, content_hash",
                )
                .await?;
            let mut by_hash = HashMap::with_capacity(inserted.len());
            for row in inserted {
                by_hash.insert(row.try_get::<String, _>(1)?, row.try_get::<i64, _>(0)?);
            }
            // Not returned: another instance stored the same report a moment ago.
            todo.iter()
                .filter_map(|&i| Some((i, *by_hash.get(&batch[i].content_hash)?)))
                .collect()
        }
    };
    for &i in &todo {
        outcomes[i] = Some(StoreOutcome::Duplicate(None));
    }
    for &(i, id) in &ids {
        outcomes[i] = Some(StoreOutcome::Imported(id));
    }
    Ok(ids)
}

async fn insert_policies<'b>(
    tx: &mut Transaction<'_, Any>,
    script: &mut Script<'b>,
    first_ids: Option<(i64, i64)>,
    batch: &'b [NewReport],
    report_ids: &[(usize, i64)],
    domain_ids: &HashMap<String, i64>,
) -> anyhow::Result<()> {
    let mut meta = Vec::new();
    for &(i, report_row) in report_ids {
        let (r, derived) = (&batch[i].report, &batch[i].derived);
        for (pos, (p, (strings, mx, counted))) in
            r.policies.iter().zip(&derived.policies).enumerate()
        {
            meta.push((report_row, day_of(r.start), pos, p, *counted, strings, mx));
        }
    }
    let first_id = first_ids.map(|(_, policy)| policy);
    let rows: Vec<Vec<Val>> = meta
        .iter()
        .enumerate()
        .map(
            |(k, (report_row, start_day, pos, p, counted, strings, mx))| {
                first_id
                    .map(|first| Val::I64(first + k as i64))
                    .into_iter()
                    .chain([
                        Val::I64(*report_row),
                        Val::I64(*start_day),
                        Val::I64(*pos as i64),
                        Val::Text(&p.policy_type),
                        Val::Text(&p.policy_domain),
                        Val::I64(
                            domain_ids
                                .get(&p.policy_domain)
                                .copied()
                                .unwrap_or_default(),
                        ),
                        Val::Text(strings),
                        Val::Text(mx),
                        Val::I64(to_i64(p.success)),
                        Val::I64(to_i64(p.failure)),
                        Val::I64(i64::from(*counted)),
                    ])
                    .collect()
            },
        )
        .collect();
    const COLUMNS: &str =
        "report_id, start_day, position, policy_type, policy_domain, domain_id, policy_strings,
             mx_patterns, success_count, failure_count, counted";
    // The row id of each entry of `meta`, in its order.
    let policy_rows: Vec<i64> = match first_id {
        Some(first) => {
            script
                .insert_rows(
                    tx,
                    &format!("insert into report_policy (id, {COLUMNS})"),
                    12,
                    &rows,
                    "",
                )
                .await?;
            (first..).take(meta.len()).collect()
        }
        None => {
            let returned = script
                .insert_rows(
                    tx,
                    &format!("insert into report_policy ({COLUMNS})"),
                    11,
                    &rows,
                    "returning id, report_id, position",
                )
                .await?;
            let mut policy_ids = HashMap::with_capacity(returned.len());
            for row in returned {
                policy_ids.insert(
                    (row.try_get::<i64, _>(1)?, row.try_get::<i64, _>(2)?),
                    row.try_get::<i64, _>(0)?,
                );
            }
            meta.iter()
                .map(|(report_row, _, pos, ..)| {
                    policy_ids
                        .get(&(*report_row, *pos as i64))
                        .copied()
                        .context("policy row not returned")
                })
                .collect::<anyhow::Result<_>>()?
        }
    };
    let mut details = Vec::new();
    for ((_, start_day, _, p, _, _, _), &policy_row) in meta.iter().zip(&policy_rows) {
        for f in &p.failures {
            details.push(vec![
                Val::I64(policy_row),
                Val::I64(*start_day),
                Val::Text(&f.result_type),
                Val::OptText(f.sending_mta_ip.as_deref()),
                Val::OptText(f.receiving_mx_hostname.as_deref()),
                Val::OptText(f.receiving_mx_helo.as_deref()),
                Val::OptText(f.receiving_ip.as_deref()),
                Val::I64(to_i64(f.failed_session_count)),
                Val::OptText(f.additional_information.as_deref()),
                Val::OptText(f.failure_reason_code.as_deref()),
            ]);
        }
    }
    script.insert_rows(tx,
        "insert into failure_detail (policy_id, start_day, result_type, sending_mta_ip, receiving_mx_hostname,
             receiving_mx_helo, receiving_ip, failed_session_count, additional_information, failure_reason_code)",
        10,
        &details,
        "",
    )
    .await?;
    Ok(())
}

/// On SQLite, the first ids of the report and policy rows about to be inserted; `None` on
/// PostgreSQL, where the database numbers them and returns the numbers. The SQLite writer holds
/// the database's write lock (`BEGIN IMMEDIATE`) and has already set duplicates aside, so it
/// numbers the rows itself: sqlx-sqlite hands every returned row from its worker thread to the
/// task on its own, which cost more than the inserts (issue 18), and with nothing returned the
/// inserts can be sent as one [`Script`].
async fn new_ids(tx: &mut Transaction<'_, Any>, b: Backend) -> anyhow::Result<Option<(i64, i64)>> {
    if b == Backend::Postgres {
        return Ok(None);
    }
    let (report, policy): (i64, i64) = sqlx::query_as(
        "select (select coalesce(max(id), 0) from report), (select coalesce(max(id), 0) from report_policy)",
    )
    .fetch_one(&mut **tx)
    .await
    .context("numbering new report rows")?;
    Ok(Some((report + 1, policy + 1)))
}

fn rollups<'a>(
    batch: &'a [NewReport],
    report_ids: &[(usize, i64)],
    domain_ids: &HashMap<String, i64>,
) -> Rollups<'a> {
    let mut r = Rollups::default();
    for &(i, _) in report_ids {
        let report = &batch[i].report;
        for c in &batch[i].derived.contributions {
            let d = domain_ids.get(&c.domain).copied().unwrap_or_default();
            let (s, f) = (to_i64(c.success), to_i64(c.failure));
            add3(r.domain.entry((d, c.day)).or_default(), [s, f, 1]);
            add3(
                r.reporter
                    .entry((d, c.day, report.organization_name.as_str()))
                    .or_default(),
                [s, f, 1],
            );
            for (mx, n) in &c.failure_by_mx {
                *r.mx.entry((d, c.day, mx.as_str())).or_default() += to_i64(*n);
            }
            for (rt, n) in &c.failure_by_result {
                *r.result.entry((d, c.day, rt.as_str())).or_default() += to_i64(*n);
            }
        }
    }
    r
}

fn add3(acc: &mut [i64; 3], v: [i64; 3]) {
    for k in 0..3 {
        acc[k] += v[k];
    }
}

/// The counters of the per-domain and per-reporter rollups.
const COUNTS: [&str; 3] = ["success", "failure", "reports"];

/// Adds `rows` (key columns, then counters) to the rollup `table`: new keys are inserted,
/// existing ones have the counters added.
async fn add_to_rollup<'r>(
    tx: &mut Transaction<'_, Any>,
    script: &mut Script<'r>,
    table: &str,
    keys: &[&str],
    counters: &[&str],
    rows: &[Vec<Val<'r>>],
) -> anyhow::Result<()> {
    let insert = format!(
        "insert into {table} ({}, {})",
        keys.join(", "),
        counters.join(", ")
    );
    let add: Vec<String> = counters
        .iter()
        .map(|c| format!("{c} = {table}.{c} + excluded.{c}"))
        .collect();
    let conflict = format!(
        "on conflict ({}) do update set {}",
        keys.join(", "),
        add.join(", ")
    );
    script
        .insert_rows(tx, &insert, keys.len() + counters.len(), rows, &conflict)
        .await?;
    Ok(())
}

// Keys are sorted (BTreeMap), so concurrent PostgreSQL writers lock rollup rows in one order
// and cannot deadlock.
async fn apply_rollups<'r>(
    tx: &mut Transaction<'_, Any>,
    script: &mut Script<'r>,
    r: &'r Rollups<'_>,
) -> anyhow::Result<()> {
    let counts = |v: &[i64; 3]| v.map(Val::I64);
    let rows: Vec<Vec<Val>> = r
        .domain
        .iter()
        .map(|(&(d, day), v)| {
            [Val::I64(d), Val::I64(day)]
                .into_iter()
                .chain(counts(v))
                .collect()
        })
        .collect();
    add_to_rollup(
        tx,
        script,
        "daily_domain",
        &["domain_id", "day"],
        &COUNTS,
        &rows,
    )
    .await?;
    // The same numbers per week and domain, and per day across domains (long ranges at scale).
    let mut weekly: BTreeMap<(i64, i64), [i64; 3]> = BTreeMap::new();
    let mut total: BTreeMap<i64, [i64; 3]> = BTreeMap::new();
    // All-time, for /metrics.
    let mut per_domain: BTreeMap<i64, [i64; 3]> = BTreeMap::new();
    for (&(d, day), v) in &r.domain {
        add3(weekly.entry((day.div_euclid(7), d)).or_default(), *v);
        add3(total.entry(day).or_default(), *v);
        add3(per_domain.entry(d).or_default(), *v);
    }
    let rows: Vec<Vec<Val>> = per_domain
        .iter()
        .map(|(&d, v)| [Val::I64(d)].into_iter().chain(counts(v)).collect())
        .collect();
    add_to_rollup(tx, script, "total_domain", &["domain_id"], &COUNTS, &rows).await?;
    let rows: Vec<Vec<Val>> = weekly
        .iter()
        .map(|(&(week, d), v)| {
            [Val::I64(week), Val::I64(d)]
                .into_iter()
                .chain(counts(v))
                .collect()
        })
        .collect();
    add_to_rollup(
        tx,
        script,
        "weekly_domain",
        &["week", "domain_id"],
        &COUNTS,
        &rows,
    )
    .await?;
    let rows: Vec<Vec<Val>> = total
        .iter()
        .map(|(&day, v)| [Val::I64(day)].into_iter().chain(counts(v)).collect())
        .collect();
    add_to_rollup(tx, script, "daily_total", &["day"], &COUNTS, &rows).await?;
    let rows: Vec<Vec<Val>> = r
        .reporter
        .iter()
        .map(|((d, day, org), v)| {
            [Val::I64(*d), Val::I64(*day), Val::Text(org)]
                .into_iter()
                .chain(counts(v))
                .collect()
        })
        .collect();
    add_to_rollup(
        tx,
        script,
        "daily_reporter",
        &["domain_id", "day", "org_name"],
        &COUNTS,
        &rows,
    )
    .await?;
    for (table, key, map) in [
        ("daily_mx", "mx", &r.mx),
        ("daily_result", "result_type", &r.result),
    ] {
        let rows: Vec<Vec<Val>> = map
            .iter()
            .map(|((d, day, k), n)| vec![Val::I64(*d), Val::I64(*day), Val::Text(k), Val::I64(*n)])
            .collect();
        add_to_rollup(
            tx,
            script,
            table,
            &["domain_id", "day", key],
            &["failure"],
            &rows,
        )
        .await?;
    }
    for (table, key, map) in [
        ("total_mx", "mx", &r.mx),
        ("total_result", "result_type", &r.result),
    ] {
        let mut all_time: BTreeMap<(i64, &str), i64> = BTreeMap::new();
        for ((d, _, k), n) in map.iter() {
            *all_time.entry((*d, *k)).or_default() += n;
        }
        let rows: Vec<Vec<Val>> = all_time
            .iter()
            .map(|(&(d, k), &n)| vec![Val::I64(d), Val::Text(k), Val::I64(n)])
            .collect();
        add_to_rollup(tx, script, table, &["domain_id", key], &["failure"], &rows).await?;
    }
    Ok(())
}

// Counts are at most 2^53 (checked by the parser); sums of a batch stay far below i64::MAX.
fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
