//! Alerts as the UI shows them, and the server functions of the alerts page.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use crate::auth::{require, Role};

/// An alert instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertView {
    /// Id.
    pub id: i64,
    /// `pending`, `firing`, `resolved`.
    pub state: String,
    /// Labels, `name=value`.
    pub labels: Vec<(String, String)>,
    /// Domain.
    pub domain: String,
    /// Why it fired (observed value, baseline, threshold in words).
    pub reason: String,
    /// Observed value.
    pub value: f64,
    /// Baseline.
    pub baseline: Option<f64>,
    /// Threshold.
    pub threshold: Option<f64>,
    /// Start, UTC.
    pub started: String,
    /// Resolved, UTC.
    pub resolved: Option<String>,
    /// Who acknowledged it.
    pub acknowledged_by: Option<String>,
    /// A silence holds its notifications back.
    pub silenced: bool,
}

/// A silence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SilenceView {
    /// Id.
    pub id: i64,
    /// `name=value` matchers.
    pub matchers: String,
    /// End, UTC.
    pub ends: String,
    /// Still in force.
    pub active: bool,
    /// Author.
    pub author: String,
    /// Comment.
    pub comment: String,
}

/// A rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleView {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: String,
    /// Domain scope (`None`: all).
    pub domain: Option<String>,
    /// Parameters, JSON text.
    pub params: String,
    /// Every parameter of the kind with its value (defaults filled in), for the form.
    pub values: Vec<(String, f64)>,
    /// On or off.
    pub enabled: bool,
}

/// A channel (secrets removed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelView {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: String,
    /// Settings with secrets removed, JSON text.
    pub config: String,
    /// Settings that are not secret, for the form (`host`, `port`, `tls`, `username`, `from`,
    /// `to` joined with commas).
    pub settings: Vec<(String, String)>,
    /// Whether a URL, secret or password is stored (never shown).
    pub secrets: Vec<String>,
    /// Routed domains (empty: all).
    pub domains: String,
    /// Last deliveries: `(when, kind, status, error)`.
    pub recent: Vec<(String, String, String, String)>,
}

/// The alerts page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertsView {
    /// Active alerts first, then history.
    pub alerts: Vec<AlertView>,
    /// Silences.
    pub silences: Vec<SilenceView>,
    /// Rules.
    pub rules: Vec<RuleView>,
    /// Each kind's default parameters, for a new rule's form.
    pub rule_defaults: Vec<(String, Vec<(String, f64)>)>,
    /// Channels (admins only; empty otherwise).
    pub channels: Vec<ChannelView>,
}

/// The alerts page data (viewer; channels for admins).
#[server]
pub async fn get_alerts() -> Result<AlertsView, ServerFnError> {
    let me = require(Role::Viewer)?;
    crate::api::backend()?
        .alerts_view(me.role >= Role::Admin)
        .await
        .map_err(crate::auth::failed)
}

/// Acknowledges an alert (editor).
#[server]
pub async fn ack_alert(id: i64) -> Result<(), ServerFnError> {
    let by = require(Role::Editor)?;
    crate::api::backend()?
        .ack_alert(&by, id)
        .await
        .map_err(crate::auth::failed)
}

/// Silences alerts with the labels of alert `id` for `minutes` (editor).
#[server]
pub async fn silence_alert(id: i64, minutes: i64, comment: String) -> Result<(), ServerFnError> {
    let by = require(Role::Editor)?;
    crate::api::backend()?
        .silence_alert(&by, id, minutes, comment)
        .await
        .map_err(crate::auth::failed)
}

/// Ends a silence (editor).
#[server]
pub async fn end_silence(id: i64) -> Result<(), ServerFnError> {
    let by = require(Role::Editor)?;
    crate::api::backend()?
        .end_silence(&by, id)
        .await
        .map_err(crate::auth::failed)
}

/// Turns a rule on or off and sets its parameters (JSON object of numbers) (editor).
#[server]
pub async fn save_rule(id: i64, enabled: bool, params: String) -> Result<(), ServerFnError> {
    let by = require(Role::Editor)?;
    crate::api::backend()?
        .save_rule(&by, id, enabled, params)
        .await
        .map_err(crate::auth::failed)
}

/// Adds a rule (editor): `params` is a JSON object of numbers (the form builds it from its
/// fields), `domain` empty for every domain.
#[server]
pub async fn add_rule(
    name: String,
    kind: String,
    domain: String,
    params: String,
) -> Result<(), ServerFnError> {
    let by = require(Role::Editor)?;
    crate::api::backend()?
        .add_rule(&by, name, kind, domain, params)
        .await
        .map_err(crate::auth::failed)
}

/// A channel's settings as the form sends them; the server builds the kind's settings from
/// the fields that apply. Editing (`id` > 0): an empty `url`, `secret` or `password` keeps the
/// stored one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChannelForm {
    /// 0 to add.
    pub id: i64,
    /// Name.
    pub name: String,
    /// `webhook`, `slack`, `teams`, `email`.
    pub kind: String,
    /// Webhook, Slack or Teams URL.
    #[serde(default)]
    pub url: String,
    /// Webhook signing secret.
    #[serde(default)]
    pub secret: String,
    /// SMTP host.
    #[serde(default)]
    pub host: String,
    /// SMTP port.
    #[serde(default)]
    pub port: String,
    /// `starttls`, `implicit`, `none`.
    #[serde(default)]
    pub tls: String,
    /// SMTP user name.
    #[serde(default)]
    pub username: String,
    /// SMTP password.
    #[serde(default)]
    pub password: String,
    /// Sender address.
    #[serde(default)]
    pub from: String,
    /// Recipients, comma-separated.
    #[serde(default)]
    pub to: String,
    /// Domains routed here, comma-separated (empty: all).
    #[serde(default)]
    pub domains: String,
}

/// What is wrong with a channel form, per field (checked in the browser before sending, and
/// again on the server).
pub fn channel_problems(f: &ChannelForm) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let adding = f.id == 0;
    if f.name.trim().is_empty() {
        out.push(("name", "A name is required.".to_owned()));
    }
    let url_ok = |u: &str| u.starts_with("https://") || u.starts_with("http://");
    match f.kind.as_str() {
        "webhook" | "slack" | "teams" => {
            let u = f.url.trim();
            if (adding || !u.is_empty()) && !url_ok(u) {
                out.push(("url", "Enter the http(s) URL of the webhook.".to_owned()));
            }
        }
        "email" => {
            if f.host.trim().is_empty() {
                out.push((
                    "host",
                    "The SMTP server's host name is required.".to_owned(),
                ));
            }
            if f.port.trim().parse::<u16>().map_or(true, |p| p == 0) {
                out.push(("port", "A port from 1 to 65535.".to_owned()));
            }
            if !f.from.contains('@') {
                out.push(("from", "The sender's e-mail address.".to_owned()));
            }
            let to: Vec<&str> =
                f.to.split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .collect();
            if to.is_empty() || to.iter().any(|t| !t.contains('@')) {
                out.push((
                    "to",
                    "One or more e-mail addresses, separated by commas.".to_owned(),
                ));
            }
        }
        _ => out.push(("kind", "Choose a kind.".to_owned())),
    }
    out
}

/// Adds (`id` 0) or changes a channel (admin).
#[server]
pub async fn save_channel(form: ChannelForm) -> Result<(), ServerFnError> {
    let by = require(Role::Admin)?;
    crate::api::backend()?
        .save_channel(&by, form)
        .await
        .map_err(crate::auth::failed)
}

/// What a channel of `kind` sends for a sample alert, rendered by the code that sends it
/// (admin).
#[server]
pub async fn preview_channel(kind: String) -> Result<String, ServerFnError> {
    require(Role::Admin)?;
    crate::api::backend()?
        .preview_channel(kind)
        .await
        .map_err(crate::auth::failed)
}

/// Sends a test message on a channel (admin) and waits a little for the delivery: the answer
/// says whether it was delivered, or why not.
#[server]
pub async fn test_channel(id: i64) -> Result<String, ServerFnError> {
    let by = require(Role::Admin)?;
    crate::api::backend()?
        .test_channel(&by, id)
        .await
        .map_err(crate::auth::failed)
}

/// Deletes a channel (admin).
#[server]
pub async fn delete_channel(id: i64) -> Result<(), ServerFnError> {
    let by = require(Role::Admin)?;
    crate::api::backend()?
        .delete_channel(&by, id)
        .await
        .map_err(crate::auth::failed)
}

/// A number field of a rule's form.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParamField {
    /// The parameter's key.
    pub key: &'static str,
    /// Label.
    pub label: &'static str,
    /// Unit shown after the field.
    pub unit: &'static str,
    /// Smallest value, in the form's unit.
    pub min: f64,
    /// Largest value, in the form's unit.
    pub max: f64,
    /// Whole numbers only.
    pub whole: bool,
    /// Shown as a percentage of a stored fraction.
    pub percent: bool,
}

const fn int(
    key: &'static str,
    label: &'static str,
    unit: &'static str,
    min: f64,
    max: f64,
) -> ParamField {
    ParamField {
        key,
        label,
        unit,
        min,
        max,
        whole: true,
        percent: false,
    }
}

const FOR_MINUTES: ParamField = int(
    "for_minutes",
    "Pending before firing",
    "minutes",
    0.0,
    10_080.0,
);

/// Rule kinds with what they watch.
pub const RULE_KINDS: [(&str, &str); 6] = [
    (
        "failure_spike",
        "Failure spike: a day's failure rate far above its baseline",
    ),
    (
        "new_failure_type",
        "New failure type: a result type not seen in the baseline",
    ),
    (
        "config_regression",
        "Configuration regression: a check that passed now fails",
    ),
    (
        "cert_expiry",
        "Certificate expiring: an MX or policy host certificate ends soon",
    ),
    ("no_reports", "No reports: reporters went quiet"),
    (
        "mailbox_failing",
        "Mailbox failing: a mailbox cannot be polled",
    ),
];

/// The form fields of a rule kind, with the limits the server enforces (`server/src/alerts/
/// params.rs`; a test there keeps both in step).
pub fn rule_fields(kind: &str) -> &'static [ParamField] {
    const SPIKE: [ParamField; 7] = [
        int("baseline_days", "Baseline", "days", 1.0, 365.0),
        int("eval_days", "Evaluated", "days", 1.0, 30.0),
        ParamField {
            key: "k",
            label: "Threshold above the baseline median",
            unit: "× MAD",
            min: 0.0,
            max: 100.0,
            whole: false,
            percent: false,
        },
        int("min_sessions", "A day counts from", "sessions", 0.0, 1e9),
        int("min_failures", "…and from", "failed sessions", 0.0, 1e9),
        ParamField {
            key: "absolute_rate",
            label: "Always fire above",
            unit: "% failures",
            min: 0.0,
            max: 100.0,
            whole: false,
            percent: true,
        },
        FOR_MINUTES,
    ];
    const NEW_TYPE: [ParamField; 4] = [
        int("baseline_days", "Baseline", "days", 1.0, 365.0),
        int("eval_days", "Evaluated", "days", 1.0, 30.0),
        int("min_failures", "Fire from", "failed sessions", 1.0, 1e9),
        FOR_MINUTES,
    ];
    const REGRESSION: [ParamField; 1] = [FOR_MINUTES];
    const EXPIRY: [ParamField; 2] = [
        int(
            "days",
            "Fire when a certificate ends within",
            "days",
            1.0,
            365.0,
        ),
        FOR_MINUTES,
    ];
    const QUIET: [ParamField; 4] = [
        int("days", "Quiet for", "days", 1.0, 90.0),
        int("baseline_days", "Baseline", "days", 1.0, 365.0),
        int(
            "min_days_with_reports",
            "Only if the baseline had reports on",
            "days",
            0.0,
            365.0,
        ),
        FOR_MINUTES,
    ];
    const MAILBOX: [ParamField; 2] = [
        int("hours", "Fire after failing for", "hours", 1.0, 168.0),
        FOR_MINUTES,
    ];
    match kind {
        "mailbox_failing" => &MAILBOX,
        "failure_spike" => &SPIKE,
        "new_failure_type" => &NEW_TYPE,
        "config_regression" => &REGRESSION,
        "cert_expiry" => &EXPIRY,
        "no_reports" => &QUIET,
        _ => &[],
    }
}

impl ParamField {
    /// The value as the form shows it.
    pub fn shown(&self, stored: f64) -> String {
        let v = if self.percent { stored * 100.0 } else { stored };
        if self.whole || v.fract() == 0.0 {
            format!("{}", v.round() as i64)
        } else {
            format!("{}", (v * 1000.0).round() / 1000.0)
        }
    }

    /// The stored value of what was typed, or what is wrong with it.
    pub fn parse(&self, typed: &str) -> Result<f64, String> {
        let v: f64 = typed
            .trim()
            .parse()
            .map_err(|_| format!("{}: enter a number", self.label))?;
        if !v.is_finite() || v < self.min || v > self.max {
            return Err(format!(
                "{}: {} to {} {}",
                self.label,
                self.shown_limit(self.min),
                self.shown_limit(self.max),
                self.unit
            ));
        }
        if self.whole && v.fract() != 0.0 {
            return Err(format!("{}: a whole number", self.label));
        }
        Ok(if self.percent { v / 100.0 } else { v })
    }

    fn shown_limit(&self, v: f64) -> String {
        if v >= 1e6 {
            format!("{v:e}")
        } else {
            format!("{v}")
        }
    }
}

/// The JSON object of parameters the server takes, from stored values.
pub fn params_json(values: &[(&str, f64)]) -> String {
    let inner: Vec<String> = values
        .iter()
        .map(|(k, v)| {
            if v.fract() == 0.0 && v.abs() < 1e15 {
                format!("\"{k}\":{}", *v as i64)
            } else {
                format!("\"{k}\":{v}")
            }
        })
        .collect();
    format!("{{{}}}", inner.join(","))
}
