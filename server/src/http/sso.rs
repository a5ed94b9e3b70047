//! Single sign-on: `/auth/oidc/start` sends the browser to the identity provider,
//! `/auth/oidc/callback` is where it comes back (the redirect URI to register at the
//! provider: `TLSWATCH_PUBLIC_URL` + `/auth/oidc/callback`).

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use tower_sessions::Session;

use super::routes::Routes;
use super::AppState;
use crate::auth::oidc::{Pending, SsoError};

/// The session key of a sign-in under way.
const PENDING: &str = "oidc_pending";

/// Routes of single sign-on (public: they are how one signs in).
pub fn routes() -> Routes {
    Routes::new()
        .get("/auth/oidc/start", start)
        .get("/auth/oidc/callback", callback)
}

/// Where the provider sends the browser back.
fn redirect_uri(state: &AppState, headers: &HeaderMap) -> String {
    super::url_of(state, headers, "/auth/oidc/callback")
}

/// A page saying why signing in did not work, with the way back.
fn refusal(status: StatusCode, why: &str) -> Response {
    let why = html_escape::encode_text(why);
    (
        status,
        Html(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Sign-in refused · tlswatch</title></head>\
             <body><main><h1>You could not be signed in</h1><p id=\"sso-error\" role=\"alert\">{why}</p>\
             <p><a href=\"/login\">Back to the sign-in page</a></p></main></body></html>"
        )),
    )
        .into_response()
}

/// `?next=` of the start.
#[derive(Debug, Deserialize)]
pub struct Start {
    next: Option<String>,
}

async fn start(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Query(q): Query<Start>,
) -> Response {
    let Some(sso) = &state.sso else {
        return (StatusCode::NOT_FOUND, "single sign-on is not set up here\n").into_response();
    };
    let next = q
        .next
        .as_deref()
        .and_then(app::auth::safe_next)
        .unwrap_or("/");
    match sso.start(&redirect_uri(&state, &headers), next).await {
        Ok((url, pending)) => {
            if session.insert(PENDING, &pending).await.is_err() {
                return refusal(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the sign-in could not be started; try again",
                );
            }
            Redirect::to(&url).into_response()
        }
        Err(e) => refusal(StatusCode::BAD_GATEWAY, &e.to_string()),
    }
}

/// What the provider sends back.
#[derive(Debug, Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

async fn callback(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Query(q): Query<Callback>,
    req: axum::extract::Request,
) -> Response {
    let Some(sso) = &state.sso else {
        return (StatusCode::NOT_FOUND, "single sign-on is not set up here\n").into_response();
    };
    let pending: Option<Pending> = session.remove(PENDING).await.ok().flatten();
    if let Some(error) = q.error {
        let said = q.error_description.unwrap_or(error);
        return refusal(
            StatusCode::FORBIDDEN,
            &format!(
                "the identity provider did not sign you in: {}",
                crate::domain::report::truncate(&clean(&said), 300)
            ),
        );
    }
    let (Some(pending), Some(code), Some(returned)) = (pending, q.code, q.state) else {
        return refusal(
            StatusCode::BAD_REQUEST,
            "this sign-in is unknown or too old (or was started in another browser); start it again",
        );
    };
    let next = pending.next.clone();
    let identity = match sso
        .finish(pending, &code, &returned, &redirect_uri(&state, &headers))
        .await
    {
        Ok(i) => i,
        Err(SsoError::Refused(why)) => return refusal(StatusCode::FORBIDDEN, &why),
        Err(SsoError::Failed(why)) => return refusal(StatusCode::BAD_REQUEST, &why),
    };
    let placement = match crate::auth::oidc::place(sso.settings(), &identity.claims) {
        Ok(p) => p,
        Err(e) => {
            tracing::info!(email = %identity.email, reason = %e, "single sign-on refused");
            return refusal(StatusCode::FORBIDDEN, &e.to_string());
        }
    };
    let ip = super::security::client_ip(req.extensions());
    let user = match state
        .services
        .accounts
        .sso_sign_in(&identity.email, &placement, ip)
        .await
    {
        Ok(u) => u,
        Err(e @ crate::service::ServiceError::Unavailable) => {
            return refusal(StatusCode::SERVICE_UNAVAILABLE, &e.to_string())
        }
        Err(e) => return refusal(StatusCode::FORBIDDEN, &e.to_string()),
    };
    if super::security::start_session(&session, user.id)
        .await
        .is_err()
    {
        return refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "the session could not be stored; try again",
        );
    }
    let next = app::auth::safe_next(&next).unwrap_or("/").to_owned();
    Redirect::to(&next).into_response()
}

/// Provider words without control characters.
fn clean(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).collect()
}
