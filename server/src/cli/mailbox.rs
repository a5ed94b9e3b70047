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
            let a = *a;
            let auth = a.auth.replace('-', "_");
            let password = if auth == "service_account" {
                let mut key = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin().lock(), &mut key)?;
                key.trim().to_owned()
            } else {
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line)?;
                line.trim_end_matches(['\r', '\n']).to_owned()
            };
            anyhow::ensure!(
                !password.is_empty() || auth == "authorization_code",
                "give the secret on standard input"
            );
            let graph = a.kind == "graph";
            let port = a.port.unwrap_or(match (graph, a.tls.as_str()) {
                (true, _) => 443,
                (false, "implicit") => 993,
                (false, _) => 143,
            });
            let host = match (a.host, graph) {
                (Some(h), true) => format!("{}/", h.trim_end_matches('/')),
                (None, true) => "https://graph.microsoft.com/".to_owned(),
                (Some(h), false) => h,
                (None, false) => anyhow::bail!("--host is required for IMAP"),
            };
            let m = Mailbox {
                id: 0,
                name: a.name,
                host,
                port,
                tls_mode: a.tls,
                username: a.user,
                password,
                folder: a.folder,
                archive_folder: a.archive_folder,
                rejected_folder: a.rejected_folder,
                poll_seconds: a.interval.max(30),
                enabled: true,
                auto_register: a.auto_register_domains,
                kind: a.kind,
                auth,
                oauth: crate::store::MailboxOAuth {
                    tenant: a.tenant.unwrap_or_default(),
                    authority: a.authority.unwrap_or_default(),
                    token_url: a.token_url.unwrap_or_default(),
                    authorize_url: a.authorize_url.unwrap_or_default(),
                    client_id: a.client_id.unwrap_or_default(),
                    scope: a.scope.unwrap_or_default(),
                    sasl: a.sasl.unwrap_or_default(),
                },
                retention_days: a.retention_days,
                ..Mailbox::default()
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
                let state = crate::service::mailboxes::state(&m);
                println!(
                    "{}\t{}\t{} {} {}@{}:{} ({})\t{}\tevery {}s\tlast poll {last}\t{state}\t{}",
                    m.id,
                    m.name,
                    m.kind,
                    m.auth,
                    m.username,
                    m.host,
                    m.port,
                    m.tls_mode,
                    m.folder,
                    m.poll_seconds,
                    m.last_error.unwrap_or_default()
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
