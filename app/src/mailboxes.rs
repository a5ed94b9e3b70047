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
    /// `imap` or `graph`.
    pub kind: String,
    /// `password`, `client_credentials`, `service_account`, `authorization_code`.
    pub auth: String,
    /// Microsoft tenant.
    pub tenant: String,
    /// Identity provider base URL (Microsoft national clouds).
    pub authority: String,
    /// Token URL.
    pub token_url: String,
    /// Authorization URL.
    pub authorize_url: String,
    /// Client id.
    pub client_id: String,
    /// Scopes.
    pub scope: String,
    /// `xoauth2` or `oauthbearer` (empty: xoauth2).
    pub sasl: String,
    /// Someone signed in (a refresh token is kept).
    pub signed_in: bool,
    /// Days archived mails are kept (None: forever).
    pub retention_days: Option<i64>,
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
    /// `imap` or `graph`.
    #[serde(default)]
    pub kind: String,
    /// Sign-in method.
    #[serde(default)]
    pub auth: String,
    /// Microsoft tenant.
    #[serde(default)]
    pub tenant: String,
    /// Identity provider base URL.
    #[serde(default)]
    pub authority: String,
    /// Token URL.
    #[serde(default)]
    pub token_url: String,
    /// Authorization URL.
    #[serde(default)]
    pub authorize_url: String,
    /// Client id.
    #[serde(default)]
    pub client_id: String,
    /// Scopes.
    #[serde(default)]
    pub scope: String,
    /// SASL mechanism.
    #[serde(default)]
    pub sasl: String,
    /// Days to keep archived mails (empty: forever).
    #[serde(default)]
    pub retention_days: String,
}

/// Sign-in methods: value, label.
pub const AUTH_METHODS: [(&str, &str); 4] = [
    ("password", "Password"),
    (
        "client_credentials",
        "Microsoft 365 app (client credentials)",
    ),
    ("service_account", "Google Workspace service account"),
    (
        "authorization_code",
        "Sign in once (authorization code, refresh token kept)",
    ),
];

/// What the secret field holds for a method.
pub fn secret_label(auth: &str) -> &'static str {
    match auth {
        "client_credentials" => "Client secret",
        "service_account" => "Service account key (the JSON file)",
        "authorization_code" => "Client secret (empty for a public client)",
        _ => "Password",
    }
}

/// What is wrong with a mailbox form, per field (checked in the browser, and on the server).
pub fn mailbox_problems(f: &MailboxForm) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let graph = f.kind == "graph";
    if f.name.trim().is_empty() {
        out.push(("name", "A name is required.".to_owned()));
    }
    let host = f.host.trim();
    if graph {
        if !(host.starts_with("https://") || host.starts_with("http://"))
            || host.trim_end_matches('/').matches('/').count() > 2
        {
            out.push((
                "host",
                "The Graph base URL, e.g. https://graph.microsoft.com.".to_owned(),
            ));
        }
    } else {
        if host.is_empty() || host.contains(['/', ' ', '@']) {
            out.push(("host", "The IMAP server's host name.".to_owned()));
        }
        if f.port.trim().parse::<u16>().map_or(true, |p| p == 0) {
            out.push((
                "port",
                "A port from 1 to 65535 (993 for implicit TLS, 143 for STARTTLS).".to_owned(),
            ));
        }
    }
    if f.username.trim().is_empty() {
        out.push((
            "username",
            if graph {
                "The mailbox's address (a user or shared mailbox)."
            } else {
                "The user name to sign in with."
            }
            .to_owned(),
        ));
    }
    let auth = if f.auth.is_empty() {
        "password"
    } else {
        f.auth.as_str()
    };
    let secret_needed = match auth {
        "password" | "client_credentials" | "service_account" => f.id == 0,
        _ => false,
    };
    if secret_needed && f.password.is_empty() {
        out.push((
            "password",
            format!(
                "The {} (stored encrypted, never shown again).",
                secret_label(auth).to_lowercase()
            ),
        ));
    }
    if auth == "service_account" && !f.password.is_empty() && !f.password.contains("private_key") {
        out.push(("password", "Paste the JSON key file of the service account (it holds client_email and private_key).".to_owned()));
    }
    if graph && !matches!(auth, "client_credentials" | "authorization_code") {
        out.push((
            "auth",
            "Graph mailboxes use a Microsoft 365 app or a sign-in.".to_owned(),
        ));
    }
    if matches!(auth, "client_credentials" | "authorization_code") {
        if f.client_id.trim().is_empty() {
            out.push(("client_id", "The application (client) id.".to_owned()));
        }
        if f.tenant.trim().is_empty() && f.token_url.trim().is_empty() {
            out.push((
                "tenant",
                "The tenant (Microsoft 365), or a token URL below.".to_owned(),
            ));
        }
    }
    if auth == "authorization_code" && f.authorize_url.trim().is_empty() {
        out.push((
            "authorize_url",
            "The provider's authorization URL.".to_owned(),
        ));
    }
    for (key, v) in [
        ("token_url", &f.token_url),
        ("authorize_url", &f.authorize_url),
        ("authority", &f.authority),
    ] {
        let v = v.trim();
        if !(v.is_empty() || v.starts_with("https://") || v.starts_with("http://")) {
            out.push((key, "An https:// URL.".to_owned()));
        }
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
    let days = f.retention_days.trim();
    if !days.is_empty() {
        if days
            .parse::<i64>()
            .map_or(true, |d| !(1..=3650).contains(&d))
        {
            out.push((
                "retention_days",
                "Days from 1 to 3650, or empty to keep mails.".to_owned(),
            ));
        } else if f.archive_folder.trim().is_empty() {
            out.push((
                "retention_days",
                "Retention deletes archived mail: set an archive folder.".to_owned(),
            ));
        }
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

/// What retention would delete from the mailbox's archive now (admin), deleting nothing.
#[server]
pub async fn preview_retention(id: i64) -> Result<String, ServerFnError> {
    let by = require(Role::Admin)?;
    crate::api::backend()?
        .mailbox_retention(&by, id)
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
