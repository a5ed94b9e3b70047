//! Mailboxes tlswatch polls for report mail (admin): adding, listing, polling now.

use super::{Actor, Admin, Outcome, ServiceError};
use crate::store::{Mailbox, Store};

/// Mailbox use cases, for every adapter.
#[derive(Clone)]
pub struct Mailboxes {
    store: Store,
}

impl Mailboxes {
    /// Mailboxes of `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Every mailbox (passwords included: adapters never show them).
    pub async fn list(&self, _: &Actor<Admin>) -> Outcome<Vec<Mailbox>> {
        Ok(self.store.mailboxes().await?)
    }

    /// Adds a mailbox after checking its settings (audited; the password is stored sealed).
    pub async fn add(&self, by: &Actor<Admin>, m: Mailbox) -> Outcome<i64> {
        validate(&m).map_err(ServiceError::Invalid)?;
        let id = self.store.add_mailbox(&m).await?;
        super::audit(
            &self.store,
            by,
            "mailbox.add",
            &format!(
                "mailbox {id} {} ({}@{}:{})",
                m.name, m.username, m.host, m.port
            ),
        )
        .await;
        Ok(id)
    }

    /// Changes a mailbox (an empty password keeps the stored one; audited).
    pub async fn update(&self, by: &Actor<Admin>, m: Mailbox) -> Outcome<()> {
        let check = Mailbox {
            password: if m.password.is_empty() {
                "(kept)".into()
            } else {
                m.password.clone()
            },
            ..m.clone()
        };
        validate(&check).map_err(ServiceError::Invalid)?;
        if !self.store.update_mailbox(&m).await? {
            return Err(ServiceError::NotFound("no such mailbox".into()));
        }
        super::audit(
            &self.store,
            by,
            "mailbox.update",
            &format!(
                "mailbox {} {} ({}@{}:{}){}",
                m.id,
                m.name,
                m.username,
                m.host,
                m.port,
                if m.password.is_empty() {
                    ""
                } else {
                    ", new password"
                }
            ),
        )
        .await;
        Ok(())
    }

    /// Deletes a mailbox (audited).
    pub async fn delete(&self, by: &Actor<Admin>, id: i64) -> Outcome<()> {
        if !self.store.delete_mailbox(id).await? {
            return Err(ServiceError::NotFound("no such mailbox".into()));
        }
        super::audit(&self.store, by, "mailbox.delete", &format!("mailbox {id}")).await;
        Ok(())
    }

    /// Polls every enabled mailbox once with `poller`; how many were polled and how many
    /// answered with an error.
    pub async fn poll_now(
        &self,
        by: &Actor<Admin>,
        poller: &crate::ingest::imap::ImapPoller,
    ) -> Outcome<(usize, usize)> {
        let n = crate::ingest::imap::try_execute_once(&self.store, poller).await?;
        let failed = self
            .store
            .mailboxes()
            .await?
            .iter()
            .filter(|m| m.enabled && m.last_error.is_some())
            .count();
        super::audit(
            &self.store,
            by,
            "mailbox.poll",
            &format!("{n} polled, {failed} with errors"),
        )
        .await;
        Ok((n, failed))
    }
}

/// Checks a mailbox's settings.
pub fn validate(m: &Mailbox) -> Result<(), String> {
    if m.name.trim().is_empty() || m.name.len() > 100 {
        return Err("a name of 1 to 100 characters is required".into());
    }
    if m.host.trim().is_empty() || m.host.len() > 253 || m.host.contains(['/', ' ', '@']) {
        return Err("the IMAP host must be a host name or address".into());
    }
    if m.port == 0 {
        return Err("the port must be 1 to 65535".into());
    }
    if !matches!(m.tls_mode.as_str(), "implicit" | "starttls") {
        return Err("tls must be implicit or starttls".into());
    }
    if m.username.is_empty() || m.password.is_empty() {
        return Err("a user name and a password are required".into());
    }
    for (what, f) in [
        ("folder", Some(&m.folder)),
        ("archive folder", m.archive_folder.as_ref()),
        ("rejected folder", m.rejected_folder.as_ref()),
    ] {
        if let Some(f) = f {
            if f.is_empty() || f.len() > 200 || f.chars().any(char::is_control) {
                return Err(format!(
                    "the {what} name must be 1 to 200 printable characters"
                ));
            }
        }
    }
    Ok(())
}
