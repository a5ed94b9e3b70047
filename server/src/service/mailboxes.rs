//! Mailboxes tlswatch polls for report mail (admin): adding, listing, polling now.

use super::{Actor, Admin, Outcome, ServiceError};
use crate::store::{Mailbox, Store};

/// Mailbox use cases, for every adapter.
#[derive(Clone)]
pub struct Mailboxes {
    store: Store,
    poller: Option<crate::ingest::imap::ImapPoller>,
}

impl Mailboxes {
    /// Mailboxes of `store`.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            poller: None,
        }
    }

    /// The same, testing and polling with `poller` (the web's "test connection" and "poll now").
    pub fn with_poller(mut self, poller: Option<crate::ingest::imap::ImapPoller>) -> Self {
        self.poller = poller;
        self
    }

    fn poller(&self) -> Outcome<&crate::ingest::imap::ImapPoller> {
        self.poller
            .as_ref()
            .ok_or_else(|| ServiceError::NotFound("this server does not poll mailboxes".into()))
    }

    async fn one(&self, id: i64) -> Outcome<Mailbox> {
        self.store
            .mailboxes()
            .await?
            .into_iter()
            .find(|m| m.id == id)
            .ok_or_else(|| ServiceError::NotFound("no such mailbox".into()))
    }

    /// Signs in and selects the folder without importing; what happened, in words.
    pub async fn test(&self, by: &Actor<Admin>, id: i64) -> Outcome<Result<String, String>> {
        let m = self.one(id).await?;
        let result = match self.poller()?.test(&m).await {
            Ok(n) => Ok(format!("Signed in; {n} message(s) in {}.", m.folder)),
            Err(e) => Err(format!("{e:#}")),
        };
        super::audit(
            &self.store,
            by,
            "mailbox.test",
            &format!(
                "mailbox {id}: {}",
                if result.is_ok() { "ok" } else { "failed" }
            ),
        )
        .await;
        Ok(result)
    }

    /// Polls one mailbox now and records it like a scheduled poll; what happened, in words.
    pub async fn poll_one(&self, by: &Actor<Admin>, id: i64) -> Outcome<Result<String, String>> {
        self.one(id).await?;
        let result = match crate::ingest::imap::poll_now(&self.store, self.poller()?, id).await? {
            None => Err("a poll of this mailbox is running; try again in a moment".into()),
            Some(Ok(o)) => Ok(format!(
                "Polled: {} imported, {} already imported, {} rejected.",
                o.imported, o.duplicates, o.rejected
            )),
            Some(Err(e)) => Err(e),
        };
        super::audit(
            &self.store,
            by,
            "mailbox.poll",
            &format!(
                "mailbox {id}: {}",
                if result.is_ok() { "ok" } else { "failed" }
            ),
        )
        .await;
        Ok(result)
    }

    /// Every mailbox as the admin page shows it (no password).
    pub async fn view(&self, by: &Actor<Admin>) -> Outcome<Vec<app::mailboxes::MailboxView>> {
        let totals = self.store.mailbox_totals().await?;
        Ok(self
            .list(by)
            .await?
            .into_iter()
            .map(|m| {
                let t = totals
                    .iter()
                    .find(|t| t.0 == m.id)
                    .copied()
                    .unwrap_or_default();
                let state = match (&m.last_error, m.last_poll_at, m.enabled) {
                    (_, _, false) => "off",
                    (Some(_), _, true) => "failing",
                    (None, None, true) => "not polled yet",
                    (None, Some(_), true) => "ok",
                };
                app::mailboxes::MailboxView {
                    id: m.id,
                    name: m.name,
                    host: m.host,
                    port: m.port,
                    tls: m.tls_mode,
                    username: m.username,
                    password_set: !m.password.is_empty(),
                    folder: m.folder,
                    archive_folder: m.archive_folder.unwrap_or_default(),
                    rejected_folder: m.rejected_folder.unwrap_or_default(),
                    poll_seconds: m.poll_seconds,
                    enabled: m.enabled,
                    auto_register: m.auto_register,
                    last_poll: m.last_poll_at.map(super::views::utc),
                    last_success: t.1.map(super::views::utc),
                    last_error: m.last_error,
                    state: state.into(),
                    imported: t.2,
                    duplicates: t.3,
                    rejected: t.4,
                }
            })
            .collect())
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
