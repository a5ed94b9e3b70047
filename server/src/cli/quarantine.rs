//! `tlswatch quarantine list | show ID | reprocess [ID...]`.

use std::io::Write;

use crate::config::QuarantineCommand;
use crate::ingest::Status;
use crate::service::quarantine::Quarantine;
use crate::service::{Actor, ServiceError};
use crate::store::Store;

/// The quarantine for reading (re-processing builds its own with the limits asked for).
fn quarantine(store: &Store) -> Quarantine {
    Quarantine::new(
        store.clone(),
        crate::ingest::Limits::default(),
        crate::store::DomainPolicy::KnownOnly,
    )
}

/// Runs a quarantine command; exit status 1 when something could not be re-processed.
pub async fn run(store: &Store, cmd: QuarantineCommand) -> anyhow::Result<u8> {
    match cmd {
        QuarantineCommand::List { limit } => {
            for r in quarantine(store).list(&Actor::operator(), limit).await? {
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
            let raw = quarantine(store).raw(&Actor::operator(), id).await?;
            std::io::stdout().write_all(&raw)?;
            Ok(0)
        }
        QuarantineCommand::Reprocess {
            ids,
            auto_register,
            limits,
        } => {
            let q = Quarantine::new(
                store.clone(),
                limits.limits(),
                auto_register.domain_policy(),
            );
            let ids = if ids.is_empty() {
                q.list(&Actor::operator(), i64::MAX)
                    .await?
                    .into_iter()
                    .map(|r| r.id)
                    .collect()
            } else {
                ids
            };
            let mut failed = 0;
            for id in ids {
                match q.reprocess(&Actor::operator(), id).await {
                    Err(ServiceError::NotFound(_)) => {
                        eprintln!("{id}: no such rejected input");
                        failed += 1;
                    }
                    Err(e) => return Err(e.into()),
                    Ok(o) if o.status == Status::Rejected => {
                        failed += 1;
                        println!("{id}\trejected\t{}", o.reason.unwrap_or_default());
                    }
                    Ok(o) => println!(
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
