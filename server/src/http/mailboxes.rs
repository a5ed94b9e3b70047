//! `/api/v1/mailboxes` (admin): the IMAP mailboxes tlswatch polls. Passwords are write-only:
//! never sent back, and a change without one keeps the stored one.

use app::auth::CurrentUser;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;

use super::routes::Routes;
use super::AppState;
use crate::service::{Actor, Admin, ServiceError};
use crate::store::Mailbox;

/// Routes.
pub fn routes() -> Routes {
    Routes::new()
        .get("/api/v1/mailboxes", list)
        .post("/api/v1/mailboxes", add)
        .put("/api/v1/mailboxes/{id}", update)
        .delete("/api/v1/mailboxes/{id}", delete)
}

/// A mailbox as written by a client.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailboxInput {
    name: String,
    host: String,
    /// Default: 993 with `implicit` TLS, 143 with `starttls`.
    port: Option<u16>,
    /// `implicit` (default) or `starttls`.
    #[serde(default = "implicit")]
    tls: String,
    username: String,
    /// Required when adding; absent or empty when changing keeps the stored one.
    #[serde(default)]
    password: String,
    #[serde(default = "inbox")]
    folder: String,
    archive_folder: Option<String>,
    rejected_folder: Option<String>,
    /// Seconds between polls (at least 30). Default 300.
    #[serde(default = "five_minutes")]
    poll_seconds: i64,
    #[serde(default = "yes")]
    enabled: bool,
    /// Register unknown policy domains found in this mailbox's reports. Default off.
    #[serde(default)]
    auto_register_domains: bool,
}

fn implicit() -> String {
    "implicit".into()
}
fn inbox() -> String {
    "INBOX".into()
}
fn five_minutes() -> i64 {
    300
}
fn yes() -> bool {
    true
}

impl MailboxInput {
    fn into_mailbox(self, id: i64) -> Mailbox {
        let port = self
            .port
            .unwrap_or(if self.tls == "starttls" { 143 } else { 993 });
        Mailbox {
            id,
            name: self.name,
            host: self.host,
            port,
            tls_mode: self.tls,
            username: self.username,
            password: self.password,
            folder: self.folder,
            archive_folder: self.archive_folder,
            rejected_folder: self.rejected_folder,
            poll_seconds: self.poll_seconds.max(30),
            enabled: self.enabled,
            last_poll_at: None,
            last_error: None,
            auto_register: self.auto_register_domains,
        }
    }
}

/// A mailbox as shown: everything but the password.
fn shown(m: &Mailbox) -> serde_json::Value {
    serde_json::json!({
        "id": m.id, "name": m.name, "host": m.host, "port": m.port, "tls": m.tls_mode,
        "username": m.username, "password_set": !m.password.is_empty(), "folder": m.folder,
        "archive_folder": m.archive_folder, "rejected_folder": m.rejected_folder,
        "poll_seconds": m.poll_seconds, "enabled": m.enabled, "last_poll_at": m.last_poll_at,
        "last_error": m.last_error, "auto_register_domains": m.auto_register,
    })
}

async fn list(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
) -> Result<Response, ServiceError> {
    let by = Actor::<Admin>::authorize(&user)?;
    let all = state.services.mailboxes.list(&by).await?;
    Ok(
        Json(serde_json::json!({ "mailboxes": all.iter().map(shown).collect::<Vec<_>>() }))
            .into_response(),
    )
}

async fn add(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Json(input): Json<MailboxInput>,
) -> Result<Response, ServiceError> {
    let by = Actor::<Admin>::authorize(&user)?;
    let id = state
        .services
        .mailboxes
        .add(&by, input.into_mailbox(0))
        .await?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "id": id }))).into_response())
}

async fn update(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(id): Path<i64>,
    Json(input): Json<MailboxInput>,
) -> Result<Response, ServiceError> {
    let by = Actor::<Admin>::authorize(&user)?;
    state
        .services
        .mailboxes
        .update(&by, input.into_mailbox(id))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn delete(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(id): Path<i64>,
) -> Result<Response, ServiceError> {
    let by = Actor::<Admin>::authorize(&user)?;
    state.services.mailboxes.delete(&by, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
