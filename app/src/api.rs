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
    /// Trend for the range: `(success, failure)` per bucket of days (at most 60 buckets).
    #[serde(default)]
    pub spark: Vec<(i64, i64)>,
    /// Worst severity of the latest configuration check, if any ran.
    #[serde(default)]
    pub health: Option<crate::health::Severity>,
    /// MTA-STS mode seen by the latest check (`enforce`, `testing`, `none`).
    #[serde(default)]
    pub mode: Option<String>,
    /// Alerts firing for the domain now.
    #[serde(default)]
    pub alerts: i64,
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

/// A rejected input in the quarantine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RejectedRow {
    /// Id.
    pub id: i64,
    /// When (UTC).
    pub received_at: String,
    /// Channel.
    pub channel: String,
    /// Where it came from (text only).
    pub source: String,
    /// Why it was rejected.
    pub reason: String,
    /// Size in bytes.
    pub size: i64,
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
    /// How people sign in here.
    fn sign_in_options(&self) -> SignInOptions;
    /// Signs the current session out.
    async fn logout(&self) -> Result<(), String>;
    /// Changes the signed-in user's own password after checking the current one.
    async fn change_password(
        &self,
        by: &CurrentUser,
        current: String,
        new: String,
    ) -> Result<(), String>;
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
    /// The domain page for the last `days` days; `None` for an unknown domain.
    async fn domain(&self, domain: String, days: u32) -> Result<Option<DomainView>, String>;
    /// Reports matching a filter (empty strings: no filter), newest first.
    async fn reports(
        &self,
        domain: String,
        reporter: String,
        failures_only: bool,
    ) -> Result<Vec<ReportRow>, String>;
    /// One report with every field.
    async fn report(&self, id: i64) -> Result<Option<ReportView>, String>;
    /// Rejected inputs not yet re-processed.
    async fn quarantine(&self) -> Result<Vec<RejectedRow>, String>;
    /// Runs a rejected input through the importer again; the result in words.
    async fn reprocess(&self, by: &CurrentUser, id: i64) -> Result<String, String>;
    /// Per-domain trend buckets for the last `days` days, or `from..=to` when both are given.
    async fn trends(
        &self,
        days: u32,
        from: Option<String>,
        to: Option<String>,
    ) -> Result<Vec<(String, Vec<(i64, i64)>)>, String>;
    /// The overview for `from..=to` (UTC days, `YYYY-MM-DD`).
    async fn overview_between(&self, from: String, to: String) -> Result<Overview, String>;
    /// Top sending MTAs and the policies reporters saw, for the last `days` days.
    async fn domain_details(
        &self,
        domain: String,
        days: u32,
    ) -> Result<Option<DomainDetails>, String>;
    /// The alerts page (`with_channels` for admins).
    async fn alerts_view(&self, with_channels: bool)
        -> Result<crate::alerting::AlertsView, String>;
    /// Acknowledges an alert.
    async fn ack_alert(&self, by: &CurrentUser, id: i64) -> Result<(), String>;
    /// Silences the labels of an alert.
    async fn silence_alert(
        &self,
        by: &CurrentUser,
        id: i64,
        minutes: i64,
        comment: String,
    ) -> Result<(), String>;
    /// Ends a silence.
    async fn end_silence(&self, by: &CurrentUser, id: i64) -> Result<(), String>;
    /// Saves a rule.
    async fn save_rule(
        &self,
        by: &CurrentUser,
        id: i64,
        enabled: bool,
        params: String,
    ) -> Result<(), String>;
    /// Adds a channel.
    async fn save_channel(
        &self,
        by: &CurrentUser,
        form: crate::alerting::ChannelForm,
    ) -> Result<(), String>;
    /// What a channel of `kind` sends for a sample alert.
    async fn preview_channel(&self, kind: String) -> Result<String, String>;
    /// Adds a rule.
    async fn add_rule(
        &self,
        by: &CurrentUser,
        name: String,
        kind: String,
        domain: String,
        params: String,
    ) -> Result<(), String>;
    /// Sends a test message and waits a little for its delivery; the outcome in words.
    async fn test_channel(&self, by: &CurrentUser, id: i64) -> Result<String, String>;
    /// Deletes a channel.
    async fn delete_channel(&self, by: &CurrentUser, id: i64) -> Result<(), String>;
    /// Every mailbox, as the admin page shows it.
    async fn mailboxes(&self) -> Result<Vec<crate::mailboxes::MailboxView>, String>;
    /// Adds or changes a mailbox.
    async fn save_mailbox(
        &self,
        by: &CurrentUser,
        form: crate::mailboxes::MailboxForm,
    ) -> Result<(), String>;
    /// Deletes a mailbox.
    async fn remove_mailbox(&self, by: &CurrentUser, id: i64) -> Result<(), String>;
    /// Signs in to a mailbox without importing; the outcome in words.
    async fn test_mailbox(&self, by: &CurrentUser, id: i64) -> Result<String, String>;
    /// What retention would delete from a mailbox's archive; the list in words.
    async fn mailbox_retention(&self, by: &CurrentUser, id: i64) -> Result<String, String>;
    /// Polls a mailbox now; the outcome in words.
    async fn poll_mailbox(&self, by: &CurrentUser, id: i64) -> Result<String, String>;
    /// The claims of the caller's organization (an instance admin: all).
    async fn claims(&self, by: &CurrentUser) -> Result<Vec<ClaimView>, String>;
    /// Registers a domain and claims it for the caller's organization (proof is looked up
    /// at once).
    async fn claim_domain(&self, by: &CurrentUser, domain: String) -> Result<ClaimView, String>;
    /// Looks up the caller's organization's proof of a domain now.
    async fn verify_claim(&self, by: &CurrentUser, domain: String) -> Result<ClaimView, String>;
    /// Health checks, setup guide and readiness of a domain; `None` for an unknown domain.
    async fn health(&self, domain: String) -> Result<Option<crate::health::HealthView>, String>;
    /// Runs the checks of a domain now.
    async fn run_check(
        &self,
        by: &CurrentUser,
        domain: String,
    ) -> Result<Option<crate::health::HealthView>, String>;
    /// A domain's hosted policy; `None` for an unknown domain.
    async fn policy(&self, domain: String) -> Result<Option<crate::hosting::PolicyView>, String>;
    /// Publishes a new version of a domain's hosted policy.
    async fn publish_policy(
        &self,
        by: &CurrentUser,
        domain: String,
        change: crate::hosting::PolicyChange,
    ) -> Result<crate::hosting::Published, String>;
    /// Publishes an earlier version's content again.
    async fn rollback_policy(
        &self,
        by: &CurrentUser,
        domain: String,
        version: i64,
        override_reason: Option<String>,
    ) -> Result<crate::hosting::Published, String>;
    /// Stops hosting a domain's policy (phase-out).
    async fn stop_policy(
        &self,
        by: &CurrentUser,
        domain: String,
    ) -> Result<crate::hosting::Published, String>;
}

/// The handle server functions find in context.
#[cfg(feature = "ssr")]
pub type SharedBackend = std::sync::Arc<dyn Backend>;

#[cfg(feature = "ssr")]
pub(crate) fn backend() -> Result<SharedBackend, ServerFnError> {
    use_context::<SharedBackend>()
        .ok_or_else(|| ServerFnError::new("server misconfigured: no backend in context"))
}

/// Overview for the last `days` days (viewer).
#[server]
pub async fn get_overview(days: u32) -> Result<Overview, ServerFnError> {
    require(Role::Viewer)?;
    backend()?.overview(days).await.map_err(crate::auth::failed)
}

/// Overview for a custom range of UTC days (viewer).
#[server]
pub async fn get_overview_between(from: String, to: String) -> Result<Overview, ServerFnError> {
    require(Role::Viewer)?;
    backend()?
        .overview_between(from, to)
        .await
        .map_err(crate::auth::failed)
}

/// Per-domain trend sparklines for the overview, loaded after the numbers (viewer):
/// `(domain, [(success, failure)])` in up to 60 buckets of the range.
#[server]
pub async fn get_trends(
    days: u32,
    from: Option<String>,
    to: Option<String>,
) -> Result<Vec<(String, Vec<(i64, i64)>)>, ServerFnError> {
    require(Role::Viewer)?;
    backend()?
        .trends(days, from, to)
        .await
        .map_err(crate::auth::failed)
}

/// A sending MTA with failed sessions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MtaRow {
    /// Address as reported (text only).
    pub ip: String,
    /// Failed sessions.
    pub failure: i64,
    /// Reporting organizations that named it.
    pub reporters: i64,
}

/// A policy as reporters described it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicySeenRow {
    /// `sts`, `tlsa`, `no-policy-found`.
    pub policy_type: String,
    /// `mode:` of an sts policy.
    pub mode: Option<String>,
    /// mx patterns.
    pub mx: String,
    /// First day seen.
    pub first_day: String,
    /// Last day seen.
    pub last_day: String,
    /// Reports.
    pub reports: i64,
    /// Reporting organizations.
    pub reporters: i64,
}

/// The slower details of a domain page, loaded after the numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainDetails {
    /// Sending MTA addresses with the most failures.
    pub top_mtas: Vec<MtaRow>,
    /// Policies reporters saw, oldest first.
    pub policies: Vec<PolicySeenRow>,
}

/// Details of a domain page (viewer).
#[server]
pub async fn get_domain_details(
    domain: String,
    days: u32,
) -> Result<Option<DomainDetails>, ServerFnError> {
    require(Role::Viewer)?;
    backend()?
        .domain_details(domain, days)
        .await
        .map_err(crate::auth::failed)
}

/// The signed-in user, if any (public).
#[server(endpoint = "auth/whoami")]
pub async fn whoami() -> Result<Option<CurrentUser>, ServerFnError> {
    Ok(crate::auth::current_user())
}

/// How people sign in here: the single sign-on button's words when it is on, and whether
/// e-mail and password sign-in is allowed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInOptions {
    /// The words of the single sign-on button (`None`: single sign-on is off).
    pub sso: Option<String>,
    /// Whether e-mail and password sign-in is allowed.
    pub passwords: bool,
}

/// How people sign in here (public).
#[server(endpoint = "auth/options")]
pub async fn get_sign_in_options() -> Result<SignInOptions, ServerFnError> {
    Ok(backend()?.sign_in_options())
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
        .as_deref()
        .and_then(crate::auth::safe_next)
        .unwrap_or("/")
        .to_owned();
    leptos_axum::redirect(&next);
    Ok(())
}

/// Signs out.
#[server(endpoint = "auth/logout")]
pub async fn logout() -> Result<(), ServerFnError> {
    backend()?.logout().await.map_err(crate::auth::failed)?;
    leptos_axum::redirect("/login");
    Ok(())
}

/// Changes the signed-in user's password (any role; API tokens have none).
#[server(endpoint = "auth/password")]
pub async fn change_password(current: String, new: String) -> Result<(), ServerFnError> {
    let by = require(Role::Viewer)?;
    backend()?
        .change_password(&by, current, new)
        .await
        .map_err(crate::auth::failed)
}

/// Creates the first admin with the setup token printed at first start (public).
#[server(endpoint = "auth/setup")]
pub async fn setup(token: String, email: String, password: String) -> Result<(), ServerFnError> {
    backend()?
        .setup(token, email, password)
        .await
        .map_err(crate::auth::failed)?;
    leptos_axum::redirect("/");
    Ok(())
}

/// Every user (admin).
#[server]
pub async fn list_users() -> Result<Vec<UserRow>, ServerFnError> {
    require(Role::Admin)?;
    backend()?.users().await.map_err(crate::auth::failed)
}

/// Adds a user (admin).
#[server]
pub async fn add_user(email: String, password: String, role: Role) -> Result<(), ServerFnError> {
    let by = require(Role::Admin)?;
    backend()?
        .add_user(&by, email, password, role)
        .await
        .map_err(crate::auth::failed)
}

/// Changes a user's role and disabled flag (admin).
#[server]
pub async fn update_user(id: i64, role: Role, disabled: bool) -> Result<(), ServerFnError> {
    let by = require(Role::Admin)?;
    backend()?
        .update_user(&by, id, role, disabled)
        .await
        .map_err(crate::auth::failed)
}

/// Every API token (admin).
#[server]
pub async fn list_tokens() -> Result<Vec<TokenRow>, ServerFnError> {
    require(Role::Admin)?;
    backend()?.tokens().await.map_err(crate::auth::failed)
}

/// Creates an API token (admin); the result is the token, shown once.
#[server]
pub async fn create_token(name: String, role: Role) -> Result<String, ServerFnError> {
    let by = require(Role::Admin)?;
    backend()?
        .create_token(&by, name, role)
        .await
        .map_err(crate::auth::failed)
}

/// Revokes an API token (admin).
#[server]
pub async fn revoke_token(id: i64) -> Result<(), ServerFnError> {
    let by = require(Role::Admin)?;
    backend()?
        .revoke_token(&by, id)
        .await
        .map_err(crate::auth::failed)
}

/// The audit log (admin).
#[server]
pub async fn audit_log() -> Result<Vec<AuditRow>, ServerFnError> {
    require(Role::Admin)?;
    backend()?.audit().await.map_err(crate::auth::failed)
}

/// One result type's failures with what it means and what to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultTypeRow {
    /// The RFC 8460 result type (or the unknown text a sender used).
    pub result_type: String,
    /// Failed sessions.
    pub failure: i64,
}

/// One reporter of a domain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReporterRow {
    /// Organization name (from reports: text only).
    pub organization: String,
    /// Successful sessions.
    pub success: i64,
    /// Failed sessions.
    pub failure: i64,
    /// Reports.
    pub reports: i64,
    /// Day of its latest report in the range.
    pub last_day: String,
    /// It sent nothing in the last 3 days of the range.
    pub silent: bool,
}

/// The domain page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainView {
    /// Domain.
    pub domain: String,
    /// First day.
    pub from: String,
    /// Last day.
    pub to: String,
    /// Successful sessions.
    pub success: i64,
    /// Failed sessions.
    pub failure: i64,
    /// Every day of the range.
    pub series: Vec<DayPoint>,
    /// Failed sessions per receiving MX (`""`: not named by the report).
    pub by_mx: Vec<(String, i64)>,
    /// Failed sessions per result type.
    pub by_result_type: Vec<ResultTypeRow>,
    /// Reporters.
    pub reporters: Vec<ReporterRow>,
}

/// A report as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportRow {
    /// Id.
    pub id: i64,
    /// Reporter.
    pub organization: String,
    /// First policy domain.
    pub domain: String,
    /// Range start (UTC).
    pub start: String,
    /// Successful sessions.
    pub success: i64,
    /// Failed sessions.
    pub failure: i64,
    /// Channel.
    pub channel: String,
    /// Parse warnings.
    pub warnings: i64,
}

/// One failure detail, every RFC 8460 field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureView {
    /// `result-type`.
    pub result_type: String,
    /// `sending-mta-ip`.
    pub sending_mta_ip: Option<String>,
    /// `receiving-mx-hostname`.
    pub receiving_mx_hostname: Option<String>,
    /// `receiving-mx-helo`.
    pub receiving_mx_helo: Option<String>,
    /// `receiving-ip`.
    pub receiving_ip: Option<String>,
    /// `failed-session-count`.
    pub failed_session_count: u64,
    /// `additional-information`.
    pub additional_information: Option<String>,
    /// `failure-reason-code`.
    pub failure_reason_code: Option<String>,
}

/// One policy of a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyView {
    /// `policy-type`.
    pub policy_type: String,
    /// `policy-domain`.
    pub policy_domain: String,
    /// `policy-string`.
    pub policy_strings: Vec<String>,
    /// `mx-host`.
    pub mx_hosts: Vec<String>,
    /// Successful sessions.
    pub success: u64,
    /// Failed sessions.
    pub failure: u64,
    /// Whether the counting rule adds it to domain totals.
    pub counted: bool,
    /// `failure-details`.
    pub failures: Vec<FailureView>,
}

/// A report with every field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportView {
    /// Id.
    pub id: i64,
    /// `organization-name`.
    pub organization: String,
    /// `report-id`.
    pub report_id: String,
    /// `contact-info`.
    pub contact_info: Option<String>,
    /// Range (UTC).
    pub start: String,
    /// Range end (UTC).
    pub end: String,
    /// Parse warnings.
    pub warnings: Vec<String>,
    /// Policies.
    pub policies: Vec<PolicyView>,
}

/// Plain-language meaning and fix of a result type.
pub fn explain_result_type(rt: &str) -> (&'static str, &'static str) {
    match rt {
        "starttls-not-supported" => ("The MX did not offer STARTTLS.", "Enable STARTTLS on every MX listed in your policy."),
        "certificate-host-mismatch" => ("The MX certificate does not name the MX host.", "Put every MX host name in the certificate's subject alternative names."),
        "certificate-expired" => ("The MX certificate has expired.", "Renew the certificate and automate renewal."),
        "certificate-not-trusted" => ("The MX certificate does not chain to a trusted root.", "Serve the full chain from a public CA; no self-signed certificates."),
        "validation-failure" => ("Generic validation failure, often an MX missing from the MTA-STS policy.", "Check that every MX matches an mx: line of your policy; read the failure-reason-code."),
        "tlsa-invalid" => ("No TLSA record matched the certificate (DANE).", "Update the TLSA records before rolling certificates or keys."),
        "dnssec-invalid" => ("DNSSEC validation of the TLSA records failed.", "Fix the DNSSEC chain of the MX zone."),
        "dane-required" => ("The sender requires DANE but found no valid TLSA.", "Publish DNSSEC-signed TLSA records for each MX."),
        "sts-policy-fetch-error" => ("The MTA-STS policy could not be fetched.", "Serve https://mta-sts.<domain>/.well-known/mta-sts.txt with status 200, no redirect, a valid certificate."),
        "sts-policy-invalid" => ("The MTA-STS policy did not parse.", "Fix the policy syntax: version, mode, mx and max_age lines."),
        "sts-webpki-invalid" => ("The policy host's certificate was not valid.", "Give mta-sts.<domain> a valid public certificate for that exact name."),
        _ => ("A result type outside RFC 8460.", "Read the failure-reason-code and the sender's documentation."),
    }
}

/// The domain page (viewer).
#[server]
pub async fn get_domain(domain: String, days: u32) -> Result<Option<DomainView>, ServerFnError> {
    require(Role::Viewer)?;
    backend()?
        .domain(domain, days)
        .await
        .map_err(crate::auth::failed)
}

/// Reports (viewer).
#[server]
pub async fn get_reports(
    domain: String,
    reporter: String,
    failures_only: bool,
) -> Result<Vec<ReportRow>, ServerFnError> {
    require(Role::Viewer)?;
    backend()?
        .reports(domain, reporter, failures_only)
        .await
        .map_err(crate::auth::failed)
}

/// One report (viewer).
#[server]
pub async fn get_report(id: i64) -> Result<Option<ReportView>, ServerFnError> {
    require(Role::Viewer)?;
    backend()?.report(id).await.map_err(crate::auth::failed)
}

/// The quarantine (admin).
#[server]
pub async fn list_rejected() -> Result<Vec<RejectedRow>, ServerFnError> {
    require(Role::Admin)?;
    backend()?.quarantine().await.map_err(crate::auth::failed)
}

/// Re-processes a quarantined input (admin).
#[server]
pub async fn reprocess_rejected(id: i64) -> Result<String, ServerFnError> {
    let by = require(Role::Admin)?;
    backend()?
        .reprocess(&by, id)
        .await
        .map_err(crate::auth::failed)
}

/// An organization's claim of a domain, as the domains page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimView {
    /// The domain.
    pub domain: String,
    /// The organization claiming it.
    pub org: String,
    /// Whether the organization sees it.
    pub verified: bool,
    /// The instance admin who vouched for it (no DNS proof needed).
    pub vouched_by: Option<String>,
    /// The TXT record to publish: its name…
    pub record_name: String,
    /// …and its value.
    pub record_value: String,
    /// Why the last lookup did not prove it.
    pub last_error: Option<String>,
    /// When it was last looked up (UTC).
    pub checked: Option<String>,
}

/// The claims of the caller's organization (viewer).
#[server]
pub async fn get_claims() -> Result<Vec<ClaimView>, ServerFnError> {
    let by = require(Role::Viewer)?;
    backend()?.claims(&by).await.map_err(crate::auth::failed)
}

/// Registers a domain and claims it for the caller's organization (editor).
#[server]
pub async fn claim_domain(domain: String) -> Result<ClaimView, ServerFnError> {
    let by = require(Role::Editor)?;
    backend()?
        .claim_domain(&by, domain)
        .await
        .map_err(crate::auth::failed)
}

/// Looks up the proof of a claimed domain now (editor).
#[server]
pub async fn verify_claim(domain: String) -> Result<ClaimView, ServerFnError> {
    let by = require(Role::Editor)?;
    backend()?
        .verify_claim(&by, domain)
        .await
        .map_err(crate::auth::failed)
}
