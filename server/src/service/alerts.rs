//! Alerting use cases: alerts and acknowledgements, silences, rules, channels.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::views::utc;
use super::{Actor, Admin, Editor, Outcome, ServiceError, Viewer};
use crate::ingest::now_unix;
use crate::store::alerts::{AlertRow, ChannelRow, RuleRow, SilenceRow};
use crate::store::Store;

/// Alerting, for every adapter.
#[derive(Clone)]
pub struct Alerts {
    store: Store,
    wake: Arc<tokio::sync::Notify>,
}

/// A new silence.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct NewSilence {
    /// `{label: value}`; every label must match exactly.
    pub matchers: BTreeMap<String, String>,
    /// Minutes from now.
    pub duration_minutes: i64,
    /// Why.
    pub comment: String,
}

/// A rule change.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct RuleUpdate {
    /// Parameters of the rule's kind (unknown keys and out-of-range values are refused).
    pub params: serde_json::Map<String, serde_json::Value>,
    /// Limit to one domain (`null`: all).
    pub domain: Option<String>,
    /// On or off.
    pub enabled: bool,
}

impl Alerts {
    /// Alerting over `store`, waking the alert loop through `wake` after changes.
    pub fn new(store: Store, wake: Arc<tokio::sync::Notify>) -> Self {
        Self { store, wake }
    }

    async fn audit<R: super::Needs>(&self, by: &Actor<R>, action: &str, detail: &str) {
        super::audit(&self.store, by, action, detail).await;
    }

    /// The newest `limit` alerts of the caller's organization (an instance admin: all).
    async fn reachable_alerts<R: super::Needs>(
        &self,
        by: &Actor<R>,
        limit: i64,
    ) -> Outcome<Vec<AlertRow>> {
        let mut alerts = self.store.alerts(limit).await?;
        alerts.retain(|a| by.reaches(a.org_id));
        Ok(alerts)
    }

    /// The caller's organization's silences (an instance admin: all).
    async fn reachable_silences<R: super::Needs>(
        &self,
        by: &Actor<R>,
        now: i64,
    ) -> Outcome<Vec<SilenceRow>> {
        let mut silences = self.store.silences(now).await?;
        silences.retain(|s| by.reaches(s.org_id));
        Ok(silences)
    }

    /// The caller's organization's rules (an instance admin: all).
    async fn reachable_rules<R: super::Needs>(&self, by: &Actor<R>) -> Outcome<Vec<RuleRow>> {
        let mut rules = self.store.alert_rules().await?;
        rules.retain(|r| by.reaches(r.org_id));
        Ok(rules)
    }

    /// The caller's organization's channels (an instance admin: all).
    async fn reachable_channels<R: super::Needs>(&self, by: &Actor<R>) -> Outcome<Vec<ChannelRow>> {
        let mut channels = self.store.channels().await?;
        channels.retain(|c| by.reaches(c.org_id));
        Ok(channels)
    }

    /// Alerts, active first, each with whether a silence holds it.
    pub async fn alerts(&self, by: &Actor<Viewer>, limit: i64) -> Outcome<Vec<(AlertRow, bool)>> {
        let now = now_unix();
        let alerts = self.reachable_alerts(by, limit).await?;
        let silences = self.store.silences(now).await?;
        Ok(alerts
            .into_iter()
            .map(|a| {
                let silenced = silences
                    .iter()
                    .any(|s| s.org_id == a.org_id && s.matches(&a.labels, now));
                (a, silenced)
            })
            .collect())
    }

    /// Acknowledges an active alert (no more repeats).
    pub async fn acknowledge(&self, by: &Actor<Editor>, id: i64) -> Outcome<()> {
        let reachable = self
            .reachable_alerts(by, 5000)
            .await?
            .iter()
            .any(|a| a.id == id);
        if !reachable || !self.store.acknowledge(id, by.name(), now_unix()).await? {
            return Err(ServiceError::NotFound(
                "no active alert with this id".into(),
            ));
        }
        self.audit(by, "alert.ack", &format!("alert {id}")).await;
        self.wake.notify_one();
        Ok(())
    }

    /// Current and future silences.
    pub async fn silences(&self, by: &Actor<Viewer>) -> Outcome<Vec<SilenceRow>> {
        self.reachable_silences(by, now_unix()).await
    }

    /// Adds a silence; its id.
    pub async fn add_silence(&self, by: &Actor<Editor>, s: NewSilence) -> Outcome<i64> {
        if s.matchers.is_empty()
            || s.matchers.len() > 10
            || s.matchers
                .iter()
                .any(|(k, v)| k.len() > 64 || v.len() > 300 || k.is_empty())
        {
            return Err(ServiceError::Invalid("give 1 to 10 label matchers".into()));
        }
        if !(1..=60 * 24 * 90).contains(&s.duration_minutes) {
            return Err(ServiceError::Invalid(
                "duration_minutes must be 1 to 129600 (90 days)".into(),
            ));
        }
        if s.comment.trim().is_empty() || s.comment.len() > 1000 {
            return Err(ServiceError::Invalid(
                "a comment (up to 1000 characters) is required".into(),
            ));
        }
        let now = now_unix();
        let row = SilenceRow {
            id: 0,
            matchers: s.matchers.into_iter().collect(),
            starts_at: now,
            ends_at: now + s.duration_minutes * 60,
            author: by.name().to_owned(),
            comment: s.comment,
            org_id: by.org(),
        };
        let id = self.store.add_silence(&row, now).await?;
        self.audit(
            by,
            "silence.add",
            &format!(
                "silence {id}: {:?} for {} min",
                row.matchers, s.duration_minutes
            ),
        )
        .await;
        self.wake.notify_one();
        Ok(id)
    }

    /// Silences one alert: a silence matching all its labels.
    pub async fn silence_alert(
        &self,
        by: &Actor<Editor>,
        alert_id: i64,
        minutes: i64,
        comment: String,
    ) -> Outcome<i64> {
        let alerts = self.reachable_alerts(by, 5000).await?;
        let a = alerts
            .iter()
            .find(|a| a.id == alert_id)
            .ok_or_else(|| ServiceError::NotFound("no such alert".into()))?;
        self.add_silence(
            by,
            NewSilence {
                matchers: a
                    .labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                duration_minutes: minutes,
                comment,
            },
        )
        .await
    }

    /// Ends a silence now.
    pub async fn end_silence(&self, by: &Actor<Editor>, id: i64) -> Outcome<()> {
        let now = now_unix();
        let reachable = self
            .reachable_silences(by, now)
            .await?
            .iter()
            .any(|s| s.id == id);
        if !reachable || !self.store.expire_silence(id, now).await? {
            return Err(ServiceError::NotFound(
                "no active silence with this id".into(),
            ));
        }
        self.audit(by, "silence.expire", &format!("silence {id}"))
            .await;
        self.wake.notify_one();
        Ok(())
    }

    /// The alerts page: alerts, silences, rules and, for admins, channels with their recent
    /// notifications.
    pub async fn view(
        &self,
        by: &Actor<Viewer>,
        with_channels: bool,
    ) -> Outcome<app::alerting::AlertsView> {
        use app::alerting::{AlertView, AlertsView, ChannelView, RuleView, SilenceView};
        let now = now_unix();
        let alerts = self.reachable_alerts(by, 300).await?;
        let silences = self.reachable_silences(by, now).await?;
        let rules = self.reachable_rules(by).await?;
        let channels = if with_channels {
            Actor::<Admin>::authorize(by.user())?;
            let notifications = self.store.notifications(200).await?;
            self.reachable_channels(by)
                .await?
                .iter()
                .map(|c| {
                    let shown = redact_channel(c);
                    ChannelView {
                        id: c.id,
                        name: c.name.clone(),
                        kind: c.kind.clone(),
                        config: shown["config"].to_string(),
                        settings: ["host", "port", "tls", "username", "from", "to"]
                            .iter()
                            .filter_map(|k| {
                                let v = c.config.get(*k)?;
                                let text = match v {
                                    serde_json::Value::String(s) => s.clone(),
                                    serde_json::Value::Array(a) => a
                                        .iter()
                                        .filter_map(|x| x.as_str())
                                        .collect::<Vec<_>>()
                                        .join(", "),
                                    other => other.to_string(),
                                };
                                Some(((*k).to_owned(), text))
                            })
                            .collect(),
                        secrets: ["url", "secret", "password"]
                            .iter()
                            .filter(|k| {
                                c.config
                                    .get(**k)
                                    .and_then(|v| v.as_str())
                                    .is_some_and(|v| !v.is_empty())
                            })
                            .map(|k| (*k).to_owned())
                            .collect(),
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
                    silenced: silences
                        .iter()
                        .any(|s| s.org_id == a.org_id && s.matches(&a.labels, now)),
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
                    values: form_values(
                        &r.kind,
                        r.params.as_object().unwrap_or(&serde_json::Map::new()),
                    ),
                    id: r.id,
                    name: r.name,
                    kind: r.kind,
                    domain: r.domain,
                    params: r.params.to_string(),
                    enabled: r.enabled,
                })
                .collect(),
            channels,
            rule_defaults: app::alerting::RULE_KINDS
                .iter()
                .map(|(kind, _)| {
                    (
                        (*kind).to_owned(),
                        form_values(kind, &serde_json::Map::new()),
                    )
                })
                .collect(),
        })
    }

    /// Every rule.
    pub async fn rules(&self, by: &Actor<Viewer>) -> Outcome<Vec<RuleRow>> {
        self.reachable_rules(by).await
    }

    /// A domain a rule of the caller may name: one it sees ("not found" otherwise).
    async fn rule_domain(
        &self,
        by: &Actor<Editor>,
        domain: Option<&str>,
    ) -> Outcome<Option<String>> {
        match domain.map(str::trim).filter(|d| !d.is_empty()) {
            None => Ok(None),
            Some(d) => {
                let name = crate::domain::names::DomainName::parse(d)?;
                if !by.sees_all() {
                    super::registered(&self.store, by, &name).await?;
                }
                Ok(Some(String::from(name)))
            }
        }
    }

    /// Changes a rule: typed parameters of its kind, domain, on or off.
    pub async fn update_rule(&self, by: &Actor<Editor>, id: i64, u: RuleUpdate) -> Outcome<()> {
        let rules = self.reachable_rules(by).await?;
        let rule = rules
            .iter()
            .find(|r| r.id == id)
            .ok_or_else(|| ServiceError::NotFound("no such rule".into()))?;
        let params = crate::alerts::params::validate(&rule.kind, &u.params)
            .map_err(ServiceError::Invalid)?;
        let domain = self.rule_domain(by, u.domain.as_deref()).await?;
        if !self
            .store
            .update_rule(id, &params, domain.as_deref(), u.enabled)
            .await?
        {
            return Err(ServiceError::NotFound("no such rule".into()));
        }
        self.audit(
            by,
            "rule.update",
            &format!(
                "rule {id}: enabled={} domain={domain:?} params={params}",
                u.enabled
            ),
        )
        .await;
        self.wake.notify_one();
        Ok(())
    }

    /// Adds a rule of `kind` with typed parameters (defaults for what is not given), limited to
    /// `domain` or for every domain; its id.
    pub async fn add_rule(
        &self,
        by: &Actor<Editor>,
        name: &str,
        kind: &str,
        domain: Option<&str>,
        params: &serde_json::Map<String, serde_json::Value>,
    ) -> Outcome<i64> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(ServiceError::Invalid(
                "a name of 1 to 100 characters is required".into(),
            ));
        }
        let params =
            crate::alerts::params::validate(kind, params).map_err(ServiceError::Invalid)?;
        let domain = self.rule_domain(by, domain).await?;
        let id = self
            .store
            .add_rule(
                by.org(),
                name,
                kind,
                domain.as_deref(),
                &params,
                true,
                now_unix(),
            )
            .await?;
        self.audit(
            by,
            "rule.add",
            &format!("rule {id} {name} ({kind}): domain={domain:?} params={params}"),
        )
        .await;
        self.wake.notify_one();
        Ok(id)
    }

    /// Changes a rule's parameters and switch, keeping its domain (what the UI edits).
    pub async fn update_rule_keeping_domain(
        &self,
        by: &Actor<Editor>,
        id: i64,
        params: serde_json::Map<String, serde_json::Value>,
        enabled: bool,
    ) -> Outcome<()> {
        let domain = self
            .reachable_rules(by)
            .await?
            .into_iter()
            .find(|r| r.id == id)
            .ok_or_else(|| ServiceError::NotFound("no such rule".into()))?
            .domain;
        self.update_rule(
            by,
            id,
            RuleUpdate {
                params,
                domain,
                enabled,
            },
        )
        .await
    }

    /// Every channel (secrets included: adapters redact what they show).
    pub async fn channels(&self, by: &Actor<Admin>) -> Outcome<Vec<ChannelRow>> {
        self.reachable_channels(by).await
    }

    /// Adds a channel of the caller's organization; its id.
    pub async fn add_channel(&self, by: &Actor<Admin>, mut c: ChannelRow) -> Outcome<i64> {
        validate_channel(&c).map_err(ServiceError::Invalid)?;
        c.org_id = by.org();
        let id = self.store.add_channel(&c, now_unix()).await?;
        self.audit(
            by,
            "channel.add",
            &format!("channel {id} {} ({})", c.name, c.kind),
        )
        .await;
        Ok(id)
    }

    /// Changes a channel. Secrets (`secret`, `password`, `url`) left empty or out keep their
    /// stored value, so a form never has to show them.
    pub async fn update_channel(&self, by: &Actor<Admin>, mut c: ChannelRow) -> Outcome<()> {
        let stored = self
            .reachable_channels(by)
            .await?
            .into_iter()
            .find(|s| s.id == c.id)
            .ok_or_else(|| ServiceError::NotFound("no such channel".into()))?;
        if stored.kind != c.kind {
            return Err(ServiceError::Invalid(format!(
                "a {} channel cannot become a {} channel; add a new one",
                stored.kind, c.kind
            )));
        }
        if let Some(config) = c.config.as_object_mut() {
            for key in ["secret", "password", "url"] {
                let empty = config
                    .get(key)
                    .is_none_or(|v| v.is_null() || v.as_str() == Some(""));
                if empty {
                    match stored.config.get(key) {
                        Some(old) => {
                            config.insert(key.to_owned(), old.clone());
                        }
                        None => {
                            config.remove(key);
                        }
                    }
                }
            }
        }
        validate_channel(&c).map_err(ServiceError::Invalid)?;
        c.org_id = stored.org_id;
        if !self.store.update_channel(&c).await? {
            return Err(ServiceError::NotFound("no such channel".into()));
        }
        self.audit(
            by,
            "channel.update",
            &format!("channel {} {} ({})", c.id, c.name, c.kind),
        )
        .await;
        Ok(())
    }

    /// The state of a notification (a channel test): `queued`, `sent` or `failed`, with the
    /// last error.
    pub async fn notification_state(
        &self,
        by: &Actor<Admin>,
        id: i64,
    ) -> Outcome<(String, Option<String>)> {
        let channels = self.reachable_channels(by).await?;
        let n = self
            .store
            .notification(id)
            .await?
            .filter(|n| channels.iter().any(|c| c.id == n.channel_id))
            .ok_or_else(|| ServiceError::NotFound("no such notification".into()))?;
        Ok((n.status, n.last_error))
    }

    /// Queues a test message, wakes the alert loop and waits up to `wait` for the outcome:
    /// the notification's status and last error.
    pub async fn test_channel_and_wait(
        &self,
        by: &Actor<Admin>,
        id: i64,
        wait: std::time::Duration,
    ) -> Outcome<(String, Option<String>)> {
        let n = self.test_channel(by, id).await?;
        let until = std::time::Instant::now() + wait;
        loop {
            let state = self.notification_state(by, n).await?;
            let settled = state.0 == "sent" || state.1.is_some();
            if settled || std::time::Instant::now() >= until {
                return Ok(state);
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    /// Deletes a channel.
    pub async fn delete_channel(&self, by: &Actor<Admin>, id: i64) -> Outcome<()> {
        let reachable = self
            .reachable_channels(by)
            .await?
            .iter()
            .any(|c| c.id == id);
        if !reachable || !self.store.delete_channel(id).await? {
            return Err(ServiceError::NotFound("no such channel".into()));
        }
        self.audit(by, "channel.delete", &format!("channel {id}"))
            .await;
        Ok(())
    }

    /// Queues a test message on a channel and wakes the alert loop to send it now; the id of
    /// the queued notification.
    pub async fn test_channel(&self, by: &Actor<Admin>, id: i64) -> Outcome<i64> {
        if !self
            .reachable_channels(by)
            .await?
            .iter()
            .any(|c| c.id == id)
        {
            return Err(ServiceError::NotFound("no such channel".into()));
        }
        let n = crate::alerts::notify::queue_test(&self.store, id, by.name(), now_unix()).await?;
        self.audit(by, "channel.test", &format!("channel {id}"))
            .await;
        self.wake.notify_one();
        Ok(n)
    }
}

/// Every parameter of a rule of `kind` with its value, defaults filled in, for the forms.
fn form_values(
    kind: &str,
    params: &serde_json::Map<String, serde_json::Value>,
) -> Vec<(String, f64)> {
    crate::alerts::params::validate(kind, params)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .map(|m| {
            m.into_iter()
                .filter_map(|(k, v)| Some((k, v.as_f64()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// The channel a form describes: the kind's settings from the fields that apply.
pub fn channel_of_form(f: &app::alerting::ChannelForm) -> ChannelRow {
    let mut config = serde_json::Map::new();
    let mut put = |k: &str, v: &str| {
        config.insert(k.to_owned(), serde_json::Value::String(v.trim().to_owned()));
    };
    match f.kind.as_str() {
        "webhook" => {
            put("url", &f.url);
            put("secret", &f.secret);
        }
        "slack" | "teams" => put("url", &f.url),
        "email" => {
            put("host", &f.host);
            put("tls", if f.tls.is_empty() { "starttls" } else { &f.tls });
            put("username", &f.username);
            put("password", &f.password);
            put("from", &f.from);
            config.insert(
                "port".into(),
                serde_json::Value::from(f.port.trim().parse::<u16>().unwrap_or(587)),
            );
            config.insert(
                "to".into(),
                f.to.split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(|t| serde_json::Value::String(t.to_owned()))
                    .collect(),
            );
        }
        _ => {}
    }
    if config.get("username").is_some_and(|v| v == "") {
        config.remove("username");
    }
    if f.id == 0 {
        for key in ["secret", "password"] {
            if config.get(key).is_some_and(|v| v == "") {
                config.remove(key);
            }
        }
    }
    ChannelRow {
        id: f.id,
        name: f.name.trim().to_owned(),
        kind: f.kind.clone(),
        config: serde_json::Value::Object(config),
        domains: f
            .domains
            .split(',')
            .map(|d| d.trim().to_ascii_lowercase())
            .filter(|d| !d.is_empty())
            .collect(),
        enabled: true,
        org_id: crate::store::DEFAULT_ORG,
    }
}

/// A channel as shown: secrets and passwords are never sent back.
pub fn redact_channel(c: &ChannelRow) -> serde_json::Value {
    let mut config = c.config.clone();
    for key in ["secret", "password", "url"] {
        if let Some(v) = config.get_mut(key) {
            if key == "url" {
                // Slack/Teams URLs are credentials; show the host only.
                let host = v
                    .as_str()
                    .and_then(|u| u.parse::<http::Uri>().ok())
                    .and_then(|u| u.host().map(str::to_owned));
                *v = serde_json::Value::String(format!(
                    "{}…",
                    host.map(|h| format!("https://{h}/")).unwrap_or_default()
                ));
            } else {
                *v = serde_json::Value::String("********".into());
            }
        }
    }
    serde_json::json!({ "id": c.id, "name": c.name, "kind": c.kind, "config": config, "domains": c.domains, "enabled": c.enabled })
}

/// Checks a new channel's settings.
pub fn validate_channel(c: &ChannelRow) -> Result<(), String> {
    if c.name.trim().is_empty() || c.name.len() > 100 {
        return Err("a name of 1 to 100 characters is required".into());
    }
    match c.kind.as_str() {
        "webhook" | "slack" | "teams" => {
            let url = c.config["url"].as_str().unwrap_or("");
            if !(url.starts_with("https://") || url.starts_with("http://"))
                || url.parse::<http::Uri>().is_err()
            {
                return Err("url must be an http(s) URL".into());
            }
        }
        "email" => {
            if c.config["host"].as_str().is_none_or(str::is_empty) {
                return Err("host is required".into());
            }
            if c.config["from"].as_str().is_none_or(|f| !f.contains('@')) {
                return Err("from must be an e-mail address".into());
            }
            if !c.config["to"].as_array().is_some_and(|t| {
                !t.is_empty()
                    && t.iter()
                        .all(|x| x.as_str().is_some_and(|s| s.contains('@')))
            }) {
                return Err("to must be a list of e-mail addresses".into());
            }
            if !matches!(
                c.config["tls"].as_str().unwrap_or("starttls"),
                "implicit" | "starttls" | "none"
            ) {
                return Err("tls must be implicit, starttls or none".into());
            }
        }
        _ => return Err("kind must be email, slack, teams or webhook".into()),
    }
    if c.domains
        .iter()
        .any(|d| crate::domain::names::normalize_domain(d).is_none())
    {
        return Err("domains must be domain names".into());
    }
    Ok(())
}
