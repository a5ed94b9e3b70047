//! `/api/v1`: the REST API for team tools (session or `Authorization: Bearer` token, viewer role).

use app::auth::{CurrentUser, Role};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::Deserialize;

use super::AppState;
use crate::domain::days::{day_of, format_day, parse_day};

/// Routes under `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/domains", get(domains))
}

/// `from`/`to`: inclusive UTC days, `YYYY-MM-DD`; default the last 30 days.
#[derive(Debug, Deserialize)]
pub struct Range {
    from: Option<String>,
    to: Option<String>,
}

fn range(q: &Range) -> Result<(i64, i64), (StatusCode, String)> {
    let bad = |what: &str| {
        (
            StatusCode::BAD_REQUEST,
            format!("{what} must be a date YYYY-MM-DD\n"),
        )
    };
    let to = match &q.to {
        Some(s) => parse_day(s).ok_or_else(|| bad("to"))?,
        None => day_of(chrono::Utc::now()),
    };
    let from = match &q.from {
        Some(s) => parse_day(s).ok_or_else(|| bad("from"))?,
        None => to - 29,
    };
    if from > to || to - from > 3660 {
        return Err((
            StatusCode::BAD_REQUEST,
            "from must be before to, at most 10 years apart\n".into(),
        ));
    }
    Ok((from, to))
}

async fn domains(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Query(q): Query<Range>,
) -> Response {
    if !user.can(Role::Viewer) {
        return StatusCode::FORBIDDEN.into_response();
    }
    let (from, to) = match range(&q) {
        Ok(r) => r,
        Err(r) => return r.into_response(),
    };
    match state.store.domain_totals(from, to).await {
        Ok(rows) => Json(serde_json::json!({
            "from": format_day(from),
            "to": format_day(to),
            "domains": rows.iter().map(|d| serde_json::json!({"domain": d.domain, "success": d.success, "failure": d.failure, "reports": d.reports})).collect::<Vec<_>>(),
        }))
        .into_response(),
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "api domains failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response()
        }
    }
}
