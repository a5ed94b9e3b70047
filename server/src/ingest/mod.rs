//! Ingestion: from bytes received on any channel to stored reports or a quarantined input.
//!
//! `prepare` is pure CPU work (extract, decompress, parse, hash) and runs off the async
//! runtime; `commit` writes a batch of prepared inputs in one transaction and quarantines what
//! was rejected, so nothing is ever dropped silently.

pub mod extract;
pub mod graph;
pub mod imap;
pub mod oauth;

use std::io::Write;

use sha2::{Digest, Sha256};

pub use extract::Limits;

use crate::domain::{parse_report, ParseContext};
use crate::store::{DomainPolicy, NewRejected, NewReport, Store, StoreOutcome};

/// One input (a file, a mail, a POST body) after parsing, before storing.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Where it came from (path, client address, mail id).
    pub source: String,
    /// Channel: `cli`, `upload`, `https`, `imap`.
    pub channel: &'static str,
    /// Reports found and parsed.
    pub reports: Vec<NewReport>,
    /// Why reports in it (or the whole input) were rejected.
    pub errors: Vec<String>,
    /// The raw input, kept only when something was rejected (for the quarantine).
    pub raw_if_rejected: Option<Vec<u8>>,
}

/// The result for one input, as shown to users and printed by `tlswatch import --format json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InputOutcome {
    /// Where it came from.
    pub path: String,
    /// `imported`, `duplicate` or `rejected`.
    pub status: Status,
    /// Why it was rejected (or why part of it was).
    pub reason: Option<String>,
    /// Reports newly stored from it.
    pub reports: usize,
    /// Reports in it that were already stored.
    pub duplicates: usize,
    /// Warnings recorded for its reports.
    pub warnings: usize,
    /// Things the user should know although nothing was rejected (a duplicate whose content
    /// differs from the stored copy, say).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Status of one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// At least one new report stored.
    Imported,
    /// Every report in it was already stored.
    Duplicate,
    /// Nothing stored; the input is in the quarantine.
    Rejected,
}

/// Whether `report` ended before the retention period (when there is one).
fn too_old(report: &crate::domain::Report, limits: &Limits, now: i64) -> bool {
    limits
        .max_report_age_days
        .is_some_and(|days| report.end.timestamp() < now - i64::from(days) * 86_400)
}

/// Extracts and parses every report in `bytes`. Never panics and never fails: problems are
/// recorded in [`Prepared::errors`].
pub fn prepare(
    bytes: &[u8],
    content_type: Option<&str>,
    name: Option<&str>,
    source: String,
    channel: &'static str,
    limits: &Limits,
    now: i64,
) -> Prepared {
    let found = extract::extract(bytes, content_type, name, limits);
    prepared_from(found, bytes, name, source, channel, limits, now)
}

/// Largest input [`prepare_quick`] takes, in bytes as received. Real senders' reports are
/// 0.6–4 KB; `tlswatch-bench quick` prints what the costliest inputs within these bounds take.
pub const QUICK_INPUT: usize = 16 * 1024;

/// Most bytes an input may inflate to (all its reports together) for [`prepare_quick`].
pub const QUICK_INFLATED: usize = 16 * 1024;

/// [`prepare`] for inputs small enough to prepare where they arrive, on an async worker,
/// instead of handing them to a blocking thread and back (two thread switches, more than the
/// work itself for a typical report of a few KiB). The work is bounded whatever the input:
/// at most [`QUICK_INPUT`] bytes read, at most [`QUICK_INFLATED`] inflated and parsed
/// (a few hundred microseconds at most, `tlswatch-bench quick`). `None` when the input is larger or would inflate to more:
/// prepare it with [`prepare`] on a blocking thread, whose outcome is the input's (its budget
/// is the configured one; the quick budget only decides where the work runs).
pub fn prepare_quick(
    bytes: &[u8],
    content_type: Option<&str>,
    name: Option<&str>,
    source: &str,
    channel: &'static str,
    limits: &Limits,
    now: i64,
) -> Option<Prepared> {
    if bytes.len() > QUICK_INPUT.min(limits.max_input) {
        return None;
    }
    // Only the budget's amounts are lowered: running out of them is an `is_budget` error,
    // which sends the input to the full preparation. Other bounds (archive entries, MIME
    // depth) reject an input outright, so they stay as configured.
    let quick = Limits {
        max_decompressed: QUICK_INFLATED.min(limits.max_decompressed),
        ..*limits
    };
    match extract::extract(bytes, content_type, name, &quick) {
        Err(e) if e.is_budget() => None,
        found => Some(prepared_from(
            found,
            bytes,
            name,
            source.to_owned(),
            channel,
            limits,
            now,
        )),
    }
}

/// Parses what [`extract::extract`] found in `bytes` into a [`Prepared`].
fn prepared_from(
    found: Result<Vec<extract::Found>, extract::ExtractError>,
    bytes: &[u8],
    name: Option<&str>,
    source: String,
    channel: &'static str,
    limits: &Limits,
    now: i64,
) -> Prepared {
    let mut prepared = Prepared {
        source,
        channel,
        reports: Vec::new(),
        errors: Vec::new(),
        raw_if_rejected: None,
    };
    match found {
        Err(e) => prepared.errors.push(e.to_string()),
        Ok(found) => {
            for f in found {
                let ctx = ParseContext {
                    fallback_domain: f.fallback_domain.clone(),
                };
                match parse_report(&f.json, &ctx) {
                    Ok(report) if too_old(&report, limits, now) => {
                        prepared.errors.push(format!(
                            "report {:?} ended {} UTC, longer ago than the retention period ({} days); not stored",
                            crate::domain::report::truncate(&report.report_id, 100),
                            report.end.format("%Y-%m-%d"),
                            limits.max_report_age_days.unwrap_or_default()
                        ));
                    }
                    Ok(mut report) => {
                        let content_hash = sha256_hex(&f.json);
                        if report.report_id.is_empty() {
                            report.report_id = format!("sha256:{}", &content_hash[..32]);
                        }
                        let raw_gz = f.original_gzip.unwrap_or_else(|| gzip(&f.json));
                        prepared.reports.push(NewReport::new(
                            report,
                            content_hash,
                            raw_gz,
                            f.json.len(),
                            channel,
                            now,
                        ));
                    }
                    Err(e) if Some(f.origin.as_str()) == name || f.origin == "input" => {
                        prepared.errors.push(e.to_string())
                    }
                    Err(e) => prepared.errors.push(format!("{}: {e}", f.origin)),
                }
            }
        }
    }
    if !prepared.errors.is_empty() {
        prepared.raw_if_rejected = Some(bytes[..bytes.len().min(limits.max_input)].to_vec());
    }
    prepared
}

/// Stores a batch of prepared inputs in one transaction and quarantines the rejected ones.
/// Returns one outcome per input, in order, once they are durable. Errors are storage
/// failures only.
pub async fn commit(
    store: &Store,
    batch: Vec<Prepared>,
    domains: DomainPolicy,
) -> anyhow::Result<Vec<InputOutcome>> {
    let outcomes = write(store, batch, domains).await?;
    store.durable().await?;
    Ok(outcomes)
}

/// [`commit`] without waiting for durability: the caller calls [`Store::durable`] before it
/// answers or acts on the outcomes.
pub async fn write(
    store: &Store,
    mut batch: Vec<Prepared>,
    domains: DomainPolicy,
) -> anyhow::Result<Vec<InputOutcome>> {
    // The reports move into one batch (no copies) and come back for the outcomes.
    let mut counts = Vec::with_capacity(batch.len());
    let mut reports: Vec<NewReport> = Vec::new();
    for p in &mut batch {
        counts.push(p.reports.len());
        reports.append(&mut p.reports);
    }
    let (reports, stored) = store.write_reports(reports, domains).await?;
    let mut stored = stored.into_iter();
    let mut reports = reports.into_iter();
    let mut outcomes = Vec::with_capacity(batch.len());
    for (p, n) in batch.into_iter().zip(counts) {
        let (mut imported, mut duplicates, mut warnings) = (0, 0, 0);
        let mut errors = p.errors;
        let mut notes = Vec::new();
        let mut refused_json = None;
        for r in reports.by_ref().take(n) {
            match stored.next() {
                Some(StoreOutcome::Imported(_)) => {
                    imported += 1;
                    warnings += r.report.warnings.len();
                }
                Some(StoreOutcome::Duplicate(_)) => duplicates += 1,
                Some(StoreOutcome::Conflicting(id)) => {
                    duplicates += 1;
                    notes.push(format!(
                        "report {} from {} is already stored (id {id}) with different content; this copy was not counted (see the stored report's warnings)",
                        crate::domain::report::truncate(&r.report.report_id, 128),
                        crate::domain::report::truncate(&r.report.organization_name, 128),
                    ));
                }
                Some(StoreOutcome::Refused(reason)) => {
                    errors.push(reason);
                    // The input itself was not kept (it parsed); keep the refused report.
                    refused_json.get_or_insert_with(|| {
                        extract::gunzip(&r.raw_gz, usize::MAX / 2).unwrap_or_default()
                    });
                }
                None => errors.push("internal: missing store outcome".into()),
            }
        }
        let status = if imported > 0 {
            Status::Imported
        } else if errors.is_empty() && duplicates > 0 {
            Status::Duplicate
        } else {
            Status::Rejected
        };
        let reason = (!errors.is_empty()).then(|| errors.join("; "));
        if let Some(reason) = &reason {
            let raw = p.raw_if_rejected.or(refused_json).unwrap_or_default();
            store
                .quarantine(&NewRejected {
                    channel: p.channel,
                    source_name: &p.source,
                    received_at: now_unix(),
                    reason,
                    content_hash: &sha256_hex(&raw),
                    raw_gz: &gzip(&raw),
                    raw_size: raw.len(),
                })
                .await?;
            // Untrusted text is logged escaped (Debug), never raw.
            tracing::debug!(source = ?p.source, channel = p.channel, reason = ?reason, "input rejected and quarantined");
        }
        outcomes.push(InputOutcome {
            path: p.source,
            status,
            reason,
            reports: imported,
            duplicates,
            warnings,
            notes,
        });
    }
    Ok(outcomes)
}

/// Hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// gzip with a fast level (stored reports are read rarely).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 4 + 64),
        flate2::Compression::fast(),
    );
    // Writing to a Vec cannot fail.
    let _ = e.write_all(bytes);
    e.finish().unwrap_or_default()
}

/// Current Unix time in seconds.
pub fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

/// How [`import_pipelined`] groups inputs into transactions.
#[derive(Debug, Clone, Copy)]
pub struct Batching {
    /// Most inputs per transaction.
    pub items: usize,
    /// Most input bytes held in memory per batch.
    pub max_bytes: usize,
    /// Whether unknown domains are registered.
    pub domains: DomainPolicy,
}

/// Imports `items` in batches of at most `batching.items` inputs and `batching.max_bytes` (by
/// `weight`), preparing the next batch on a blocking thread while the current one is written,
/// and calls `on_outcome` for every input in order. Bigger batches mean fewer commits (each one
/// an fsync); the byte cap bounds memory.
pub async fn import_pipelined<T, P, W, O>(
    store: &Store,
    items: Vec<T>,
    batching: Batching,
    weight: W,
    prepare_item: P,
    mut on_outcome: O,
) -> anyhow::Result<()>
where
    T: Send + Sync + 'static,
    P: Fn(&T) -> Vec<Prepared> + Send + Sync + 'static,
    W: Fn(&T) -> usize,
    O: FnMut(&InputOutcome) -> anyhow::Result<()>,
{
    let Batching {
        items: batch,
        max_bytes,
        domains,
    } = batching;
    let items = std::sync::Arc::new(items);
    let prepare_item = std::sync::Arc::new(prepare_item);
    let mut ranges: Vec<std::ops::Range<usize>> = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, item) in items.iter().enumerate() {
        let w = weight(item);
        if i > start && (i - start >= batch.max(1) || bytes + w > max_bytes) {
            ranges.push(start..i);
            (start, bytes) = (i, 0);
        }
        bytes += w;
    }
    if start < items.len() {
        ranges.push(start..items.len());
    }
    let spawn = |r: std::ops::Range<usize>| {
        let (items, prepare_item) = (items.clone(), prepare_item.clone());
        tokio::task::spawn_blocking(move || {
            items[r]
                .iter()
                .flat_map(|t| prepare_item(t))
                .collect::<Vec<_>>()
        })
    };
    let mut ranges = ranges.into_iter();
    let mut pending = ranges.next().map(spawn);
    while let Some(job) = pending.take() {
        let prepared = job.await?;
        pending = ranges.next().map(spawn);
        for o in commit(store, prepared, domains).await? {
            on_outcome(&o)?;
        }
    }
    Ok(())
}

/// Runs a quarantined input through the importer again, with the trust of the channel it came
/// from (the open HTTPS receiver never registers domains). Marks it re-processed when it now
/// imports (or turns out to be a duplicate). `None` when no such input exists.
pub async fn reprocess(
    store: &Store,
    id: i64,
    limits: &Limits,
    authenticated: DomainPolicy,
) -> anyhow::Result<Option<InputOutcome>> {
    let Some((channel, source, raw_gz)) = store.rejected_raw(id).await? else {
        return Ok(None);
    };
    let raw = extract::gunzip(&raw_gz, usize::MAX / 2)?;
    // The open channels (the receiver, mailboxes anyone can write to) never register domains
    // on re-processing either: register the domain first (`tlswatch domain add`).
    let (channel, domains) = match channel.as_str() {
        "https" => ("https", DomainPolicy::KnownOnly),
        "imap" => ("imap", DomainPolicy::KnownOnly),
        "upload" => ("upload", authenticated),
        _ => ("cli", authenticated),
    };
    let name = source.rsplit(['/', ' ']).next().map(str::to_owned);
    let limits = *limits;
    let prepared = tokio::task::spawn_blocking(move || {
        prepare(
            &raw,
            None,
            name.as_deref(),
            source,
            channel,
            &limits,
            now_unix(),
        )
    })
    .await?;
    let outcome = commit(store, vec![prepared], domains).await?.remove(0);
    if outcome.status != Status::Rejected {
        store.mark_reprocessed(id, now_unix()).await?;
    }
    Ok(Some(outcome))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report for `quick.example`, padded with `pad` bytes of JSON whitespace.
    fn report(pad: usize) -> Vec<u8> {
        let mut json = br#"{"organization-name":"Quick Sender","date-range":{"start-datetime":"2026-11-01T00:00:00Z","end-datetime":"2026-11-01T23:59:59Z"},"contact-info":"tlsrpt@sender.example","report-id":"q-1","policies":[{"policy":{"policy-type":"sts","policy-string":["version: STSv1","mode: testing","mx: mx.quick.example","max_age: 86400"],"policy-domain":"quick.example","mx-host":["mx.quick.example"]},"summary":{"total-successful-session-count":41,"total-failure-session-count":2},"failure-details":[{"result-type":"certificate-expired","sending-mta-ip":"192.0.2.7","receiving-mx-hostname":"mx.quick.example","failed-session-count":2}]}]}"#.to_vec();
        json.extend(std::iter::repeat_n(b' ', pad));
        json
    }

    fn full(body: &[u8], ct: &str, limits: &Limits) -> Prepared {
        prepare(
            body,
            Some(ct),
            None,
            "test".into(),
            "https",
            limits,
            1_800_000_000,
        )
    }

    fn quick(body: &[u8], ct: &str, limits: &Limits) -> Option<Prepared> {
        prepare_quick(body, Some(ct), None, "test", "https", limits, 1_800_000_000)
    }

    /// Errors; content hash, dedup key, successful and failed sessions per report; bytes kept.
    type Summary = (Vec<String>, Vec<(String, String, u64, u64)>, Option<usize>);

    /// What an input's outcome depends on: its errors, its reports' identities and counts,
    /// and what is kept of it when rejected.
    fn summary(p: &Prepared) -> Summary {
        (
            p.errors.clone(),
            p.reports
                .iter()
                .map(|r| {
                    (
                        r.content_hash.clone(),
                        r.dedup_key().to_owned(),
                        r.report.policies.iter().map(|p| p.success).sum(),
                        r.report.policies.iter().map(|p| p.failure).sum(),
                    )
                })
                .collect(),
            p.raw_if_rejected.as_ref().map(Vec::len),
        )
    }

    #[test]
    fn a_small_input_is_prepared_quickly_exactly_as_in_full() {
        let limits = Limits::default();
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (gzip(&report(0)), "application/tlsrpt+gzip"),
            (report(0), "application/tlsrpt+json"),
            (
                b"{\"organization-name\":".to_vec(),
                "application/tlsrpt+json",
            ),
            (
                b"\x1f\x8b\x08\x00garbage".to_vec(),
                "application/tlsrpt+gzip",
            ),
            (Vec::new(), "application/tlsrpt+json"),
        ];
        for (body, ct) in cases {
            let q = quick(&body, ct, &limits).expect("a small input is prepared quickly");
            assert_eq!(summary(&q), summary(&full(&body, ct, &limits)), "{ct}");
            assert_eq!((q.source.as_str(), q.channel), ("test", "https"));
        }
        let ok = quick(&gzip(&report(0)), "application/tlsrpt+gzip", &limits).unwrap();
        assert_eq!(ok.reports.len(), 1);
        assert!(ok.errors.is_empty());
        let bad = quick(
            b"{\"organization-name\":",
            "application/tlsrpt+json",
            &limits,
        )
        .unwrap();
        assert_eq!(bad.errors.len(), 1);
        assert!(bad.raw_if_rejected.is_some());
    }

    #[test]
    fn an_input_beyond_the_quick_bounds_goes_to_the_full_preparation() {
        let limits = Limits::default();
        // Small on the wire, but inflating past the quick bound: prepared in full, and stored.
        let padded = gzip(&report(QUICK_INFLATED));
        assert!(padded.len() < QUICK_INPUT);
        assert!(quick(&padded, "application/tlsrpt+gzip", &limits).is_none());
        let p = full(&padded, "application/tlsrpt+gzip", &limits);
        assert_eq!((p.reports.len(), p.errors.len()), (1, 0));
        // Larger on the wire than the quick bound.
        let big = report(QUICK_INPUT);
        assert!(quick(&big, "application/tlsrpt+json", &limits).is_none());
        assert_eq!(
            full(&big, "application/tlsrpt+json", &limits).reports.len(),
            1
        );
        // Just inside both bounds: quick.
        let edge = report(QUICK_INFLATED - report(0).len());
        assert_eq!(edge.len(), QUICK_INFLATED);
        let q = quick(&gzip(&edge), "application/tlsrpt+gzip", &limits).unwrap();
        assert_eq!(q.reports.len(), 1);
    }

    #[test]
    fn the_configured_budget_decides_the_outcome_not_the_quick_one() {
        // A configured budget below the quick one: the input goes to the full preparation,
        // which rejects it with the configured amount in the reason.
        let limits = Limits {
            max_decompressed: 1_000,
            ..Limits::default()
        };
        let body = gzip(&report(2_000));
        assert!(quick(&body, "application/tlsrpt+gzip", &limits).is_none());
        let p = full(&body, "application/tlsrpt+gzip", &limits);
        assert!(p.reports.is_empty());
        assert!(p.errors[0].contains("1000-byte limit"), "{:?}", p.errors);
        // A configured input limit below the quick one applies to the quick path too.
        let limits = Limits {
            max_input: 100,
            ..Limits::default()
        };
        assert!(quick(&report(0), "application/tlsrpt+json", &limits).is_none());
        assert_eq!(
            full(&report(0), "application/tlsrpt+json", &limits)
                .reports
                .len(),
            0
        );
    }
}
