//! The server's implementation of `app::api::Backend`: what server functions call.

use app::api::{
    AuditRow, Backend, DayPoint, DomainDetails, DomainRow, DomainView, FailureView, MtaRow,
    Overview, PolicySeenRow, PolicyView, ReportRow, ReportView, ReporterRow, ResultTypeRow,
    TokenRow, UserRow,
};
use app::auth::{CurrentUser, Role};
use leptos::prelude::use_context;
use std::sync::Arc;

use tower_sessions::Session;

use super::security::{SESSION_LOGIN_AT, SESSION_USER};
use crate::auth::{create_user, Authenticator};
use crate::ingest::now_unix;
use crate::service::{Actor, Admin, Editor, ServiceError, Viewer};

use crate::domain::days::{day_of, format_day, parse_day};
use crate::store::Store;

/// Backend over the store.
pub struct WebBackend {
    store: Store,
    auth: Authenticator,
    checks: Option<Arc<crate::check::run::CheckService>>,
    alerts: crate::service::alerts::Alerts,
    accounts: crate::service::accounts::Accounts,
    reports: crate::service::reports::Reports,
    quarantine: crate::service::quarantine::Quarantine,
}

/// The request being served (leptos_axum puts its parts into context).
fn parts() -> Option<http::request::Parts> {
    use_context::<http::request::Parts>()
}

fn session() -> Result<Session, String> {
    parts()
        .and_then(|p| p.extensions.get::<Session>().cloned())
        .ok_or_else(|| "no session on this request".to_owned())
}

fn client_ip() -> Option<String> {
    parts()
        .and_then(|p| super::security::client_ip(&p.extensions))
        .map(|ip| ip.to_string())
}

/// One point per day of `from..=to`, zero where `days` (day, success, failure) has none.
fn day_series(from: i64, to: i64, days: impl Iterator<Item = (i64, i64, i64)>) -> Vec<DayPoint> {
    let mut series: Vec<DayPoint> = (from..=to)
        .map(|d| DayPoint {
            day: format_day(d),
            success: 0,
            failure: 0,
        })
        .collect();
    for (d, success, failure) in days {
        if let Some(p) = usize::try_from(d - from)
            .ok()
            .and_then(|i| series.get_mut(i))
        {
            p.success = success;
            p.failure = failure;
        }
    }
    series
}

fn utc(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// A conflict (duplicate name or e-mail) with its own message; anything else as [`internal`].
fn conflict_or_internal(what: &'static str) -> impl Fn(anyhow::Error) -> String {
    move |e| match crate::store::conflict_of(&e) {
        Some(c) => c.0.clone(),
        None if e.chain().any(|c| c.downcast_ref::<sqlx::Error>().is_some()) => internal(what)(e),
        // Policy messages from our own code (e-mail, password rules) are safe to show.
        None => format!("{e}"),
    }
}

/// The signed-in caller authorized for `R`.
fn actor<R: crate::service::Needs>() -> Result<Actor<R>, String> {
    let user = app::auth::current_user().ok_or("sign in first")?;
    as_actor(&user)
}

/// `user` authorized for `R`, with the client address for the audit log.
fn as_actor<R: crate::service::Needs>(user: &CurrentUser) -> Result<Actor<R>, String> {
    Ok(Actor::<R>::authorize(user)
        .map_err(fail)?
        .with_ip(client_ip()))
}

/// A use-case error as the server function's message.
fn fail(e: ServiceError) -> String {
    e.to_string()
}

fn session_failed(e: impl std::fmt::Display) -> String {
    tracing::error!(error = %e, "session store failed");
    "the session could not be saved; try again".to_owned()
}

fn internal(what: &'static str) -> impl Fn(anyhow::Error) -> String {
    move |e| {
        tracing::error!(error = %format!("{e:#}"), "{what} failed");
        format!("{what} failed; see the server log")
    }
}

impl WebBackend {
    /// Wraps a store.
    pub fn new(store: Store) -> Self {
        Self::with_settings(
            store,
            crate::ingest::Limits::default(),
            crate::store::DomainPolicy::AutoRegister,
        )
    }

    /// Wraps a store with the input limits and domain registration in effect.
    pub fn with_settings(
        store: Store,
        limits: crate::ingest::Limits,
        domain_policy: crate::store::DomainPolicy,
    ) -> Self {
        Self {
            auth: Authenticator::new(store.clone()),
            alerts: crate::service::alerts::Alerts::new(store.clone(), Arc::default()),
            accounts: crate::service::accounts::Accounts::new(store.clone()),
            reports: crate::service::reports::Reports::new(store.clone(), 64 * 1024 * 1024),
            quarantine: crate::service::quarantine::Quarantine::new(
                store.clone(),
                limits,
                domain_policy,
            ),
            store,
            checks: None,
        }
    }

    /// Wakes the alert loop through `wake` after changes to alerting (rules, silences,
    /// acknowledgements, channel tests), as the REST API does.
    pub fn with_alert_wake(mut self, wake: Arc<tokio::sync::Notify>) -> Self {
        self.alerts = crate::service::alerts::Alerts::new(self.store.clone(), wake);
        self
    }

    /// Enables health checks through `checks`.
    pub fn with_checks(mut self, checks: Option<Arc<crate::check::run::CheckService>>) -> Self {
        self.checks = checks;
        self
    }

    async fn record(&self, actor: &str, action: &str, detail: &str) {
        if let Err(e) = self
            .store
            .audit(actor, action, detail, client_ip().as_deref(), now_unix())
            .await
        {
            tracing::error!(error = %format!("{e:#}"), "audit log write failed");
        }
    }

    async fn sign_in(&self, user_id: i64) -> Result<(), String> {
        let session = session()?;
        // A new id at sign-in: a session id planted before sign-in is worthless.
        session.cycle_id().await.map_err(session_failed)?;
        session
            .insert(SESSION_USER, user_id)
            .await
            .map_err(session_failed)?;
        session
            .insert(SESSION_LOGIN_AT, now_unix())
            .await
            .map_err(session_failed)?;
        Ok(())
    }

    /// The overview for the `days` days ending on day `today` (inclusive).
    pub async fn overview_at(&self, today: i64, days: u32) -> anyhow::Result<Overview> {
        let days = days.clamp(1, 3660);
        self.overview_span(today - i64::from(days) + 1, today).await
    }

    /// The overview for the days `from..=today` (inclusive).
    pub async fn overview_span(&self, from: i64, today: i64) -> anyhow::Result<Overview> {
        let days = u32::try_from(today - from + 1).unwrap_or(1);
        let domains = self.store.domain_totals(from, today).await?;
        let checks = self.store.latest_check_summaries().await?;
        let mut firing: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
        for a in self.store.active_alerts().await? {
            if a.state == "firing" {
                *firing.entry(a.domain).or_default() += 1;
            }
        }
        let daily = self.store.daily_totals(from, today).await?;
        let series = day_series(
            from,
            today,
            daily.iter().map(|t| (t.day, t.success, t.failure)),
        );
        Ok(Overview {
            from: format_day(from),
            to: format_day(today),
            days,
            domains: domains
                .into_iter()
                .map(|d| {
                    let check = checks.iter().find(|c| c.0 == d.domain);
                    DomainRow {
                        spark: Vec::new(),
                        health: check.map(|c| c.1),
                        mode: check.and_then(|c| c.2.clone()),
                        alerts: firing.get(&d.domain).copied().unwrap_or(0),
                        name: d.domain,
                        success: d.success,
                        failure: d.failure,
                        reports: d.reports,
                    }
                })
                .collect(),
            series,
        })
    }

    /// Per-domain trends for `from..=today`: `(success, failure)` in up to 60 buckets of days.
    pub async fn trends_span(
        &self,
        from: i64,
        today: i64,
    ) -> anyhow::Result<Vec<(String, Vec<(i64, i64)>)>> {
        let days = (today - from + 1).max(1);
        let buckets = days.clamp(1, 60);
        let width = (days + buckets - 1) / buckets;
        let n = ((days + width - 1) / width) as usize;
        let mut spark: std::collections::BTreeMap<String, Vec<(i64, i64)>> =
            std::collections::BTreeMap::new();
        for (name, bucket, ok, fail) in self.store.domain_buckets(from, today, width).await? {
            let b = spark.entry(name).or_insert_with(|| vec![(0, 0); n]);
            if let Some(slot) = usize::try_from(bucket).ok().and_then(|i| b.get_mut(i)) {
                slot.0 += ok;
                slot.1 += fail;
            }
        }
        Ok(spark.into_iter().collect())
    }
}

#[async_trait::async_trait]
impl Backend for WebBackend {
    async fn overview(&self, days: u32) -> Result<Overview, String> {
        self.overview_at(day_of(chrono::Utc::now()), days)
            .await
            .map_err(|e| {
                tracing::error!(error = %format!("{e:#}"), "overview failed");
                "the database could not be read; see the server log".to_owned()
            })
    }
    async fn login(&self, email: String, password: String) -> Result<(), String> {
        let ip = client_ip().and_then(|s| s.parse().ok());
        match self
            .auth
            .login(&email, &password, ip)
            .await
            .map_err(internal("sign-in"))?
        {
            Ok(user) => {
                self.sign_in(user.id).await?;
                self.record(&user.email, "sign-in", "").await;
                Ok(())
            }
            Err(e) => {
                self.record(
                    crate::domain::report::truncate(&email, 254),
                    "sign-in.failed",
                    &e.to_string(),
                )
                .await;
                Err(e.to_string())
            }
        }
    }

    async fn logout(&self) -> Result<(), String> {
        if let Some(u) = app::auth::current_user() {
            self.record(&u.email, "sign-out", "").await;
        }
        session()?.flush().await.map_err(session_failed)
    }

    async fn change_password(
        &self,
        by: &CurrentUser,
        current: String,
        new: String,
    ) -> Result<(), String> {
        let by = as_actor::<Viewer>(by)?;
        self.accounts
            .change_own_password(&by, current, new)
            .await
            .map_err(fail)
    }

    async fn setup(&self, token: String, email: String, password: String) -> Result<(), String> {
        if self.store.user_count().await.map_err(internal("setup"))? > 0 {
            return Err("setup is done: an account exists already".into());
        }
        crate::auth::normalize_email(&email)?;
        crate::auth::check_password_policy(&password)?;
        let hash = crate::ingest::sha256_hex(token.trim().as_bytes());
        if !self
            .store
            .take_setup_token(&hash, now_unix())
            .await
            .map_err(internal("setup"))?
        {
            return Err("this setup link is invalid or expired; restart tlswatch for a new one, or use `tlswatch user add`".into());
        }
        let id = create_user(&self.store, &email, &password, Role::Admin)
            .await
            .map_err(conflict_or_internal("setup"))?;
        self.record(
            &email.trim().to_ascii_lowercase(),
            "setup",
            "first admin created",
        )
        .await;
        self.sign_in(id).await
    }

    async fn users(&self) -> Result<Vec<UserRow>, String> {
        let now = now_unix();
        Ok(self
            .accounts
            .users(&actor::<Admin>()?)
            .await
            .map_err(fail)?
            .into_iter()
            .map(|u| UserRow {
                id: u.id,
                email: u.email,
                role: u.role,
                disabled: u.disabled,
                locked_until: u.locked_until.filter(|t| *t > now).map(utc),
            })
            .collect())
    }

    async fn add_user(
        &self,
        by: &CurrentUser,
        email: String,
        password: String,
        role: Role,
    ) -> Result<(), String> {
        let by = as_actor::<Admin>(by)?;
        self.accounts
            .add_user(&by, &email, &password, role)
            .await
            .map(|_| ())
            .map_err(fail)
    }

    async fn update_user(
        &self,
        by: &CurrentUser,
        id: i64,
        role: Role,
        disabled: bool,
    ) -> Result<(), String> {
        let by = as_actor::<Admin>(by)?;
        self.accounts
            .update_user(&by, id, role, disabled)
            .await
            .map_err(fail)
    }

    async fn tokens(&self) -> Result<Vec<TokenRow>, String> {
        Ok(self
            .accounts
            .tokens(&actor::<Admin>()?)
            .await
            .map_err(fail)?
            .into_iter()
            .map(|t| TokenRow {
                id: t.id,
                name: t.name,
                role: t.role,
                created_by: t.created_by,
                created_at: utc(t.created_at),
                last_used_at: t.last_used_at.map(utc),
                revoked_at: t.revoked_at.map(utc),
            })
            .collect())
    }

    async fn create_token(
        &self,
        by: &CurrentUser,
        name: String,
        role: Role,
    ) -> Result<String, String> {
        let by = as_actor::<Admin>(by)?;
        self.accounts
            .create_token(&by, &name, role)
            .await
            .map_err(fail)
    }

    async fn revoke_token(&self, by: &CurrentUser, id: i64) -> Result<(), String> {
        let by = as_actor::<Admin>(by)?;
        self.accounts.revoke_token(&by, id).await.map_err(fail)
    }

    async fn audit(&self) -> Result<Vec<AuditRow>, String> {
        Ok(self
            .accounts
            .audit_log(&actor::<Admin>()?, 500)
            .await
            .map_err(fail)?
            .into_iter()
            .map(|a| AuditRow {
                at: utc(a.at),
                actor: a.actor,
                action: a.action,
                detail: a.detail,
                ip: a.ip,
            })
            .collect())
    }

    async fn domain(&self, domain: String, days: u32) -> Result<Option<DomainView>, String> {
        let Some(domain) = crate::domain::names::normalize_domain(&domain) else {
            return Ok(None);
        };
        let days = days.clamp(1, 3660);
        let to = day_of(chrono::Utc::now());
        let from = to - i64::from(days) + 1;
        let Some(s) = self
            .store
            .domain_stats(&domain, from, to)
            .await
            .map_err(internal("reading domain stats"))?
        else {
            return Ok(None);
        };
        let series = day_series(from, to, s.by_day.iter().copied());
        Ok(Some(DomainView {
            domain,
            from: format_day(from),
            to: format_day(to),
            success: s.success,
            failure: s.failure,
            series,
            by_mx: s.by_mx,
            by_result_type: s
                .by_result_type
                .into_iter()
                .map(|(result_type, failure)| ResultTypeRow {
                    result_type,
                    failure,
                })
                .collect(),
            reporters: s
                .by_reporter
                .into_iter()
                .map(
                    |(organization, success, failure, reports, last)| ReporterRow {
                        organization,
                        success,
                        failure,
                        reports,
                        last_day: format_day(last),
                        silent: last < to - 2,
                    },
                )
                .collect(),
        }))
    }

    async fn reports(
        &self,
        domain: String,
        reporter: String,
        failures_only: bool,
    ) -> Result<Vec<ReportRow>, String> {
        let filter = crate::store::ReportFilter {
            domain: crate::domain::names::normalize_domain(&domain),
            reporter: Some(reporter.trim().to_owned()).filter(|r| !r.is_empty()),
            from: None,
            to: None,
            failures_only,
            limit: 500,
        };
        Ok(self
            .reports
            .list(&actor::<Viewer>()?, &filter)
            .await
            .map_err(fail)?
            .into_iter()
            .map(|r| ReportRow {
                id: r.id,
                organization: r.org_name,
                domain: r.domains,
                start: utc(r.start_time),
                success: r.success,
                failure: r.failure,
                channel: r.channel,
                warnings: r.warnings,
            })
            .collect())
    }

    async fn report(&self, id: i64) -> Result<Option<ReportView>, String> {
        let stored = match self.reports.get(&actor::<Viewer>()?, id).await {
            Ok(r) => r,
            Err(ServiceError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(fail(e)),
        };
        let (json, warnings) = (stored.json, stored.warnings);
        let r = crate::domain::parse_report(&json, &Default::default())
            .map_err(|e| format!("stored report no longer parses: {e}"))?;
        let counted = crate::domain::counting::counted_policies(&r);
        Ok(Some(ReportView {
            id,
            organization: r.organization_name,
            report_id: r.report_id,
            contact_info: r.contact_info,
            start: r.start.to_rfc3339(),
            end: r.end.to_rfc3339(),
            warnings,
            policies: r
                .policies
                .into_iter()
                .zip(counted)
                .map(|(p, counted)| PolicyView {
                    policy_type: p.policy_type,
                    policy_domain: p.policy_domain,
                    policy_strings: p.policy_strings,
                    mx_hosts: p.mx_hosts,
                    success: p.success,
                    failure: p.failure,
                    counted,
                    failures: p
                        .failures
                        .into_iter()
                        .map(|f| FailureView {
                            result_type: f.result_type,
                            sending_mta_ip: f.sending_mta_ip,
                            receiving_mx_hostname: f.receiving_mx_hostname,
                            receiving_mx_helo: f.receiving_mx_helo,
                            receiving_ip: f.receiving_ip,
                            failed_session_count: f.failed_session_count,
                            additional_information: f.additional_information,
                            failure_reason_code: f.failure_reason_code,
                        })
                        .collect(),
                })
                .collect(),
        }))
    }

    async fn quarantine(&self) -> Result<Vec<app::api::RejectedRow>, String> {
        Ok(self
            .quarantine
            .list(&actor::<Admin>()?, 500)
            .await
            .map_err(fail)?
            .into_iter()
            .map(|r| app::api::RejectedRow {
                id: r.id,
                received_at: utc(r.received_at),
                channel: r.channel,
                source: r.source_name,
                reason: r.reason,
                size: r.raw_size,
            })
            .collect())
    }

    async fn reprocess(&self, by: &CurrentUser, id: i64) -> Result<String, String> {
        let by = as_actor::<Admin>(by)?;
        let o = self.quarantine.reprocess(&by, id).await.map_err(fail)?;
        Ok(match o.status {
            crate::ingest::Status::Imported => format!("imported {} report(s)", o.reports),
            crate::ingest::Status::Duplicate => "already imported".to_owned(),
            crate::ingest::Status::Rejected => {
                format!("still rejected: {}", o.reason.unwrap_or_default())
            }
        })
    }

    async fn trends(
        &self,
        days: u32,
        from: Option<String>,
        to: Option<String>,
    ) -> Result<Vec<(String, Vec<(i64, i64)>)>, String> {
        let today = day_of(chrono::Utc::now());
        let (f, t) = match (
            from.as_deref().and_then(parse_day),
            to.as_deref().and_then(parse_day),
        ) {
            (Some(f), Some(t)) if f <= t && t - f <= 3660 => (f, t),
            (None, None) if from.is_none() && to.is_none() => {
                (today - i64::from(days.clamp(1, 3660)) + 1, today)
            }
            _ => {
                return Err(
                    "from and to must be dates written YYYY-MM-DD, at most 10 years apart".into(),
                )
            }
        };
        self.trends_span(f, t)
            .await
            .map_err(internal("reading trends"))
    }

    async fn overview_between(&self, from: String, to: String) -> Result<Overview, String> {
        let (Some(f), Some(t)) = (parse_day(&from), parse_day(&to)) else {
            return Err("from and to must be dates written YYYY-MM-DD".into());
        };
        if f > t {
            return Err("from must not be after to".into());
        }
        if t - f > super::api::MAX_RANGE_DAYS {
            return Err(format!(
                "the range is {} days; at most {} days (about 10 years) may be shown at once",
                t - f + 1,
                super::api::MAX_RANGE_DAYS
            ));
        }
        self.overview_span(f, t)
            .await
            .map_err(internal("reading the overview"))
    }

    async fn domain_details(
        &self,
        domain: String,
        days: u32,
    ) -> Result<Option<DomainDetails>, String> {
        let Some(domain) = crate::domain::names::normalize_domain(&domain) else {
            return Ok(None);
        };
        let days = days.clamp(1, 3660);
        let to = day_of(chrono::Utc::now());
        let from = to - i64::from(days) + 1;
        let top = self
            .store
            .top_sending_mtas(&domain, from, to, 15)
            .await
            .map_err(internal("reading sending MTAs"))?;
        let policies = self
            .store
            .policies_seen(&domain, from, to)
            .await
            .map_err(internal("reading policies seen"))?;
        Ok(Some(DomainDetails {
            top_mtas: top
                .into_iter()
                .map(|(ip, failure, reporters)| MtaRow {
                    ip,
                    failure,
                    reporters,
                })
                .collect(),
            policies: policies
                .into_iter()
                .map(|p| PolicySeenRow {
                    policy_type: p.policy_type,
                    mode: p.mode,
                    mx: p.mx.join(", "),
                    first_day: format_day(p.first_day),
                    last_day: format_day(p.last_day),
                    reports: p.reports,
                    reporters: p.reporters,
                })
                .collect(),
        }))
    }

    async fn alerts_view(&self, with_channels: bool) -> Result<app::alerting::AlertsView, String> {
        use app::alerting::{AlertView, AlertsView, ChannelView, RuleView, SilenceView};
        let now = now_unix();
        let alerts = self
            .store
            .alerts(300)
            .await
            .map_err(internal("reading alerts"))?;
        let silences = self
            .store
            .silences(now)
            .await
            .map_err(internal("reading silences"))?;
        let rules = self
            .store
            .alert_rules()
            .await
            .map_err(internal("reading rules"))?;
        let channels = if with_channels {
            let notifications = self
                .store
                .notifications(200)
                .await
                .map_err(internal("reading notifications"))?;
            self.store
                .channels()
                .await
                .map_err(internal("reading channels"))?
                .iter()
                .map(|c| {
                    let shown = super::alerts::redact_channel(c);
                    ChannelView {
                        id: c.id,
                        name: c.name.clone(),
                        kind: c.kind.clone(),
                        config: shown["config"].to_string(),
                        domains: if c.domains.is_empty() {
                            "all".into()
                        } else {
                            c.domains.join(", ")
                        },
                        recent: notifications
                            .iter()
                            .filter(|n| n.channel_id == c.id)
                            .take(5)
                            .map(|n| {
                                (
                                    utc(n.created_at),
                                    n.kind.clone(),
                                    n.status.clone(),
                                    n.last_error.clone().unwrap_or_default(),
                                )
                            })
                            .collect(),
                    }
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok(AlertsView {
            alerts: alerts
                .iter()
                .map(|a| AlertView {
                    id: a.id,
                    state: a.state.clone(),
                    labels: a
                        .labels
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                    domain: a.domain.clone(),
                    reason: a.reason.clone(),
                    value: a.value,
                    baseline: a.baseline,
                    threshold: a.threshold,
                    started: utc(a.started_at),
                    resolved: a.resolved_at.map(utc),
                    acknowledged_by: a.acknowledged_by.clone(),
                    silenced: silences.iter().any(|s| s.matches(&a.labels, now)),
                })
                .collect(),
            silences: silences
                .iter()
                .map(|s| SilenceView {
                    id: s.id,
                    matchers: s
                        .matchers
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(" "),
                    ends: utc(s.ends_at),
                    active: s.starts_at <= now && now < s.ends_at,
                    author: s.author.clone(),
                    comment: s.comment.clone(),
                })
                .collect(),
            rules: rules
                .into_iter()
                .map(|r| RuleView {
                    id: r.id,
                    name: r.name,
                    kind: r.kind,
                    domain: r.domain,
                    params: r.params.to_string(),
                    enabled: r.enabled,
                })
                .collect(),
            channels,
        })
    }

    async fn ack_alert(&self, by: &CurrentUser, id: i64) -> Result<(), String> {
        let by = as_actor::<Editor>(by)?;
        self.alerts.acknowledge(&by, id).await.map_err(fail)
    }

    async fn silence_alert(
        &self,
        by: &CurrentUser,
        id: i64,
        minutes: i64,
        comment: String,
    ) -> Result<(), String> {
        let by = as_actor::<Editor>(by)?;
        self.alerts
            .silence_alert(&by, id, minutes, comment)
            .await
            .map(|_| ())
            .map_err(fail)
    }

    async fn end_silence(&self, by: &CurrentUser, id: i64) -> Result<(), String> {
        let by = as_actor::<Editor>(by)?;
        self.alerts.end_silence(&by, id).await.map_err(fail)
    }

    async fn save_rule(
        &self,
        by: &CurrentUser,
        id: i64,
        enabled: bool,
        params: String,
    ) -> Result<(), String> {
        let by = as_actor::<Editor>(by)?;
        let params = match serde_json::from_str::<serde_json::Value>(&params) {
            Ok(serde_json::Value::Object(m)) => m,
            Ok(_) => return Err("parameters must be a JSON object".into()),
            Err(e) => return Err(format!("parameters are not JSON: {e}")),
        };
        // The UI edits parameters and the switch; the rule keeps its domain.
        let domain = self
            .alerts
            .rules(&as_actor(by.user())?)
            .await
            .map_err(fail)?
            .into_iter()
            .find(|r| r.id == id)
            .ok_or("no such rule")?
            .domain;
        self.alerts
            .update_rule(
                &by,
                id,
                crate::service::alerts::RuleUpdate {
                    params,
                    domain,
                    enabled,
                },
            )
            .await
            .map_err(fail)
    }

    async fn add_channel(
        &self,
        by: &CurrentUser,
        name: String,
        kind: String,
        config: String,
        domains: String,
    ) -> Result<(), String> {
        let by = as_actor::<Admin>(by)?;
        let config: serde_json::Value =
            serde_json::from_str(&config).map_err(|e| format!("settings are not JSON: {e}"))?;
        let domains: Vec<String> = domains
            .split(',')
            .map(|d| d.trim().to_ascii_lowercase())
            .filter(|d| !d.is_empty())
            .collect();
        let row = crate::store::alerts::ChannelRow {
            id: 0,
            name,
            kind,
            config,
            domains,
            enabled: true,
        };
        self.alerts
            .add_channel(&by, row)
            .await
            .map(|_| ())
            .map_err(fail)
    }

    async fn test_channel(&self, by: &CurrentUser, id: i64) -> Result<(), String> {
        let by = as_actor::<Admin>(by)?;
        self.alerts
            .test_channel(&by, id)
            .await
            .map(|_| ())
            .map_err(fail)
    }

    async fn delete_channel(&self, by: &CurrentUser, id: i64) -> Result<(), String> {
        let by = as_actor::<Admin>(by)?;
        self.alerts.delete_channel(&by, id).await.map_err(fail)
    }

    async fn health(&self, domain: String) -> Result<Option<app::health::HealthView>, String> {
        let Some(checks) = &self.checks else {
            return Err("health checks are not enabled on this server".into());
        };
        checks
            .health(&domain)
            .await
            .map_err(internal("reading health checks"))
    }

    async fn run_check(
        &self,
        by: &CurrentUser,
        domain: String,
    ) -> Result<Option<app::health::HealthView>, String> {
        let Some(checks) = &self.checks else {
            return Err("health checks are not enabled on this server".into());
        };
        let Some(name) = crate::domain::names::normalize_domain(&domain) else {
            return Ok(None);
        };
        if !self
            .store
            .domain_names()
            .await
            .map_err(internal("listing domains"))?
            .contains(&name)
        {
            return Ok(None);
        }
        let (id, outcome) = checks
            .run(&name, "manual")
            .await
            .map_err(internal("the check"))?;
        self.record(
            &by.email,
            "check.run",
            &format!("{name} run {id}: {}", outcome.worst().as_str()),
        )
        .await;
        checks
            .health(&name)
            .await
            .map_err(internal("reading health checks"))
    }
}
