//! `tlswatch user …` and `tlswatch token …`.

use std::io::BufRead;

use app::auth::Role;

use crate::config::{TokenCommand, UserCommand};
use crate::ingest::now_unix;
use crate::service::accounts::{Accounts, Membership};
use crate::service::{Actor, Admin};
use crate::store::Store;

fn role(s: &str) -> anyhow::Result<Role> {
    Role::parse(s).ok_or_else(|| anyhow::anyhow!("unknown role {s:?}"))
}

/// The operator's services.
fn op() -> Actor<Admin> {
    Actor::operator()
}

/// One line of standard input (a password), without its line end.
fn read_secret(prompt: &str) -> anyhow::Result<String> {
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        eprint!("{prompt} (input is shown; pipe it in to hide it): ");
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Runs a user command.
pub async fn user(accounts: &Accounts, cmd: UserCommand) -> anyhow::Result<u8> {
    match cmd {
        UserCommand::Add {
            email,
            role: r,
            org,
            instance_admin,
        } => {
            let password = read_secret(&format!("Password for {email}"))?;
            let membership = Membership {
                org,
                instance_admin,
            };
            let id = accounts
                .add_member(&op(), &email, &password, role(&r)?, &membership)
                .await?;
            println!("user {id} created");
        }
        UserCommand::SetPassword { email } => {
            let password = read_secret(&format!("New password for {email}"))?;
            accounts.set_password(&op(), &email, &password).await?;
            println!("password of {} set", email.trim());
        }
        UserCommand::Disable { email } => set_disabled(accounts, &email, true).await?,
        UserCommand::Enable { email } => set_disabled(accounts, &email, false).await?,
        UserCommand::List => {
            for u in accounts.users(&op()).await? {
                println!(
                    "{}\t{}\t{}\torganization {}{}{}",
                    u.id,
                    u.email,
                    u.role.as_str(),
                    u.org_id,
                    if u.instance_admin {
                        "\tinstance admin"
                    } else {
                        ""
                    },
                    if u.disabled { "\tdisabled" } else { "" }
                );
            }
        }
    }
    Ok(0)
}

async fn set_disabled(accounts: &Accounts, email: &str, disabled: bool) -> anyhow::Result<()> {
    let user = accounts.find_user(&op(), email).await?;
    accounts
        .update_user(&op(), user.id, user.role, disabled)
        .await?;
    println!(
        "{} {}",
        user.email,
        if disabled { "disabled" } else { "enabled" }
    );
    Ok(())
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
            crate::store::DEFAULT_ORG,
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
pub async fn token(accounts: &Accounts, cmd: TokenCommand) -> anyhow::Result<u8> {
    match cmd {
        TokenCommand::Create {
            name,
            role: r,
            org,
            instance_admin,
        } => {
            let membership = Membership {
                org,
                instance_admin,
            };
            let token = accounts
                .create_token_in(&op(), &name, role(&r)?, &membership)
                .await?;
            println!("{token}");
            eprintln!("Keep it now: it is not stored and will not be shown again.");
        }
        TokenCommand::List => {
            for t in accounts.tokens(&op()).await? {
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
        }
        TokenCommand::Revoke { id } => accounts.revoke_token(&op(), id).await?,
    }
    Ok(0)
}
