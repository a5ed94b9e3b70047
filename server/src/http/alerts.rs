//! `/metrics` (Prometheus text format) and the alerting API under `/api/v1`: alerts,
//! acknowledgements, silences, rules and channels, with the UI's roles (viewer reads, editor
//! acknowledges, silences and edits rules, admin manages channels).

use app::auth::{CurrentUser, Role};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Extension, Json, Router};
use serde::Deserialize;

use super::AppState;
use crate::ingest::now_unix;
use crate::store::alerts::{ChannelRow, SilenceRow};

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/api/v1/alerts", get(alerts))
        .route("/api/v1/alerts/{id}/ack", post(ack))
        .route("/api/v1/silences", get(silences).post(add_silence))
        .route("/api/v1/silences/{id}", delete(expire_silence))
        .route("/api/v1/rules", get(rules))
        .route("/api/v1/rules/{id}", put(update_rule))
        .route("/api/v1/channels", get(channels).post(add_channel))
        .route("/api/v1/channels/{id}", delete(delete_channel))
        .route("/api/v1/channels/{id}/test", post(test_channel))
}

fn forbid(role: Role) -> Response {
    (
        StatusCode::FORBIDDEN,
        format!("this needs the {} role\n", role.as_str()),
    )
        .into_response()
}

fn failed(e: anyhow::Error) -> Response {
    tracing::error!(error = %format!("{e:#}"), "alerting API failed");
    (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response()
}

async fn audit(state: &AppState, user: &CurrentUser, action: &str, detail: &str) {
    if let Err(e) = state
        .store
        .audit(&user.email, action, detail, None, now_unix())
        .await
    {
        tracing::error!(error = %format!("{e:#}"), "audit log write failed");
    }
}

/// Prometheus label value escaping.
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

async fn metrics(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
) -> Response {
    if !user.can(Role::Viewer) {
        return forbid(Role::Viewer);
    }
    let (totals, alerts) =
        match tokio::try_join!(state.store.metric_totals(), state.store.alerts(5000)) {
            Ok(x) => x,
            Err(e) => return failed(e),
        };
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
    };
    family(
        "tlswatch_sessions_total",
        "counter",
        "TLS sessions reported for the domain, by result (counting rule applied).",
    );
    let mut body = String::new();
    for (d, s, f, _) in &totals.domains {
        body.push_str(&format!(
            "tlswatch_sessions_total{{domain=\"{}\",result=\"success\"}} {s}\n",
            esc(d)
        ));
        body.push_str(&format!(
            "tlswatch_sessions_total{{domain=\"{}\",result=\"failure\"}} {f}\n",
            esc(d)
        ));
    }
    out.push_str(&body);
    let mut rest = String::new();
    rest.push_str("# HELP tlswatch_reports_total Reports stored for the domain.\n# TYPE tlswatch_reports_total counter\n");
    for (d, _, _, n) in &totals.domains {
        rest.push_str(&format!(
            "tlswatch_reports_total{{domain=\"{}\"}} {n}\n",
            esc(d)
        ));
    }
    rest.push_str("# HELP tlswatch_failed_sessions_by_mx_total Failed sessions by receiving MX.\n# TYPE tlswatch_failed_sessions_by_mx_total counter\n");
    for (d, mx, n) in &totals.mx {
        rest.push_str(&format!(
            "tlswatch_failed_sessions_by_mx_total{{domain=\"{}\",mx=\"{}\"}} {n}\n",
            esc(d),
            esc(mx)
        ));
    }
    rest.push_str("# HELP tlswatch_failed_sessions_by_result_type_total Failed sessions by RFC 8460 result type.\n# TYPE tlswatch_failed_sessions_by_result_type_total counter\n");
    for (d, rt, n) in &totals.result_types {
        rest.push_str(&format!("tlswatch_failed_sessions_by_result_type_total{{domain=\"{}\",result_type=\"{}\"}} {n}\n", esc(d), esc(rt)));
    }
    rest.push_str("# HELP tlswatch_rejected_inputs_total Inputs rejected and kept in the quarantine.\n# TYPE tlswatch_rejected_inputs_total counter\n");
    rest.push_str(&format!(
        "tlswatch_rejected_inputs_total {}\n",
        totals.rejected
    ));
    if let Ok((entries, bytes)) = state.store.quarantine_usage().await {
        let quota = state.store.quarantine_quota();
        rest.push_str(&format!(
            "# HELP tlswatch_quarantine_entries Inputs kept in the quarantine.\n# TYPE tlswatch_quarantine_entries gauge\ntlswatch_quarantine_entries {entries}\n\
             # HELP tlswatch_quarantine_bytes Compressed bytes kept in the quarantine.\n# TYPE tlswatch_quarantine_bytes gauge\ntlswatch_quarantine_bytes {bytes}\n\
             # HELP tlswatch_quarantine_max_entries Quota of quarantine entries.\n# TYPE tlswatch_quarantine_max_entries gauge\ntlswatch_quarantine_max_entries {}\n\
             # HELP tlswatch_quarantine_max_bytes Quota of quarantine bytes.\n# TYPE tlswatch_quarantine_max_bytes gauge\ntlswatch_quarantine_max_bytes {}\n",
            quota.max_entries, quota.max_bytes
        ));
    }
    {
        use crate::telemetry::counters::{
            read, QUARANTINE_EVICTED, RECEIVER_BUSY, RECEIVER_RATE_LIMITED, REQUEST_TIMEOUTS,
        };
        rest.push_str(&format!(
            "# HELP tlswatch_quarantine_evicted_total Quarantined inputs evicted to stay within the quota (this process).\n# TYPE tlswatch_quarantine_evicted_total counter\ntlswatch_quarantine_evicted_total {}\n\
             # HELP tlswatch_receiver_refused_total Receiver requests refused before reading them (this process).\n# TYPE tlswatch_receiver_refused_total counter\n\
             tlswatch_receiver_refused_total{{reason=\"rate\"}} {}\ntlswatch_receiver_refused_total{{reason=\"busy\"}} {}\n\
             # HELP tlswatch_request_timeouts_total Requests ended by the server-side deadline (this process).\n# TYPE tlswatch_request_timeouts_total counter\ntlswatch_request_timeouts_total {}\n",
            read(&QUARANTINE_EVICTED),
            read(&RECEIVER_RATE_LIMITED),
            read(&RECEIVER_BUSY),
            read(&REQUEST_TIMEOUTS)
        ));
    }
    rest.push_str("# HELP tlswatch_check_runs_total Configuration check runs by their worst finding.\n# TYPE tlswatch_check_runs_total counter\n");
    for (w, n) in &totals.checks {
        rest.push_str(&format!(
            "tlswatch_check_runs_total{{worst=\"{}\"}} {n}\n",
            esc(w)
        ));
    }
    rest.push_str("# HELP tlswatch_notifications Notifications by delivery status.\n# TYPE tlswatch_notifications gauge\n");
    for (s, n) in &totals.notifications {
        rest.push_str(&format!(
            "tlswatch_notifications{{status=\"{}\"}} {n}\n",
            esc(s)
        ));
    }
    rest.push_str("# HELP tlswatch_alerts_firing Alert instances firing, by rule and domain.\n# TYPE tlswatch_alerts_firing gauge\n");
    let mut firing: std::collections::BTreeMap<(String, String), i64> =
        std::collections::BTreeMap::new();
    for a in alerts.iter().filter(|a| a.state == "firing") {
        *firing
            .entry((
                a.labels.get("rule").cloned().unwrap_or_default(),
                a.domain.clone(),
            ))
            .or_default() += 1;
    }
    for ((rule, d), n) in firing {
        rest.push_str(&format!(
            "tlswatch_alerts_firing{{rule=\"{}\",domain=\"{}\"}} {n}\n",
            esc(&rule),
            esc(&d)
        ));
    }
    out.push_str(&rest);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response()
}

async fn alerts(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
) -> Response {
    if !user.can(Role::Viewer) {
        return forbid(Role::Viewer);
    }
    let now = now_unix();
    match tokio::try_join!(state.store.alerts(500), state.store.silences(now)) {
        Ok((alerts, silences)) => {
            let list: Vec<serde_json::Value> = alerts
                .iter()
                .map(|a| {
                    let mut v = serde_json::to_value(a).unwrap_or_default();
                    v["silenced"] =
                        serde_json::Value::Bool(silences.iter().any(|s| s.matches(&a.labels, now)));
                    v
                })
                .collect();
            Json(serde_json::json!({ "alerts": list })).into_response()
        }
        Err(e) => failed(e),
    }
}

async fn ack(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(id): Path<i64>,
) -> Response {
    if !user.can(Role::Editor) {
        return forbid(Role::Editor);
    }
    match state.store.acknowledge(id, &user.email, now_unix()).await {
        Ok(true) => {
            audit(&state, &user, "alert.ack", &format!("alert {id}")).await;
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(false) => (StatusCode::NOT_FOUND, "no active alert with this id\n").into_response(),
        Err(e) => failed(e),
    }
}

async fn silences(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
) -> Response {
    if !user.can(Role::Viewer) {
        return forbid(Role::Viewer);
    }
    match state.store.silences(now_unix()).await {
        Ok(s) => Json(serde_json::json!({ "silences": s })).into_response(),
        Err(e) => failed(e),
    }
}

/// Body of `POST /api/v1/silences`.
#[derive(Debug, Deserialize)]
pub struct NewSilence {
    /// `{label: value}`; every label must match exactly.
    pub matchers: std::collections::BTreeMap<String, String>,
    /// Minutes from now.
    pub duration_minutes: i64,
    /// Why.
    pub comment: String,
}

/// Validates and stores a silence; used by the API and the UI.
pub async fn create_silence(
    state: &AppState,
    user: &CurrentUser,
    s: NewSilence,
) -> Result<i64, (StatusCode, String)> {
    if s.matchers.is_empty()
        || s.matchers.len() > 10
        || s.matchers
            .iter()
            .any(|(k, v)| k.len() > 64 || v.len() > 300 || k.is_empty())
    {
        return Err((
            StatusCode::BAD_REQUEST,
            "give 1 to 10 label matchers\n".into(),
        ));
    }
    if !(1..=60 * 24 * 90).contains(&s.duration_minutes) {
        return Err((
            StatusCode::BAD_REQUEST,
            "duration_minutes must be 1 to 129600 (90 days)\n".into(),
        ));
    }
    if s.comment.trim().is_empty() || s.comment.len() > 1000 {
        return Err((
            StatusCode::BAD_REQUEST,
            "a comment (up to 1000 characters) is required\n".into(),
        ));
    }
    let now = now_unix();
    let row = SilenceRow {
        id: 0,
        matchers: s.matchers.into_iter().collect(),
        starts_at: now,
        ends_at: now + s.duration_minutes * 60,
        author: user.email.clone(),
        comment: s.comment,
    };
    let id = state.store.add_silence(&row, now).await.map_err(|e| {
        tracing::error!(error = %format!("{e:#}"), "adding a silence failed");
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "database unavailable\n".to_string(),
        )
    })?;
    audit(
        state,
        user,
        "silence.add",
        &format!(
            "silence {id}: {:?} for {} min",
            row.matchers, s.duration_minutes
        ),
    )
    .await;
    Ok(id)
}

async fn add_silence(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Json(s): Json<NewSilence>,
) -> Response {
    if !user.can(Role::Editor) {
        return forbid(Role::Editor);
    }
    match create_silence(&state, &user, s).await {
        Ok(id) => (StatusCode::CREATED, Json(serde_json::json!({ "id": id }))).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn expire_silence(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(id): Path<i64>,
) -> Response {
    if !user.can(Role::Editor) {
        return forbid(Role::Editor);
    }
    match state.store.expire_silence(id, now_unix()).await {
        Ok(true) => {
            audit(&state, &user, "silence.expire", &format!("silence {id}")).await;
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(false) => (StatusCode::NOT_FOUND, "no active silence with this id\n").into_response(),
        Err(e) => failed(e),
    }
}

async fn rules(State(state): State<AppState>, Extension(user): Extension<CurrentUser>) -> Response {
    if !user.can(Role::Viewer) {
        return forbid(Role::Viewer);
    }
    match state.store.alert_rules().await {
        Ok(r) => Json(serde_json::json!({ "rules": r })).into_response(),
        Err(e) => failed(e),
    }
}

/// Body of `PUT /api/v1/rules/{id}`.
#[derive(Debug, Deserialize)]
pub struct RuleUpdate {
    /// Parameters (numbers only).
    pub params: serde_json::Map<String, serde_json::Value>,
    /// Limit to one domain (`null`: all).
    pub domain: Option<String>,
    /// On or off.
    pub enabled: bool,
}

async fn update_rule(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(id): Path<i64>,
    Json(u): Json<RuleUpdate>,
) -> Response {
    if !user.can(Role::Editor) {
        return forbid(Role::Editor);
    }
    if u.params.len() > 20
        || u.params
            .iter()
            .any(|(k, v)| k.len() > 40 || !v.as_f64().is_some_and(|x| x.is_finite() && x >= 0.0))
    {
        return (
            StatusCode::BAD_REQUEST,
            "params must be non-negative numbers\n",
        )
            .into_response();
    }
    let domain = match u
        .domain
        .as_deref()
        .map(crate::domain::names::normalize_domain)
    {
        Some(None) => return (StatusCode::BAD_REQUEST, "not a domain name\n").into_response(),
        Some(Some(d)) => Some(d),
        None => None,
    };
    match state
        .store
        .update_rule(
            id,
            &serde_json::Value::Object(u.params.clone()),
            domain.as_deref(),
            u.enabled,
        )
        .await
    {
        Ok(true) => {
            audit(
                &state,
                &user,
                "rule.update",
                &format!(
                    "rule {id}: enabled={} domain={domain:?} params={}",
                    u.enabled,
                    serde_json::Value::Object(u.params)
                ),
            )
            .await;
            state.alert_wake.notify_one();
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(false) => (StatusCode::NOT_FOUND, "no such rule\n").into_response(),
        Err(e) => failed(e),
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

async fn channels(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
) -> Response {
    if !user.can(Role::Admin) {
        return forbid(Role::Admin);
    }
    match state.store.channels().await {
        Ok(c) => Json(
            serde_json::json!({ "channels": c.iter().map(redact_channel).collect::<Vec<_>>() }),
        )
        .into_response(),
        Err(e) => failed(e),
    }
}

/// Validates a new channel; used by the API and the UI.
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

async fn add_channel(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Json(c): Json<ChannelRow>,
) -> Response {
    if !user.can(Role::Admin) {
        return forbid(Role::Admin);
    }
    if let Err(e) = validate_channel(&c) {
        return (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response();
    }
    match state.store.add_channel(&c, now_unix()).await {
        Ok(id) => {
            audit(
                &state,
                &user,
                "channel.add",
                &format!("channel {id} {} ({})", c.name, c.kind),
            )
            .await;
            (StatusCode::CREATED, Json(serde_json::json!({ "id": id }))).into_response()
        }
        Err(e) => (
            StatusCode::CONFLICT,
            format!("could not add the channel: {e}\n"),
        )
            .into_response(),
    }
}

async fn delete_channel(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(id): Path<i64>,
) -> Response {
    if !user.can(Role::Admin) {
        return forbid(Role::Admin);
    }
    match state.store.delete_channel(id).await {
        Ok(true) => {
            audit(&state, &user, "channel.delete", &format!("channel {id}")).await;
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(false) => (StatusCode::NOT_FOUND, "no such channel\n").into_response(),
        Err(e) => failed(e),
    }
}

async fn test_channel(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(id): Path<i64>,
) -> Response {
    if !user.can(Role::Admin) {
        return forbid(Role::Admin);
    }
    match crate::alerts::notify::queue_test(&state.store, id, &user.email, now_unix()).await {
        Ok(n) => {
            audit(&state, &user, "channel.test", &format!("channel {id}")).await;
            state.alert_wake.notify_one();
            (
                StatusCode::ACCEPTED,
                Json(serde_json::json!({ "notification": n })),
            )
                .into_response()
        }
        Err(e) => (
            StatusCode::NOT_FOUND,
            format!("could not queue a test: {e}\n"),
        )
            .into_response(),
    }
}
