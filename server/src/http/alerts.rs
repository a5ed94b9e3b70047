//! `/metrics` (Prometheus text format) and the alerting API under `/api/v1`: alerts,
//! acknowledgements, silences, rules and channels, with the UI's roles (viewer reads, editor
//! acknowledges, silences and edits rules, admin manages channels).

use app::auth::CurrentUser;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

use super::routes::Routes;
use super::AppState;
use crate::service::alerts::{NewSilence, RuleUpdate};
use crate::service::{Actor, Admin, Editor, ServiceError, Viewer};
use crate::store::alerts::ChannelRow;

/// Routes.
pub fn routes() -> Routes {
    Routes::new()
        .get("/api/v1/alerts", alerts)
        .post("/api/v1/alerts/{id}/ack", ack)
        .get("/api/v1/silences", silences)
        .post("/api/v1/silences", add_silence)
        .delete("/api/v1/silences/{id}", expire_silence)
        .get("/api/v1/rules", rules)
        .post("/api/v1/rules", add_rule)
        .put("/api/v1/rules/{id}", update_rule)
        .get("/api/v1/channels", channels)
        .post("/api/v1/channels", add_channel)
        .put("/api/v1/channels/{id}", update_channel)
        .delete("/api/v1/channels/{id}", delete_channel)
        .post("/api/v1/channels/{id}/test", test_channel)
}

async fn alerts(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
) -> Result<Response, ServiceError> {
    let by = Actor::<Viewer>::authorize(&user)?;
    let list: Vec<serde_json::Value> = state
        .services
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
    state.services.alerts.acknowledge(&by, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn silences(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
) -> Result<Response, ServiceError> {
    let by = Actor::<Viewer>::authorize(&user)?;
    let s = state.services.alerts.silences(&by).await?;
    Ok(Json(serde_json::json!({ "silences": s })).into_response())
}

async fn add_silence(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Json(s): Json<NewSilence>,
) -> Result<Response, ServiceError> {
    let by = Actor::<Editor>::authorize(&user)?;
    let id = state.services.alerts.add_silence(&by, s).await?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "id": id }))).into_response())
}

async fn expire_silence(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ServiceError> {
    let by = Actor::<Editor>::authorize(&user)?;
    state.services.alerts.end_silence(&by, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn rules(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
) -> Result<Response, ServiceError> {
    let by = Actor::<Viewer>::authorize(&user)?;
    let r = state.services.alerts.rules(&by).await?;
    Ok(Json(serde_json::json!({ "rules": r })).into_response())
}

async fn update_rule(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(id): Path<i64>,
    Json(u): Json<RuleUpdate>,
) -> Result<StatusCode, ServiceError> {
    let by = Actor::<Editor>::authorize(&user)?;
    state.services.alerts.update_rule(&by, id, u).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new rule (`POST /api/v1/rules`).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRule {
    name: String,
    kind: String,
    #[serde(default)]
    domain: Option<String>,
    #[serde(default)]
    params: serde_json::Map<String, serde_json::Value>,
}

async fn add_rule(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Json(r): Json<NewRule>,
) -> Result<Response, ServiceError> {
    let by = Actor::<Editor>::authorize(&user)?;
    let id = state
        .services
        .alerts
        .add_rule(&by, &r.name, &r.kind, r.domain.as_deref(), &r.params)
        .await?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "id": id }))).into_response())
}

async fn update_channel(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(id): Path<i64>,
    Json(mut c): Json<ChannelRow>,
) -> Result<StatusCode, ServiceError> {
    let by = Actor::<Admin>::authorize(&user)?;
    c.id = id;
    state.services.alerts.update_channel(&by, c).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn channels(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
) -> Result<Response, ServiceError> {
    let by = Actor::<Admin>::authorize(&user)?;
    let c = state.services.alerts.channels(&by).await?;
    Ok(
        Json(serde_json::json!({ "channels": c.iter().map(crate::service::alerts::redact_channel).collect::<Vec<_>>() }))
            .into_response(),
    )
}

async fn add_channel(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Json(c): Json<ChannelRow>,
) -> Result<Response, ServiceError> {
    let by = Actor::<Admin>::authorize(&user)?;
    let id = state.services.alerts.add_channel(&by, c).await?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "id": id }))).into_response())
}

async fn delete_channel(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ServiceError> {
    let by = Actor::<Admin>::authorize(&user)?;
    state.services.alerts.delete_channel(&by, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn test_channel(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(id): Path<i64>,
) -> Result<Response, ServiceError> {
    let by = Actor::<Admin>::authorize(&user)?;
    let n = state.services.alerts.test_channel(&by, id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "notification": n })),
    )
        .into_response())
}
