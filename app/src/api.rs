//! The data the UI shows, the server functions that fetch it, and the narrow interface
//! ([`Backend`]) through which those functions reach the server's logic.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use crate::auth::require;
use crate::auth::{CurrentUser, Role};

/// The ranges the range picker offers, in days.
pub const RANGES: [u32; 4] = [7, 30, 90, 365];

/// Range used when the URL names none.
pub const DEFAULT_RANGE: u32 = 30;

/// The overview page: every domain and the daily chart for a range of days.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Overview {
    /// First day of the range, `YYYY-MM-DD` (UTC).
    pub from: String,
    /// Last day of the range, inclusive.
    pub to: String,
    /// Length of the range in days.
    pub days: u32,
    /// Registered domains with their totals in the range.
    pub domains: Vec<DomainRow>,
    /// One point per day of the range, zero where no report counted.
    pub series: Vec<DayPoint>,
}

/// Totals of one domain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainRow {
    /// Domain name (from a report: render as text only).
    pub name: String,
    /// Successful sessions.
    pub success: i64,
    /// Failed sessions.
    pub failure: i64,
    /// Reports that counted.
    pub reports: i64,
}

impl DomainRow {
    /// Failure rate in percent, `None` without sessions.
    pub fn failure_rate(&self) -> Option<f64> {
        let total = self.success + self.failure;
        (total > 0).then(|| self.failure as f64 * 100.0 / total as f64)
    }
}

/// Sessions of one day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayPoint {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    /// Successful sessions.
    pub success: i64,
    /// Failed sessions.
    pub failure: i64,
}

/// A user as the admin page lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRow {
    /// Id.
    pub id: i64,
    /// E-mail.
    pub email: String,
    /// Role.
    pub role: Role,
    /// Disabled accounts cannot sign in.
    pub disabled: bool,
    /// Locked after failed sign-ins (until this UTC time).
    pub locked_until: Option<String>,
}

/// An API token as listed (never the secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenRow {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Role it grants.
    pub role: Role,
    /// Creator.
    pub created_by: String,
    /// Created (UTC).
    pub created_at: String,
    /// Last used (UTC).
    pub last_used_at: Option<String>,
    /// Revoked (UTC).
    pub revoked_at: Option<String>,
}

/// One audit log line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRow {
    /// When (UTC).
    pub at: String,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// Details.
    pub detail: String,
    /// From where.
    pub ip: Option<String>,
}

/// What the server provides to server functions, as Leptos context (`Arc<dyn Backend>`).
/// Errors are messages safe to show a user; the implementation logs the details. Role checks
/// happen in the server functions (and again here where an action needs them).
#[cfg(feature = "ssr")]
#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// The overview for the last `days` days up to today (UTC).
    async fn overview(&self, days: u32) -> Result<Overview, String>;
    /// Checks credentials and signs the current session in.
    async fn login(&self, email: String, password: String) -> Result<(), String>;
    /// Signs the current session out.
    async fn logout(&self) -> Result<(), String>;
    /// Creates the first admin with the one-time setup token and signs in.
    async fn setup(&self, token: String, email: String, password: String) -> Result<(), String>;
    /// Every user.
    async fn users(&self) -> Result<Vec<UserRow>, String>;
    /// Adds a user.
    async fn add_user(
        &self,
        by: &CurrentUser,
        email: String,
        password: String,
        role: Role,
    ) -> Result<(), String>;
    /// Changes a user's role or disabled flag.
    async fn update_user(
        &self,
        by: &CurrentUser,
        id: i64,
        role: Role,
        disabled: bool,
    ) -> Result<(), String>;
    /// Every API token.
    async fn tokens(&self) -> Result<Vec<TokenRow>, String>;
    /// Creates an API token and returns it (shown once).
    async fn create_token(
        &self,
        by: &CurrentUser,
        name: String,
        role: Role,
    ) -> Result<String, String>;
    /// Revokes an API token.
    async fn revoke_token(&self, by: &CurrentUser, id: i64) -> Result<(), String>;
    /// The newest audit entries.
    async fn audit(&self) -> Result<Vec<AuditRow>, String>;
}

/// The handle server functions find in context.
#[cfg(feature = "ssr")]
pub type SharedBackend = std::sync::Arc<dyn Backend>;

#[cfg(feature = "ssr")]
fn backend() -> Result<SharedBackend, ServerFnError> {
    use_context::<SharedBackend>()
        .ok_or_else(|| ServerFnError::new("server misconfigured: no backend in context"))
}

/// Overview for the last `days` days (viewer).
#[server]
pub async fn get_overview(days: u32) -> Result<Overview, ServerFnError> {
    require(Role::Viewer)?;
    backend()?.overview(days).await.map_err(ServerFnError::new)
}

/// The signed-in user, if any (public).
#[server(endpoint = "auth/whoami")]
pub async fn whoami() -> Result<Option<CurrentUser>, ServerFnError> {
    Ok(crate::auth::current_user())
}

/// Signs in (public) and goes to `next` (a local path).
#[server(endpoint = "auth/login")]
pub async fn login(
    email: String,
    password: String,
    next: Option<String>,
) -> Result<(), ServerFnError> {
    if let Err(e) = backend()?.login(email, password).await {
        if let Some(r) = use_context::<leptos_axum::ResponseOptions>() {
            r.set_status(http::StatusCode::UNAUTHORIZED);
        }
        return Err(ServerFnError::new(e));
    }
    let next = next
        .filter(|n| n.starts_with('/') && !n.starts_with("//"))
        .unwrap_or_else(|| "/".into());
    leptos_axum::redirect(&next);
    Ok(())
}

/// Signs out.
#[server(endpoint = "auth/logout")]
pub async fn logout() -> Result<(), ServerFnError> {
    backend()?.logout().await.map_err(ServerFnError::new)?;
    leptos_axum::redirect("/login");
    Ok(())
}

/// Creates the first admin with the setup token printed at first start (public).
#[server(endpoint = "auth/setup")]
pub async fn setup(token: String, email: String, password: String) -> Result<(), ServerFnError> {
    backend()?
        .setup(token, email, password)
        .await
        .map_err(ServerFnError::new)?;
    leptos_axum::redirect("/");
    Ok(())
}

/// Every user (admin).
#[server]
pub async fn list_users() -> Result<Vec<UserRow>, ServerFnError> {
    require(Role::Admin)?;
    backend()?.users().await.map_err(ServerFnError::new)
}

/// Adds a user (admin).
#[server]
pub async fn add_user(email: String, password: String, role: Role) -> Result<(), ServerFnError> {
    let by = require(Role::Admin)?;
    backend()?
        .add_user(&by, email, password, role)
        .await
        .map_err(ServerFnError::new)
}

/// Changes a user's role and disabled flag (admin).
#[server]
pub async fn update_user(id: i64, role: Role, disabled: bool) -> Result<(), ServerFnError> {
    let by = require(Role::Admin)?;
    backend()?
        .update_user(&by, id, role, disabled)
        .await
        .map_err(ServerFnError::new)
}

/// Every API token (admin).
#[server]
pub async fn list_tokens() -> Result<Vec<TokenRow>, ServerFnError> {
    require(Role::Admin)?;
    backend()?.tokens().await.map_err(ServerFnError::new)
}

/// Creates an API token (admin); the result is the token, shown once.
#[server]
pub async fn create_token(name: String, role: Role) -> Result<String, ServerFnError> {
    let by = require(Role::Admin)?;
    backend()?
        .create_token(&by, name, role)
        .await
        .map_err(ServerFnError::new)
}

/// Revokes an API token (admin).
#[server]
pub async fn revoke_token(id: i64) -> Result<(), ServerFnError> {
    let by = require(Role::Admin)?;
    backend()?
        .revoke_token(&by, id)
        .await
        .map_err(ServerFnError::new)
}

/// The audit log (admin).
#[server]
pub async fn audit_log() -> Result<Vec<AuditRow>, ServerFnError> {
    require(Role::Admin)?;
    backend()?.audit().await.map_err(ServerFnError::new)
}
