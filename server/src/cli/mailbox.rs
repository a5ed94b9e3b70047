//! `tlswatch mailbox add | list | poll`.

use std::io::BufRead;

use crate::config::{GlobalArgs, MailboxCommand};
use crate::service::mailboxes::Mailboxes;
use crate::service::Actor;
use crate::store::{Mailbox, Store};

/// Runs a mailbox command.
pub async fn run(store: &Store, global: &GlobalArgs, cmd: MailboxCommand) -> anyhow::Result<u8> {
    let mailboxes = Mailboxes::new(store.clone());
    match cmd {
        MailboxCommand::Add(a) => {
            let mut password = String::new();
            std::io::stdin().lock().read_line(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']).to_owned();
            anyhow::ensure!(!password.is_empty(), "give the password on standard input");
            let port = a
                .port
                .unwrap_or(if a.tls == "implicit" { 993 } else { 143 });
            let m = Mailbox {
                id: 0,
                name: a.name,
                host: a.host,
                port,
                tls_mode: a.tls,
                username: a.user,
                password,
                folder: a.folder,
                archive_folder: a.archive_folder,
                rejected_folder: a.rejected_folder,
                poll_seconds: a.interval.max(30),
                enabled: true,
                last_poll_at: None,
                last_error: None,
                auto_register: a.auto_register_domains,
            };
            println!("{}", mailboxes.add(&Actor::operator(), m).await?);
            Ok(0)
        }
        MailboxCommand::List => {
            for m in mailboxes.list(&Actor::operator()).await? {
                let last = m
                    .last_poll_at
                    .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_else(|| "never".into());
                println!(
                    "{}\t{}\t{}@{}:{} ({})\t{}\tevery {}s\tlast poll {last}\t{}",
                    m.id,
                    m.name,
                    m.username,
                    m.host,
                    m.port,
                    m.tls_mode,
                    m.folder,
                    m.poll_seconds,
                    m.last_error.unwrap_or_else(|| "ok".into())
                );
            }
            Ok(0)
        }
        MailboxCommand::Poll(limits) => {
            let (n, failed) = mailboxes
                .poll_now(&Actor::operator(), &global.imap_poller(&limits)?)
                .await?;
            eprintln!("{n} mailboxes polled, {failed} with errors");
            Ok(u8::from(failed > 0))
        }
    }
}
