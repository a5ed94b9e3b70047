//! `/api/v1/mailboxes` (admin): the mailboxes tlswatch polls (IMAP with a password or OAuth 2.0,
//! Microsoft Graph). Secrets (password, client secret, service account key, refresh token) are
//! write-only: never sent back, and a change without one keeps the stored one. Also the two
//! browser steps of "sign in once": `/admin/mailboxes/{id}/sign-in` sends the admin to the
//! provider, `/oauth/mailbox` is where the provider sends them back.

use app::auth::CurrentUser;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
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
        .post("/api/v1/mailboxes/{id}/test", test)
        .post("/api/v1/mailboxes/{id}/poll", poll)
        .get("/api/v1/mailboxes/{id}/retention", retention)
        .get("/admin/mailboxes/{id}/sign-in", sign_in)
        .get("/oauth/mailbox", signed_in)
}

/// Where the provider sends the browser back.
fn redirect_uri(state: &AppState, headers: &HeaderMap) -> String {
    super::url_of(state, headers, "/oauth/mailbox")
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
    /// `imap` (default) or `graph` (then `host` is the Graph base URL).
    #[serde(default = "imap")]
    kind: String,
    /// `password` (default), `client_credentials`, `service_account`, `authorization_code`.
    #[serde(default = "password")]
    auth: String,
    /// OAuth 2.0 settings (tenant, authority, token_url, authorize_url, client_id, scope, sasl).
    #[serde(default)]
    oauth: crate::store::MailboxOAuth,
    /// Delete archived report mails older than this many days (opt-in).
    #[serde(default)]
    retention_days: Option<i64>,
}

fn imap() -> String {
    "imap".into()
}
fn password() -> String {
    "password".into()
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
            .unwrap_or(match (self.kind.as_str(), self.tls.as_str()) {
                ("graph", _) => 443,
                (_, "starttls") => 143,
                _ => 993,
            });
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
            auto_register: self.auto_register_domains,
            kind: self.kind,
            auth: self.auth,
            oauth: self.oauth,
            retention_days: self.retention_days,
            ..Mailbox::default()
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
        "kind": m.kind, "auth": m.auth, "oauth": m.oauth, "signed_in": !m.refresh_token.is_empty(),
        "retention_days": m.retention_days,
        "state": crate::service::mailboxes::state(m),
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

/// The outcome of a test or poll: `{"ok": …, "message": …}` (200 either way: the request
/// itself succeeded).
fn outcome(r: Result<String, String>) -> Response {
    let (ok, message) = match r {
        Ok(m) => (true, m),
        Err(e) => (false, e),
    };
    Json(serde_json::json!({ "ok": ok, "message": message })).into_response()
}

async fn test(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(id): Path<i64>,
) -> Result<Response, ServiceError> {
    let by = Actor::<Admin>::authorize(&user)?;
    Ok(outcome(state.services.mailboxes.test(&by, id).await?))
}

async fn poll(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(id): Path<i64>,
) -> Result<Response, ServiceError> {
    let by = Actor::<Admin>::authorize(&user)?;
    Ok(outcome(state.services.mailboxes.poll_one(&by, id).await?))
}

/// Dry run of retention: what would be deleted now.
async fn retention(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(id): Path<i64>,
) -> Result<Response, ServiceError> {
    let by = Actor::<Admin>::authorize(&user)?;
    Ok(
        match state.services.mailboxes.retention_preview(&by, id).await? {
            Ok(list) => Json(serde_json::json!({
                "ok": true,
                "would_delete": list.iter().map(|(d, s)| serde_json::json!({"date": d, "subject": s})).collect::<Vec<_>>(),
            }))
            .into_response(),
            Err(e) => Json(serde_json::json!({ "ok": false, "message": e })).into_response(),
        },
    )
}

async fn sign_in(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Response, ServiceError> {
    let by = Actor::<Admin>::authorize(&user)?;
    let url = state
        .services
        .mailboxes
        .start_sign_in(&by, id, &redirect_uri(&state, &headers))
        .await?;
    Ok(axum::response::Redirect::to(&url).into_response())
}

/// What the provider sends back.
#[derive(Debug, Deserialize)]
struct Callback {
    #[serde(default)]
    state: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

async fn signed_in(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Query(back): Query<Callback>,
) -> Result<Response, ServiceError> {
    let by = Actor::<Admin>::authorize(&user)?;
    if !back.error.is_empty() {
        return Err(ServiceError::Invalid(crate::ingest::oauth::clean(
            &format!(
                "the provider refused the sign-in: {} {}",
                back.error, back.error_description
            ),
        )));
    }
    let id = state
        .services
        .mailboxes
        .finish_sign_in(
            &by,
            &back.state,
            &back.code,
            &redirect_uri(&state, &headers),
        )
        .await?;
    Ok(axum::response::Redirect::to(&format!("/admin/mailboxes?signed_in={id}")).into_response())
}
