//! Mailboxes tlswatch polls for report mail, as the admin page shows them, and its server
//! functions. Passwords are write-only: never sent to the browser.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use crate::auth::{require, Role};

/// A mailbox as shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailboxView {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// IMAP host.
    pub host: String,
    /// Port.
    pub port: u16,
    /// `implicit` or `starttls`.
    pub tls: String,
    /// User name.
    pub username: String,
    /// Whether a password is stored.
    pub password_set: bool,
    /// Folder read.
    pub folder: String,
    /// Folder imported mail goes to (empty: marked seen).
    pub archive_folder: String,
    /// Folder other mail goes to (empty: marked seen).
    pub rejected_folder: String,
    /// Seconds between polls.
    pub poll_seconds: i64,
    /// Polled at all.
    pub enabled: bool,
    /// Reports may register unknown domains.
    pub auto_register: bool,
    /// Last poll, UTC.
    pub last_poll: Option<String>,
    /// Last successful poll, UTC.
    pub last_success: Option<String>,
    /// Error of the last poll.
    pub last_error: Option<String>,
    /// `ok`, `failing`, `not polled yet`, `off`.
    pub state: String,
    /// Mails imported since the mailbox was added.
    pub imported: i64,
    /// Mails whose reports were stored already.
    pub duplicates: i64,
    /// Mails that were not reports (quarantined).
    pub rejected: i64,
}

/// A mailbox as the form sends it (`id` 0 adds one; an empty password keeps the stored one).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailboxForm {
    /// 0 to add.
    pub id: i64,
    /// Name.
    pub name: String,
    /// IMAP host.
    pub host: String,
    /// Port (text as typed).
    pub port: String,
    /// `implicit` or `starttls`.
    pub tls: String,
    /// User name.
    pub username: String,
    /// Password (write-only).
    #[serde(default)]
    pub password: String,
    /// Folder read.
    pub folder: String,
    /// Archive folder (empty: mark seen).
    #[serde(default)]
    pub archive_folder: String,
    /// Rejected folder (empty: mark seen).
    #[serde(default)]
    pub rejected_folder: String,
    /// Minutes between polls (text as typed).
    pub poll_minutes: String,
    /// Polled at all.
    #[serde(default)]
    pub enabled: bool,
    /// Reports may register unknown domains.
    #[serde(default)]
    pub auto_register: bool,
}

/// What is wrong with a mailbox form, per field (checked in the browser, and on the server).
pub fn mailbox_problems(f: &MailboxForm) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if f.name.trim().is_empty() {
        out.push(("name", "A name is required.".to_owned()));
    }
    let host = f.host.trim();
    if host.is_empty() || host.contains(['/', ' ', '@']) {
        out.push(("host", "The IMAP server's host name.".to_owned()));
    }
    if f.port.trim().parse::<u16>().map_or(true, |p| p == 0) {
        out.push((
            "port",
            "A port from 1 to 65535 (993 for implicit TLS, 143 for STARTTLS).".to_owned(),
        ));
    }
    if f.username.trim().is_empty() {
        out.push(("username", "The user name to sign in with.".to_owned()));
    }
    if f.id == 0 && f.password.is_empty() {
        out.push((
            "password",
            "The password (stored encrypted, never shown again).".to_owned(),
        ));
    }
    if f.folder.trim().is_empty() {
        out.push((
            "folder",
            "The folder reports arrive in (often INBOX).".to_owned(),
        ));
    }
    if f.poll_minutes
        .trim()
        .parse::<i64>()
        .map_or(true, |m| !(1..=1440).contains(&m))
    {
        out.push((
            "poll_minutes",
            "Minutes between polls, 1 to 1440.".to_owned(),
        ));
    }
    out
}

/// Every mailbox (admin).
#[server]
pub async fn list_mailboxes() -> Result<Vec<MailboxView>, ServerFnError> {
    require(Role::Admin)?;
    crate::api::backend()?
        .mailboxes()
        .await
        .map_err(crate::auth::failed)
}

/// Adds (`id` 0) or changes a mailbox (admin).
#[server]
pub async fn save_mailbox(form: MailboxForm) -> Result<(), ServerFnError> {
    let by = require(Role::Admin)?;
    crate::api::backend()?
        .save_mailbox(&by, form)
        .await
        .map_err(crate::auth::failed)
}

/// Deletes a mailbox (admin).
#[server]
pub async fn remove_mailbox(id: i64) -> Result<(), ServerFnError> {
    let by = require(Role::Admin)?;
    crate::api::backend()?
        .remove_mailbox(&by, id)
        .await
        .map_err(crate::auth::failed)
}

/// Signs in and selects the folder without importing (admin); what happened, in words.
#[server]
pub async fn test_mailbox(id: i64) -> Result<String, ServerFnError> {
    let by = require(Role::Admin)?;
    crate::api::backend()?
        .test_mailbox(&by, id)
        .await
        .map_err(crate::auth::failed)
}

/// Polls a mailbox now (admin); what happened, in words.
#[server]
pub async fn poll_mailbox(id: i64) -> Result<String, ServerFnError> {
    let by = require(Role::Admin)?;
    crate::api::backend()?
        .poll_mailbox(&by, id)
        .await
        .map_err(crate::auth::failed)
}
