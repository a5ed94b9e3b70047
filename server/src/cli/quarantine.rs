//! `tlswatch quarantine list | show ID | reprocess [ID...]`.

use std::io::Write;

use crate::config::QuarantineCommand;
use crate::ingest::{self, extract::gunzip, Status};
use crate::store::Store;

/// Runs a quarantine command; exit status 1 when something could not be re-processed.
pub async fn run(store: &Store, cmd: QuarantineCommand) -> anyhow::Result<u8> {
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
        QuarantineCommand::Reprocess {
            ids,
            auto_register,
            limits,
        } => {
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
                match ingest::reprocess(store, id, &limits.limits(), auto_register.domain_policy())
                    .await?
                {
                    None => {
                        eprintln!("{id}: no such rejected input");
                        failed += 1;
                    }
                    Some(o) if o.status == Status::Rejected => {
                        failed += 1;
                        println!("{id}\trejected\t{}", o.reason.unwrap_or_default());
                    }
                    Some(o) => println!(
                        "{id}\t{}\t{} reports",
                        if o.status == Status::Imported {
                            "imported"
                        } else {
                            "duplicate"
                        },
                        o.reports
                    ),
                }
            }
            Ok(u8::from(failed > 0))
        }
    }
}
