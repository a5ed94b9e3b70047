//! `/metrics` (Prometheus text format) and the alerting API under `/api/v1`: alerts,
//! acknowledgements, silences, rules and channels, with the UI's roles (viewer reads, editor
//! acknowledges, silences and edits rules, admin manages channels).

use app::auth::{CurrentUser, Role};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Extension, Json, Router};

use super::AppState;
use crate::service::alerts::{NewSilence, RuleUpdate};
use crate::service::{Actor, Admin, Editor, ServiceError, Viewer};
use crate::store::alerts::ChannelRow;

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
) -> Result<Response, ServiceError> {
    let by = Actor::<Viewer>::authorize(&user)?;
    let list: Vec<serde_json::Value> = state
        .alerts
        .alerts(&by, 500)
        .await?
        .into_iter()
        .map(|(a, silenced)| {
            let mut v = serde_json::to_value(&a).unwrap_or_default();
            v["silenced"] = serde_json::Value::Bool(silenced);
            v
        })
        .collect();
    Ok(Json(serde_json::json!({ "alerts": list })).into_response())
}

async fn ack(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ServiceError> {
    let by = Actor::<Editor>::authorize(&user)?;
    state.alerts.acknowledge(&by, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn silences(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
) -> Result<Response, ServiceError> {
    let by = Actor::<Viewer>::authorize(&user)?;
    let s = state.alerts.silences(&by).await?;
    Ok(Json(serde_json::json!({ "silences": s })).into_response())
}

async fn add_silence(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Json(s): Json<NewSilence>,
) -> Result<Response, ServiceError> {
    let by = Actor::<Editor>::authorize(&user)?;
    let id = state.alerts.add_silence(&by, s).await?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "id": id }))).into_response())
}

async fn expire_silence(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ServiceError> {
    let by = Actor::<Editor>::authorize(&user)?;
    state.alerts.end_silence(&by, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn rules(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
) -> Result<Response, ServiceError> {
    let by = Actor::<Viewer>::authorize(&user)?;
    let r = state.alerts.rules(&by).await?;
    Ok(Json(serde_json::json!({ "rules": r })).into_response())
}

async fn update_rule(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(id): Path<i64>,
    Json(u): Json<RuleUpdate>,
) -> Result<StatusCode, ServiceError> {
    let by = Actor::<Editor>::authorize(&user)?;
    state.alerts.update_rule(&by, id, u).await?;
    Ok(StatusCode::NO_CONTENT)
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
) -> Result<Response, ServiceError> {
    let by = Actor::<Admin>::authorize(&user)?;
    let c = state.alerts.channels(&by).await?;
    Ok(
        Json(serde_json::json!({ "channels": c.iter().map(redact_channel).collect::<Vec<_>>() }))
            .into_response(),
    )
}

async fn add_channel(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Json(c): Json<ChannelRow>,
) -> Result<Response, ServiceError> {
    let by = Actor::<Admin>::authorize(&user)?;
    let id = state.alerts.add_channel(&by, c).await?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "id": id }))).into_response())
}

async fn delete_channel(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ServiceError> {
    let by = Actor::<Admin>::authorize(&user)?;
    state.alerts.delete_channel(&by, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn test_channel(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(id): Path<i64>,
) -> Result<Response, ServiceError> {
    let by = Actor::<Admin>::authorize(&user)?;
    let n = state.alerts.test_channel(&by, id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "notification": n })),
    )
        .into_response())
}
