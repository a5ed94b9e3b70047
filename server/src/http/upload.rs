//! `POST /api/upload`: one report file per request from the upload page (editor role).
//! The file name travels URL-encoded in `X-Filename`; the answer is the file's outcome as JSON.

use app::auth::{CurrentUser, Role};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};

use super::AppState;
use crate::ingest::{self, now_unix};

/// The upload route, bounded by the input limit.
pub fn router(max_input: usize) -> Router<AppState> {
    Router::new()
        .route("/api/upload", post(upload))
        .layer(DefaultBodyLimit::max(max_input))
}

async fn upload(
    State(state): State<AppState>,
    user: Option<Extension<CurrentUser>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(Extension(user)) = user else {
        return (StatusCode::UNAUTHORIZED, "sign in first\n").into_response();
    };
    if !user.can(Role::Editor) {
        return (StatusCode::FORBIDDEN, "uploading needs the editor role\n").into_response();
    }
    let name = headers
        .get("x-filename")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned()
        })
        .unwrap_or_else(|| "upload".into());
    let name = crate::domain::report::truncate(&name, 255).to_owned();
    let limits = state.limits;
    let source = format!("upload by {}: {name}", user.email);
    let prepared = match tokio::task::spawn_blocking(move || {
        ingest::prepare(
            &body,
            None,
            Some(&name),
            source,
            "upload",
            &limits,
            now_unix(),
        )
    })
    .await
    {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "upload preparation failed");
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response();
        }
    };
    match ingest::commit(&state.store, vec![prepared], state.domain_policy).await {
        Ok(mut o) => {
            let o = o.remove(0);
            if o.status == ingest::Status::Imported {
                state.alert_wake.notify_one();
            }
            Json(o).into_response()
        }
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "storing an upload failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the upload could not be stored; try again\n",
            )
                .into_response()
        }
    }
}
