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
        UserCommand::SetPassword { email } => {
            let email = crate::auth::normalize_email(&email).map_err(anyhow::Error::msg)?;
            let user = store
                .user_by_email(&email)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no user {email}"))?;
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                eprint!("New password for {email} (input is shown; pipe it in to hide it): ");
            }
            let mut password = String::new();
            std::io::stdin().lock().read_line(&mut password)?;
            crate::auth::set_password(store, user.id, password.trim_end_matches(['\r', '\n']))
                .await?;
            store
                .audit("cli", "user.set-password", &email, None, now_unix())
                .await?;
            println!("password of {email} set");
            Ok(0)
        }
        UserCommand::Disable { email } => set_disabled(store, &email, true).await,
        UserCommand::Enable { email } => set_disabled(store, &email, false).await,
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

async fn set_disabled(store: &Store, email: &str, disabled: bool) -> anyhow::Result<u8> {
    let email = crate::auth::normalize_email(email).map_err(anyhow::Error::msg)?;
    let user = store
        .user_by_email(&email)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no user {email}"))?;
    store.update_user(user.id, user.role, disabled).await?;
    let action = if disabled {
        "user.disable"
    } else {
        "user.enable"
    };
    store.audit("cli", action, &email, None, now_unix()).await?;
    println!("{email} {}", if disabled { "disabled" } else { "enabled" });
    Ok(0)
}

/// `tlswatch secrets rotate`: seals every stored secret with a new key, then stores the key
/// (the key file) or prints it (when it came from TLSWATCH_SECRET_KEY).
pub async fn rotate_secrets(
    store: &Store,
    global: &crate::config::GlobalArgs,
) -> anyhow::Result<u8> {
    let new_key = crate::secrets::Sealer::generate_key();
    let new = crate::secrets::Sealer::from_base64(&new_key)?;
    let from_env = global
        .secret_key
        .as_deref()
        .is_some_and(|k| !k.trim().is_empty());
    let path = global.data_dir.join(crate::secrets::KEY_FILE);
    if !from_env {
        // Keep the old key until the database holds the new seals.
        let old = path.with_extension("key.old");
        std::fs::copy(&path, &old)
            .map_err(|e| anyhow::anyhow!("copying {} to {}: {e}", path.display(), old.display()))?;
    }
    let n = store.reseal_secrets(&new).await?;
    store
        .audit(
            "cli",
            "secrets.rotate",
            &format!("{n} secrets, new key {}", new.key_id()),
            None,
            now_unix(),
        )
        .await?;
    if from_env {
        println!("{new_key}");
        eprintln!("{n} secrets sealed with the new key {} (printed above): set TLSWATCH_SECRET_KEY to it on every instance now.", new.key_id());
    } else {
        crate::secrets::write_key_file(&path, &new_key)?;
        eprintln!("{n} secrets sealed with the new key {}; {} updated (the old key is in secret.key.old until you delete it).", new.key_id(), path.display());
    }
    Ok(0)
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
