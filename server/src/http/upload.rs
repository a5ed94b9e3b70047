//! `POST /api/upload`: one report file per request from the upload page (editor role).
//! The file name travels URL-encoded in `X-Filename`; the answer is the file's outcome as JSON.

use app::auth::CurrentUser;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json, Router};

use super::routes::Routes;
use super::AppState;
use crate::service::{Actor, Editor};

/// The upload route.
pub fn routes() -> Routes {
    Routes::new().post("/api/upload", upload)
}

/// The upload route, bounded by the input limit.
pub fn router(max_input: usize) -> Router<AppState> {
    routes()
        .into_router()
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
    let by = match Actor::<Editor>::authorize(&user) {
        Ok(by) => by,
        Err(e) => return e.into_response(),
    };
    let name = headers
        .get("x-filename")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned()
        })
        .unwrap_or_else(|| "upload".into());
    match state.services.intake.upload(&by, body, &name).await {
        Ok(o) => Json(o).into_response(),
        Err(e) => e.into_response(),
    }
}
