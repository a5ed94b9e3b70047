//! `tlswatch user …` and `tlswatch token …`.

use std::io::BufRead;

use app::auth::Role;

use crate::auth::{create_user, new_secret};
use crate::config::{TokenCommand, UserCommand};
use crate::ingest::now_unix;
use crate::store::Store;

fn role(s: &str) -> anyhow::Result<Role> {
    Role::parse(s).ok_or_else(|| anyhow::anyhow!("unknown role {s:?}"))
}

/// Runs a user command.
pub async fn user(store: &Store, cmd: UserCommand) -> anyhow::Result<u8> {
    match cmd {
        UserCommand::Add { email, role: r } => {
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                eprint!("Password for {email} (input is shown; pipe it in to hide it): ");
            }
            let mut password = String::new();
            std::io::stdin().lock().read_line(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']);
            let id = create_user(store, &email, password, role(&r)?).await?;
            store
                .audit(
                    "cli",
                    "user.add",
                    &format!("{} as {r}", email.trim().to_ascii_lowercase()),
                    None,
                    now_unix(),
                )
                .await?;
            println!("user {id} created");
            Ok(0)
        }
        UserCommand::List => {
            for u in store.users().await? {
                println!(
                    "{}\t{}\t{}{}",
                    u.id,
                    u.email,
                    u.role.as_str(),
                    if u.disabled { "\tdisabled" } else { "" }
                );
            }
            Ok(0)
        }
    }
}

/// Runs a token command.
pub async fn token(store: &Store, cmd: TokenCommand) -> anyhow::Result<u8> {
    match cmd {
        TokenCommand::Create { name, role: r } => {
            let (token, hash) = new_secret("tlsw_");
            store
                .add_token(&name, &hash, role(&r)?, "cli", now_unix())
                .await?;
            store
                .audit(
                    "cli",
                    "token.create",
                    &format!("{name} ({r})"),
                    None,
                    now_unix(),
                )
                .await?;
            println!("{token}");
            eprintln!("Keep it now: it is not stored and will not be shown again.");
            Ok(0)
        }
        TokenCommand::List => {
            for t in store.tokens().await? {
                println!(
                    "{}\t{}\t{}\t{}",
                    t.id,
                    t.name,
                    t.role.as_str(),
                    if t.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "live"
                    }
                );
            }
            Ok(0)
        }
        TokenCommand::Revoke { id } => {
            anyhow::ensure!(
                store.revoke_token(id, now_unix()).await?,
                "no live token with id {id}"
            );
            store
                .audit(
                    "cli",
                    "token.revoke",
                    &format!("token {id}"),
                    None,
                    now_unix(),
                )
                .await?;
            Ok(0)
        }
    }
}
