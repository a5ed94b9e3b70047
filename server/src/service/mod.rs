//! The use-case layer between the adapters (REST handlers, server functions, CLI) and the
//! store. Every operation takes an [`Actor`] of the role it needs — a value only
//! [`Actor::authorize`] makes, after checking the caller's role, so an operation cannot be
//! called without that check — and answers a [`ServiceError`] that each adapter maps once.
//! Audit logging and waking the alert loop happen here, so every door behaves the same.

pub mod accounts;
pub mod alerts;
pub mod domains;
pub mod intake;
pub mod mailboxes;
pub mod policies;
pub mod quarantine;
pub mod reports;
pub mod stats;
pub mod views;

use std::marker::PhantomData;
use std::sync::Arc;

use app::auth::{CurrentUser, Role};

/// A role an operation needs, as a type.
pub trait Needs: Send + Sync + 'static {
    /// The least role that may act.
    const ROLE: Role;
}

/// Reads.
#[derive(Debug, Clone, Copy)]
pub struct Viewer;
/// Changes domains, rules, silences, acknowledgements, uploads.
#[derive(Debug, Clone, Copy)]
pub struct Editor;
/// Users, tokens, channels, mailboxes.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

impl Needs for Viewer {
    const ROLE: Role = Role::Viewer;
}
impl Needs for Editor {
    const ROLE: Role = Role::Editor;
}
impl Needs for Admin {
    const ROLE: Role = Role::Admin;
}

/// A caller checked to hold at least role `R`. Only [`Actor::authorize`] makes one.
#[derive(Debug, Clone)]
pub struct Actor<R: Needs> {
    user: CurrentUser,
    ip: Option<String>,
    _role: PhantomData<R>,
}

impl<R: Needs> Actor<R> {
    /// The one authorization point: `user` may act as `R`, or [`ServiceError::Forbidden`].
    pub fn authorize(user: &CurrentUser) -> Result<Self, ServiceError> {
        if user.can(R::ROLE) {
            Ok(Self {
                user: user.clone(),
                ip: None,
                _role: PhantomData,
            })
        } else {
            Err(ServiceError::Forbidden(format!(
                "this needs the {} role",
                R::ROLE.as_str()
            )))
        }
    }

    /// The operator at the command line (and the bench tool): whoever can run `tlswatch`
    /// with the database's file or credentials holds every role already. Audit entries name
    /// them `cli:LOGIN` (the login name from the environment, when there is one).
    pub fn operator() -> Self {
        let login = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "operator".into());
        Self {
            user: CurrentUser {
                id: 0,
                email: format!("cli:{}", crate::domain::report::truncate(&login, 64)),
                role: Role::Admin,
            },
            ip: None,
            _role: PhantomData,
        }
    }

    /// Who acts (e-mail, or `token:NAME`), for the audit log.
    pub fn name(&self) -> &str {
        &self.user.email
    }

    /// The caller.
    pub fn user(&self) -> &CurrentUser {
        &self.user
    }

    /// The same caller, with the client address the audit log records.
    pub fn with_ip(mut self, ip: Option<String>) -> Self {
        self.ip = ip;
        self
    }

    /// The client address, when the adapter knows it.
    pub fn ip(&self) -> Option<&str> {
        self.ip.as_deref()
    }
}

/// Why an operation did not happen. Adapters map it once: to an HTTP status with the message,
/// or to the server function's error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    /// The request is wrong (400), with the reason.
    #[error("{0}")]
    Invalid(String),
    /// No such thing (404).
    #[error("{0}")]
    NotFound(String),
    /// The caller's role is not enough (403).
    #[error("{0}")]
    Forbidden(String),
    /// It would duplicate something unique, or contradicts the current state (409).
    #[error("{0}")]
    Conflict(String),
    /// The database or another dependency failed (503); the detail is in the log only.
    #[error("the service is unavailable; try again (details are in the server log)")]
    Unavailable,
}

impl From<anyhow::Error> for ServiceError {
    fn from(e: anyhow::Error) -> Self {
        if let Some(c) = crate::store::conflict_of(&e) {
            return Self::Conflict(c.0.clone());
        }
        tracing::error!(error = %format!("{e:#}"), "operation failed");
        Self::Unavailable
    }
}

impl From<crate::domain::names::NotADomain> for ServiceError {
    fn from(e: crate::domain::names::NotADomain) -> Self {
        Self::Invalid(e.to_string())
    }
}

/// Shorthand for operation results.
pub type Outcome<T> = Result<T, ServiceError>;

/// Writes an audit entry for what `by` did; a failure to write it is logged, not returned
/// (the operation itself happened).
pub(crate) async fn audit<R: Needs>(
    store: &crate::store::Store,
    by: &Actor<R>,
    action: &str,
    detail: &str,
) {
    audit_as(store, by.name(), by.ip(), action, detail).await;
}

/// [`audit`] for a caller not (yet) authorized: a sign-in, the first-run setup.
pub(crate) async fn audit_as(
    store: &crate::store::Store,
    name: &str,
    ip: Option<&str>,
    action: &str,
    detail: &str,
) {
    if let Err(e) = store
        .audit(name, action, detail, ip, crate::ingest::now_unix())
        .await
    {
        tracing::error!(error = %format!("{e:#}"), "audit log write failed");
    }
}

/// `domain` normalized, when it is registered; [`ServiceError::NotFound`] otherwise.
pub(crate) async fn registered(
    store: &crate::store::Store,
    domain: &str,
) -> Outcome<crate::domain::names::DomainName> {
    let name = crate::domain::names::DomainName::parse(domain)?;
    if !store
        .domain_names()
        .await?
        .iter()
        .any(|d| d == name.as_str())
    {
        return Err(ServiceError::NotFound("domain not registered".into()));
    }
    Ok(name)
}

/// What the use cases need from the running server.
#[derive(Clone)]
pub struct Settings {
    /// Bounds on untrusted input.
    pub limits: crate::ingest::Limits,
    /// Whether authenticated channels register unknown domains.
    pub domain_policy: crate::store::DomainPolicy,
    /// Health checks (`None`: off).
    pub checks: Option<Arc<crate::check::run::CheckService>>,
    /// Wakes the alert loop after imports and alerting changes.
    pub alert_wake: Arc<tokio::sync::Notify>,
    /// Wakes the certificate manager after a hosted policy changes.
    pub certificate_wake: Arc<tokio::sync::Notify>,
    /// Tests and polls mailboxes on request (`None`: the server does not poll).
    pub imap: Option<crate::ingest::imap::ImapPoller>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            limits: crate::ingest::Limits::default(),
            domain_policy: crate::store::DomainPolicy::AutoRegister,
            checks: None,
            alert_wake: Arc::default(),
            certificate_wake: Arc::default(),
            imap: None,
        }
    }
}

/// Every use case, built once over one store and shared by every adapter.
#[derive(Clone)]
pub struct Services {
    /// Users, tokens, sign-in, the audit log.
    pub accounts: accounts::Accounts,
    /// Alerts, silences, rules, channels.
    pub alerts: alerts::Alerts,
    /// Reports as stored.
    pub reports: reports::Reports,
    /// Overviews, trends, per-domain numbers, metrics.
    pub stats: stats::Stats,
    /// Domains and their checks.
    pub domains: domains::Domains,
    /// Rejected inputs.
    pub quarantine: quarantine::Quarantine,
    /// Uploads and received reports.
    pub intake: intake::Intake,
    /// Mailboxes polled for report mail.
    pub mailboxes: mailboxes::Mailboxes,
    /// Hosted MTA-STS policies.
    pub policies: policies::Policies,
    store: crate::store::Store,
}

impl Services {
    /// The use cases over `store`.
    pub fn new(store: crate::store::Store, settings: Settings) -> Self {
        let Settings {
            limits,
            domain_policy,
            checks,
            alert_wake,
            certificate_wake,
            imap,
        } = settings;
        Self {
            accounts: accounts::Accounts::new(store.clone()),
            alerts: alerts::Alerts::new(store.clone(), alert_wake.clone()),
            reports: reports::Reports::new(store.clone(), limits.max_decompressed),
            stats: stats::Stats::new(store.clone()),
            domains: domains::Domains::new(store.clone(), checks.clone()),
            policies: policies::Policies::new(store.clone(), checks, certificate_wake),
            quarantine: quarantine::Quarantine::new(store.clone(), limits, domain_policy)
                .waking(alert_wake.clone()),
            intake: intake::Intake::new(store.clone(), limits, domain_policy, alert_wake),
            mailboxes: mailboxes::Mailboxes::new(store.clone()).with_poller(imap),
            store,
        }
    }

    /// Whether the database answers (for `/healthz`; no caller needed).
    pub async fn ready(&self) -> Outcome<()> {
        Ok(self.store.ping().await?)
    }
}
