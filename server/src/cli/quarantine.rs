//! `tlswatch quarantine list | show ID | reprocess [ID...]`.

use std::io::Write;

use crate::config::{GlobalArgs, QuarantineCommand};
use crate::ingest::{self, extract::gunzip, now_unix, Status};
use crate::store::{DomainPolicy, Store};

/// Runs a quarantine command; exit status 1 when something could not be re-processed.
pub async fn run(store: &Store, global: &GlobalArgs, cmd: QuarantineCommand) -> anyhow::Result<u8> {
    match cmd {
        QuarantineCommand::List { limit } => {
            for r in store.list_rejected(limit).await? {
                let when = chrono::DateTime::from_timestamp(r.received_at, 0)
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_default();
                println!(
                    "{}\t{}\t{}\t{} bytes\t{}\t{}",
                    r.id, when, r.channel, r.raw_size, r.source_name, r.reason
                );
            }
            Ok(0)
        }
        QuarantineCommand::Show { id } => {
            let Some((_, _, raw_gz)) = store.rejected_raw(id).await? else {
                anyhow::bail!("no rejected input with id {id}");
            };
            let raw = gunzip(&raw_gz, usize::MAX / 2)?;
            std::io::stdout().write_all(&raw)?;
            Ok(0)
        }
        QuarantineCommand::Reprocess { ids } => {
            let ids = if ids.is_empty() {
                store
                    .list_rejected(i64::MAX)
                    .await?
                    .into_iter()
                    .map(|r| r.id)
                    .collect()
            } else {
                ids
            };
            let mut failed = 0;
            for id in ids {
                let Some((channel, source, raw_gz)) = store.rejected_raw(id).await? else {
                    eprintln!("{id}: no such rejected input");
                    failed += 1;
                    continue;
                };
                let raw = gunzip(&raw_gz, usize::MAX / 2)?;
                // Same trust as the original channel: the open HTTPS receiver never registers domains.
                let (channel, domains) = match channel.as_str() {
                    "https" => ("https", DomainPolicy::KnownOnly),
                    "imap" => ("imap", auto(global)),
                    "upload" => ("upload", auto(global)),
                    _ => ("cli", auto(global)),
                };
                let name = source.rsplit('/').next().map(str::to_owned);
                let prepared = ingest::prepare(
                    &raw,
                    None,
                    name.as_deref(),
                    source.clone(),
                    channel,
                    &global.limits(),
                    now_unix(),
                );
                let outcome = ingest::commit(store, vec![prepared], domains)
                    .await?
                    .remove(0);
                match outcome.status {
                    Status::Imported | Status::Duplicate => {
                        store.mark_reprocessed(id, now_unix()).await?;
                        println!(
                            "{id}\t{}\t{} reports",
                            if outcome.status == Status::Imported {
                                "imported"
                            } else {
                                "duplicate"
                            },
                            outcome.reports
                        );
                    }
                    Status::Rejected => {
                        failed += 1;
                        println!("{id}\trejected\t{}", outcome.reason.unwrap_or_default());
                    }
                }
            }
            Ok(u8::from(failed > 0))
        }
    }
}

fn auto(global: &GlobalArgs) -> DomainPolicy {
    if global.auto_register_domains {
        DomainPolicy::AutoRegister
    } else {
        DomainPolicy::KnownOnly
    }
}
