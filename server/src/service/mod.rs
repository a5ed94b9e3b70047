//! The use-case layer between the adapters (REST handlers, server functions, CLI) and the
//! store. Every operation takes an [`Actor`] of the role it needs — a value only
//! [`Actor::authorize`] makes, after checking the caller's role, so an operation cannot be
//! called without that check — and answers a [`ServiceError`] that each adapter maps once.
//! Audit logging and waking the alert loop happen here, so every door behaves the same.
//!
//! The actor also carries the caller's organization: every operation scopes what it reads and
//! changes to it ([`visible`], [`registered`], [`Actor::org_filter`]), and another
//! organization's things answer [`ServiceError::NotFound`], never `Forbidden`, so their
//! existence does not leak. An instance admin sees every organization.

pub mod accounts;
pub mod alerts;
pub mod domains;
pub mod intake;
pub mod mailboxes;
pub mod orgs;
pub mod policies;
pub mod quarantine;
pub mod reports;
pub mod stats;
pub mod views;

use std::collections::BTreeSet;
use std::marker::PhantomData;
use std::sync::Arc;

use app::auth::{CurrentUser, Role};

/// A role an operation needs, as a type.
pub trait Needs: Send + Sync + 'static {
    /// The least role that may act.
    const ROLE: Role;
    /// Whether only an instance admin may act.
    const INSTANCE: bool = false;
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
/// Organizations, and vouching for a domain without its DNS proof.
#[derive(Debug, Clone, Copy)]
pub struct InstanceAdmin;

impl Needs for Viewer {
    const ROLE: Role = Role::Viewer;
}
impl Needs for Editor {
    const ROLE: Role = Role::Editor;
}
impl Needs for Admin {
    const ROLE: Role = Role::Admin;
}
impl Needs for InstanceAdmin {
    const ROLE: Role = Role::Admin;
    const INSTANCE: bool = true;
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
    /// An instance admin may do everything; what the actor then reaches is scoped to its
    /// organization by the operations.
    pub fn authorize(user: &CurrentUser) -> Result<Self, ServiceError> {
        if user.instance_admin || (!R::INSTANCE && user.can(R::ROLE)) {
            Ok(Self {
                user: user.clone(),
                ip: None,
                _role: PhantomData,
            })
        } else {
            Err(ServiceError::Forbidden(if R::INSTANCE {
                "this needs an instance admin".to_string()
            } else {
                format!("this needs the {} role", R::ROLE.as_str())
            }))
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
                org: crate::store::DEFAULT_ORG,
                instance_admin: true,
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

    /// The caller's organization: where what it creates belongs.
    pub fn org(&self) -> i64 {
        self.user.org
    }

    /// Whether the caller sees every organization (an instance admin).
    pub fn sees_all(&self) -> bool {
        self.user.instance_admin
    }

    /// The organization whose things the caller reaches: `None` for an instance admin (all).
    pub fn org_filter(&self) -> Option<i64> {
        (!self.sees_all()).then_some(self.user.org)
    }

    /// Whether the caller reaches a thing of organization `org`.
    pub fn reaches(&self, org: i64) -> bool {
        self.sees_all() || self.user.org == org
    }

    /// The same caller checked for another role (e.g. a read inside a change).
    pub fn as_viewer(&self) -> Actor<Viewer> {
        Actor {
            user: self.user.clone(),
            ip: self.ip.clone(),
            _role: PhantomData,
        }
    }
}

/// The domains a caller sees: every registered one (instance admin) or those its organization
/// has proven it owns.
#[derive(Debug, Clone)]
pub enum Visible {
    /// Every registered domain.
    All,
    /// Only these (normalized names).
    Only(BTreeSet<String>),
}

impl Visible {
    /// Whether `domain` (normalized) is seen.
    pub fn sees(&self, domain: &str) -> bool {
        match self {
            Visible::All => true,
            Visible::Only(set) => set.contains(domain),
        }
    }

    /// `items` without those about domains not seen.
    pub fn keep<T>(&self, items: Vec<T>, domain: impl Fn(&T) -> &str) -> Vec<T> {
        match self {
            Visible::All => items,
            Visible::Only(set) => items
                .into_iter()
                .filter(|i| set.contains(domain(i)))
                .collect(),
        }
    }
}

/// What `by` sees.
pub(crate) async fn visible<R: Needs>(
    store: &crate::store::Store,
    by: &Actor<R>,
) -> Outcome<Visible> {
    if by.sees_all() {
        return Ok(Visible::All);
    }
    let (names, registered) = store.org_domain_names(by.org()).await?;
    let seen: BTreeSet<String> = names.into_iter().collect();
    // An organization that sees every registered domain (the only one, usually) filters
    // nothing: the cheaper whole-instance queries answer the same.
    if seen.len() as i64 == registered {
        return Ok(Visible::All);
    }
    Ok(Visible::Only(seen))
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
    audit_as(store, by.name(), by.org(), by.ip(), action, detail).await;
}

/// [`audit`] for a caller not (yet) authorized: a sign-in, the first-run setup.
pub(crate) async fn audit_as(
    store: &crate::store::Store,
    name: &str,
    org: i64,
    ip: Option<&str>,
    action: &str,
    detail: &str,
) {
    if let Err(e) = store
        .audit(name, org, action, detail, ip, crate::ingest::now_unix())
        .await
    {
        tracing::error!(error = %format!("{e:#}"), "audit log write failed");
    }
}

/// `domain` normalized, when it is registered and `by` sees it; [`ServiceError::NotFound`]
/// otherwise (the same answer for another organization's domain as for an unknown one).
pub(crate) async fn registered<R: Needs>(
    store: &crate::store::Store,
    by: &Actor<R>,
    domain: &str,
) -> Outcome<crate::domain::names::DomainName> {
    let name = crate::domain::names::DomainName::parse(domain)?;
    let known = if by.sees_all() {
        store.domain_registered(name.as_str()).await?
    } else {
        store
            .claim(by.org(), name.as_str())
            .await?
            .is_some_and(|c| c.verified_at.is_some())
    };
    if !known {
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
    /// Whether e-mail and password sign-in is allowed.
    pub local_passwords: bool,
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
            local_passwords: true,
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
    /// Organizations and the proof of their domains.
    pub orgs: orgs::Orgs,
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
            local_passwords,
        } = settings;
        Self {
            accounts: accounts::Accounts::new(store.clone()).with_local_passwords(local_passwords),
            alerts: alerts::Alerts::new(store.clone(), alert_wake.clone()),
            reports: reports::Reports::new(store.clone(), limits.max_decompressed),
            stats: stats::Stats::new(store.clone()),
            domains: domains::Domains::new(store.clone(), checks.clone()),
            orgs: orgs::Orgs::new(store.clone(), checks.clone()),
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
