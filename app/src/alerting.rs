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

/// Adds a channel (admin). `config` is JSON: `{url, secret?}` for webhooks, `{url}` for Slack
/// and Teams, `{host, port, tls, username?, password?, from, to: [...]}` for e-mail.
#[server]
pub async fn add_channel(
    name: String,
    kind: String,
    config: String,
    domains: String,
) -> Result<(), ServerFnError> {
    let by = require(Role::Admin)?;
    crate::api::backend()?
        .add_channel(&by, name, kind, config, domains)
        .await
        .map_err(crate::auth::failed)
}

/// Sends a test message on a channel (admin).
#[server]
pub async fn test_channel(id: i64) -> Result<(), ServerFnError> {
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
