//! The server's implementation of `app::api::Backend`, what server functions call: each
//! method finds the caller, calls one use case, and maps the answer to the view.

use app::api::{
    AuditRow, Backend, DomainDetails, DomainView, FailureView, Overview, PolicyView, ReportRow,
    ReportView, TokenRow, UserRow,
};
use app::auth::{CurrentUser, Role};
use leptos::prelude::use_context;

use tower_sessions::Session;

use crate::ingest::now_unix;
use crate::service::views::{day_range, last_days, utc};
use crate::service::{Actor, Admin, Editor, InstanceAdmin, ServiceError, Services, Viewer};

/// Backend over the use cases.
pub struct WebBackend {
    services: Services,
    sign_in: app::api::SignInOptions,
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

fn client_ip() -> Option<std::net::IpAddr> {
    parts().and_then(|p| super::security::client_ip(&p.extensions))
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
        .with_ip(client_ip().map(|ip| ip.to_string())))
}

/// A use-case error as the server function's message.
fn fail(e: ServiceError) -> String {
    e.to_string()
}

/// A rule's parameters as the forms send them: a JSON object.
fn params_object(text: &str) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        Ok(_) => Err("parameters must be a JSON object".into()),
        Err(e) => Err(format!("parameters are not JSON: {e}")),
    }
}

/// `Some` of a found thing, `None` for [`ServiceError::NotFound`] (the page says "not found").
fn found<T>(r: Result<T, ServiceError>) -> Result<Option<T>, String> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(ServiceError::NotFound(_)) => Ok(None),
        Err(e) => Err(fail(e)),
    }
}

fn session_failed(e: impl std::fmt::Display) -> String {
    tracing::error!(error = %e, "session store failed");
    "the session could not be saved; try again".to_owned()
}

impl WebBackend {
    /// Server functions over `services`.
    pub fn new(services: Services, sso_button: Option<String>) -> Self {
        let sign_in = app::api::SignInOptions {
            sso: sso_button,
            passwords: services.accounts.local_passwords(),
        };
        Self { services, sign_in }
    }

    async fn sign_in(&self, user_id: i64) -> Result<(), String> {
        super::security::start_session(&session()?, user_id)
            .await
            .map_err(session_failed)
    }

    async fn overview_of(&self, (from, to): (i64, i64)) -> Result<Overview, String> {
        self.services
            .stats
            .overview(&actor::<Viewer>()?, from, to)
            .await
            .map_err(fail)
    }
}

#[async_trait::async_trait]
impl Backend for WebBackend {
    async fn overview(&self, days: u32) -> Result<Overview, String> {
        self.overview_of(last_days(days)).await
    }

    fn sign_in_options(&self) -> app::api::SignInOptions {
        self.sign_in.clone()
    }

    async fn login(&self, email: String, password: String) -> Result<(), String> {
        let user = self
            .services
            .accounts
            .sign_in(&email, &password, client_ip())
            .await
            .map_err(fail)?;
        self.sign_in(user.id).await
    }

    async fn logout(&self) -> Result<(), String> {
        if let Ok(by) = actor::<Viewer>() {
            self.services.accounts.sign_out(&by).await;
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
        self.services
            .accounts
            .change_own_password(&by, current, new)
            .await
            .map_err(fail)
    }

    async fn setup(&self, token: String, email: String, password: String) -> Result<(), String> {
        let ip = client_ip().map(|ip| ip.to_string());
        let user = self
            .services
            .accounts
            .first_admin(&token, &email, &password, ip.as_deref())
            .await
            .map_err(fail)?;
        self.sign_in(user.id).await
    }

    async fn users(&self) -> Result<Vec<UserRow>, String> {
        let now = now_unix();
        Ok(self
            .services
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
        self.services
            .accounts
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
        self.services
            .accounts
            .update_user(&by, id, role, disabled)
            .await
            .map_err(fail)
    }

    async fn tokens(&self) -> Result<Vec<TokenRow>, String> {
        Ok(self
            .services
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
        self.services
            .accounts
            .create_token(&by, &name, role)
            .await
            .map_err(fail)
    }

    async fn revoke_token(&self, by: &CurrentUser, id: i64) -> Result<(), String> {
        let by = as_actor::<Admin>(by)?;
        self.services
            .accounts
            .revoke_token(&by, id)
            .await
            .map_err(fail)
    }

    async fn audit(&self) -> Result<Vec<AuditRow>, String> {
        Ok(self
            .services
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
        let (from, to) = last_days(days);
        self.services
            .stats
            .domain(&actor::<Viewer>()?, &domain, from, to)
            .await
            .map_err(fail)
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
            org: None,
        };
        Ok(self
            .services
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
        let stored = match self.services.reports.get(&actor::<Viewer>()?, id).await {
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
            .services
            .quarantine
            .list(&actor::<InstanceAdmin>()?, 500)
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
        let by = as_actor::<InstanceAdmin>(by)?;
        let o = self
            .services
            .quarantine
            .reprocess(&by, id)
            .await
            .map_err(fail)?;
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
        let (from, to) = if from.is_none() && to.is_none() {
            last_days(days)
        } else {
            day_range(from.as_deref(), to.as_deref(), days).map_err(fail)?
        };
        // The current day is still being reported: a trend ending there would fall at its
        // end. Trends cover the complete days of the same length instead.
        let (from, to) = if to >= crate::service::views::today() && from < to {
            (from - 1, to - 1)
        } else {
            (from, to)
        };
        self.services
            .stats
            .trends(&actor::<Viewer>()?, from, to)
            .await
            .map_err(fail)
    }

    async fn overview_between(&self, from: String, to: String) -> Result<Overview, String> {
        self.overview_of(day_range(Some(&from), Some(&to), 30).map_err(fail)?)
            .await
    }

    async fn domain_details(
        &self,
        domain: String,
        days: u32,
    ) -> Result<Option<DomainDetails>, String> {
        let (from, to) = last_days(days);
        self.services
            .stats
            .domain_details(&actor::<Viewer>()?, &domain, from, to)
            .await
            .map_err(fail)
    }

    async fn alerts_view(&self, with_channels: bool) -> Result<app::alerting::AlertsView, String> {
        self.services
            .alerts
            .view(&actor::<Viewer>()?, with_channels)
            .await
            .map_err(fail)
    }

    async fn ack_alert(&self, by: &CurrentUser, id: i64) -> Result<(), String> {
        let by = as_actor::<Editor>(by)?;
        self.services
            .alerts
            .acknowledge(&by, id)
            .await
            .map_err(fail)
    }

    async fn silence_alert(
        &self,
        by: &CurrentUser,
        id: i64,
        minutes: i64,
        comment: String,
    ) -> Result<(), String> {
        let by = as_actor::<Editor>(by)?;
        self.services
            .alerts
            .silence_alert(&by, id, minutes, comment)
            .await
            .map(|_| ())
            .map_err(fail)
    }

    async fn end_silence(&self, by: &CurrentUser, id: i64) -> Result<(), String> {
        let by = as_actor::<Editor>(by)?;
        self.services
            .alerts
            .end_silence(&by, id)
            .await
            .map_err(fail)
    }

    async fn save_rule(
        &self,
        by: &CurrentUser,
        id: i64,
        enabled: bool,
        params: String,
    ) -> Result<(), String> {
        let by = as_actor::<Editor>(by)?;
        let params = params_object(&params)?;
        // The UI edits parameters and the switch; the rule keeps its domain.
        self.services
            .alerts
            .update_rule_keeping_domain(&by, id, params, enabled)
            .await
            .map_err(fail)
    }

    async fn save_channel(
        &self,
        by: &CurrentUser,
        form: app::alerting::ChannelForm,
    ) -> Result<(), String> {
        let by = as_actor::<Admin>(by)?;
        if let Some((_, why)) = app::alerting::channel_problems(&form).into_iter().next() {
            return Err(why);
        }
        let row = crate::service::alerts::channel_of_form(&form);
        let done = if form.id == 0 {
            self.services.alerts.add_channel(&by, row).await.map(|_| ())
        } else {
            self.services.alerts.update_channel(&by, row).await
        };
        done.map_err(fail)
    }

    async fn mailboxes(&self) -> Result<Vec<app::mailboxes::MailboxView>, String> {
        let by = actor::<Admin>()?;
        self.services.mailboxes.view(&by).await.map_err(fail)
    }

    async fn save_mailbox(
        &self,
        by: &CurrentUser,
        f: app::mailboxes::MailboxForm,
    ) -> Result<(), String> {
        let by = as_actor::<Admin>(by)?;
        if let Some((_, why)) = app::mailboxes::mailbox_problems(&f).into_iter().next() {
            return Err(why);
        }
        let optional = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        let graph = f.kind == "graph";
        let m = crate::store::Mailbox {
            id: f.id,
            name: f.name.trim().to_owned(),
            host: f.host.trim().trim_end_matches('/').to_owned() + if graph { "/" } else { "" },
            port: if graph {
                443
            } else {
                f.port.trim().parse().unwrap_or(993)
            },
            tls_mode: if graph {
                "implicit".into()
            } else {
                f.tls.clone()
            },
            username: f.username.trim().to_owned(),
            password: f.password.clone(),
            folder: f.folder.trim().to_owned(),
            archive_folder: optional(&f.archive_folder),
            rejected_folder: optional(&f.rejected_folder),
            poll_seconds: f.poll_minutes.trim().parse::<i64>().unwrap_or(5) * 60,
            enabled: f.enabled,
            auto_register: f.auto_register,
            kind: if graph { "graph".into() } else { "imap".into() },
            auth: if f.auth.is_empty() {
                "password".into()
            } else {
                f.auth.clone()
            },
            oauth: crate::store::MailboxOAuth {
                tenant: f.tenant.trim().to_owned(),
                authority: f.authority.trim().to_owned(),
                token_url: f.token_url.trim().to_owned(),
                authorize_url: f.authorize_url.trim().to_owned(),
                client_id: f.client_id.trim().to_owned(),
                scope: f.scope.trim().to_owned(),
                sasl: f.sasl.clone(),
            },
            retention_days: f.retention_days.trim().parse().ok(),
            ..crate::store::Mailbox::default()
        };
        let done = if f.id == 0 {
            self.services.mailboxes.add(&by, m).await.map(|_| ())
        } else {
            self.services.mailboxes.update(&by, m).await
        };
        done.map_err(fail)
    }

    async fn remove_mailbox(&self, by: &CurrentUser, id: i64) -> Result<(), String> {
        let by = as_actor::<Admin>(by)?;
        self.services.mailboxes.delete(&by, id).await.map_err(fail)
    }

    async fn test_mailbox(&self, by: &CurrentUser, id: i64) -> Result<String, String> {
        let by = as_actor::<Admin>(by)?;
        self.services
            .mailboxes
            .test(&by, id)
            .await
            .map_err(fail)?
            .or_else(|e| Ok(format!("Failed: {e}")))
    }

    async fn mailbox_retention(&self, by: &CurrentUser, id: i64) -> Result<String, String> {
        let by = as_actor::<Admin>(by)?;
        let listed = self
            .services
            .mailboxes
            .retention_preview(&by, id)
            .await
            .map_err(fail)?;
        Ok(match listed {
            Err(e) => format!("Failed: {e}"),
            Ok(l) if l.is_empty() => "Nothing is old enough to be deleted.".to_owned(),
            Ok(l) => format!(
                "{} archived mail(s) would be deleted: {}",
                l.len(),
                l.iter()
                    .take(20)
                    .map(|(d, s)| format!("{d} {s}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        })
    }

    async fn poll_mailbox(&self, by: &CurrentUser, id: i64) -> Result<String, String> {
        let by = as_actor::<Admin>(by)?;
        self.services
            .mailboxes
            .poll_one(&by, id)
            .await
            .map_err(fail)?
            .or_else(|e| Ok(format!("Failed: {e}")))
    }

    async fn claims(&self, by: &CurrentUser) -> Result<Vec<app::api::ClaimView>, String> {
        let by = as_actor::<Viewer>(by)?;
        let claims = self.services.orgs.claims(&by).await.map_err(fail)?;
        let orgs = self.services.orgs.names().await.map_err(fail)?;
        Ok(claims.iter().map(|c| claim_view(c, &orgs)).collect())
    }

    async fn claim_domain(
        &self,
        by: &CurrentUser,
        domain: String,
    ) -> Result<app::api::ClaimView, String> {
        let by = as_actor::<Editor>(by)?;
        // An instance admin's own claim is vouched for; anyone else proves it.
        let vouch = by.sees_all();
        let claim = self
            .services
            .orgs
            .claim(&by, &domain, None, vouch)
            .await
            .map_err(fail)?;
        let orgs = self.services.orgs.names().await.map_err(fail)?;
        Ok(claim_view(&claim, &orgs))
    }

    async fn verify_claim(
        &self,
        by: &CurrentUser,
        domain: String,
    ) -> Result<app::api::ClaimView, String> {
        let by = as_actor::<Editor>(by)?;
        let claim = self
            .services
            .orgs
            .verify(&by, &domain)
            .await
            .map_err(fail)?;
        let orgs = self.services.orgs.names().await.map_err(fail)?;
        Ok(claim_view(&claim, &orgs))
    }

    async fn preview_channel(&self, kind: String) -> Result<String, String> {
        actor::<Admin>()?;
        if !["webhook", "slack", "teams", "email"].contains(&kind.as_str()) {
            return Err("kind must be email, slack, teams or webhook".into());
        }
        Ok(crate::alerts::channels::rendered(
            &kind,
            &crate::alerts::channels::sample_payload(None),
        ))
    }

    async fn add_rule(
        &self,
        by: &CurrentUser,
        name: String,
        kind: String,
        domain: String,
        params: String,
    ) -> Result<(), String> {
        let by = as_actor::<Editor>(by)?;
        let params = params_object(&params)?;
        self.services
            .alerts
            .add_rule(&by, &name, &kind, Some(domain.as_str()), &params)
            .await
            .map(|_| ())
            .map_err(fail)
    }

    async fn test_channel(&self, by: &CurrentUser, id: i64) -> Result<String, String> {
        let by = as_actor::<Admin>(by)?;
        let (status, error) = self
            .services
            .alerts
            .test_channel_and_wait(&by, id, std::time::Duration::from_secs(15))
            .await
            .map_err(fail)?;
        Ok(match (status.as_str(), error) {
            ("sent", _) => "Delivered.".to_owned(),
            (_, Some(e)) => format!("Not delivered: {e}"),
            _ => "Queued; not delivered yet (the alert loop retries).".to_owned(),
        })
    }

    async fn delete_channel(&self, by: &CurrentUser, id: i64) -> Result<(), String> {
        let by = as_actor::<Admin>(by)?;
        self.services
            .alerts
            .delete_channel(&by, id)
            .await
            .map_err(fail)
    }

    async fn health(&self, domain: String) -> Result<Option<app::health::HealthView>, String> {
        let by = actor::<Viewer>()?;
        if !self.services.domains.checks_enabled() {
            return Err("health checks are not enabled on this server".into());
        }
        found(self.services.domains.health(&by, &domain).await)
    }

    async fn run_check(
        &self,
        by: &CurrentUser,
        domain: String,
    ) -> Result<Option<app::health::HealthView>, String> {
        let by = as_actor::<Editor>(by)?;
        if !self.services.domains.checks_enabled() {
            return Err("health checks are not enabled on this server".into());
        }
        match self
            .services
            .domains
            .run_check(&by, &domain, "manual")
            .await
        {
            Ok(_) => {}
            Err(ServiceError::NotFound(_) | ServiceError::Invalid(_)) => return Ok(None),
            Err(e) => return Err(fail(e)),
        }
        found(
            self.services
                .domains
                .health(&as_actor(by.user())?, &domain)
                .await,
        )
    }

    async fn policy(&self, domain: String) -> Result<Option<app::hosting::PolicyView>, String> {
        let by = actor::<Viewer>()?;
        found(self.services.policies.view(&by, &domain).await)
    }

    async fn publish_policy(
        &self,
        by: &CurrentUser,
        domain: String,
        change: app::hosting::PolicyChange,
    ) -> Result<app::hosting::Published, String> {
        let by = as_actor::<Editor>(by)?;
        self.services
            .policies
            .change(&by, &domain, &change)
            .await
            .map_err(fail)
    }

    async fn rollback_policy(
        &self,
        by: &CurrentUser,
        domain: String,
        version: i64,
        override_reason: Option<String>,
    ) -> Result<app::hosting::Published, String> {
        let by = as_actor::<Editor>(by)?;
        self.services
            .policies
            .rollback(&by, &domain, version, override_reason.as_deref())
            .await
            .map_err(fail)
    }

    async fn stop_policy(
        &self,
        by: &CurrentUser,
        domain: String,
    ) -> Result<app::hosting::Published, String> {
        let by = as_actor::<Editor>(by)?;
        self.services
            .policies
            .stop(&by, &domain)
            .await
            .map_err(fail)
    }
}

/// A claim as the domains page shows it.
fn claim_view(c: &crate::store::Claim, orgs: &[(i64, String)]) -> app::api::ClaimView {
    let (record_name, record_value) = crate::service::orgs::challenge_record(c);
    app::api::ClaimView {
        domain: c.domain.clone(),
        org: orgs
            .iter()
            .find(|(id, _)| *id == c.org_id)
            .map(|(_, n)| n.clone())
            .unwrap_or_default(),
        verified: c.verified_at.is_some(),
        vouched_by: c.vouched_by.clone(),
        record_name,
        record_value,
        last_error: c.last_error.clone(),
        checked: c.checked_at.map(utc),
    }
}
