//! `/api/v1/domains/{domain}/policy`: the domain's hosted MTA-STS policy. Reading needs the
//! viewer role; publishing, rolling back and stopping need the editor role.

use app::auth::CurrentUser;
use app::hosting::PolicyChange;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;

use super::routes::Routes;
use super::AppState;
use crate::service::{Actor, Editor, ServiceError, Viewer};

/// Routes.
pub fn routes() -> Routes {
    Routes::new()
        .get("/api/v1/domains/{domain}/policy", view)
        .put("/api/v1/domains/{domain}/policy", change)
        .delete("/api/v1/domains/{domain}/policy", stop)
        .post(
            "/api/v1/domains/{domain}/policy/rollback/{version}",
            rollback,
        )
}

async fn view(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(domain): Path<String>,
) -> Result<Response, ServiceError> {
    let by = Actor::<Viewer>::authorize(&user)?;
    Ok(Json(state.services.policies.view(&by, &domain).await?).into_response())
}

/// A JSON body of type `T`, with the reason when it is not one (unknown keys named).
fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ServiceError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de)
        .map_err(|e| ServiceError::Invalid(format!("invalid request body: {e}")))
}

async fn change(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(domain): Path<String>,
    body: Bytes,
) -> Result<Response, ServiceError> {
    let by = Actor::<Editor>::authorize(&user)?;
    let change: PolicyChange = parse(&body)?;
    Ok(Json(
        state
            .services
            .policies
            .change(&by, &domain, &change)
            .await?,
    )
    .into_response())
}

async fn stop(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(domain): Path<String>,
) -> Result<Response, ServiceError> {
    let by = Actor::<Editor>::authorize(&user)?;
    Ok(Json(state.services.policies.stop(&by, &domain).await?).into_response())
}

/// Optional body of a rollback.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RollbackBody {
    override_reason: Option<String>,
}

async fn rollback(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path((domain, version)): Path<(String, i64)>,
    body: Bytes,
) -> Result<Response, ServiceError> {
    let by = Actor::<Editor>::authorize(&user)?;
    let body: RollbackBody = if body.iter().all(u8::is_ascii_whitespace) {
        RollbackBody::default()
    } else {
        parse(&body)?
    };
    Ok(Json(
        state
            .services
            .policies
            .rollback(&by, &domain, version, body.override_reason.as_deref())
            .await?,
    )
    .into_response())
}
