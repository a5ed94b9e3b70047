//! The hardened web surface: security headers with a per-response CSP nonce, CSRF protection by
//! origin checks, and the authentication gate in front of every non-public route.

use std::net::SocketAddr;

use app::auth::{CspNonce, CurrentUser};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use rand::RngCore;
use tower_sessions::Session;

use super::AppState;
use crate::ingest::now_unix;

/// Session keys.
pub const SESSION_USER: &str = "user_id";
/// Unix seconds of sign-in, for the absolute timeout.
pub const SESSION_LOGIN_AT: &str = "login_at";
/// Unix seconds the session's idle deadline was last moved.
pub const SESSION_SEEN_AT: &str = "seen_at";

/// The site's own files: the WASM, its glue, chunks and CSS under `/pkg/`, ECharts and the
/// icon (under their plain and their content-hashed names). The same for everyone, so a request
/// for one reads no session: a page load fetches a hundred of them.
pub fn is_static_asset(path: &str) -> bool {
    path.starts_with("/pkg/")
        || (path.starts_with("/echarts.min.") && path.ends_with(".js") && !path[1..].contains('/'))
        || (path.starts_with("/favicon.") && path.ends_with(".svg") && !path[1..].contains('/'))
}

/// Paths anyone may request: health, the RFC 8460 receiver, static assets, sign-in and setup.
/// (The receiver's own routes stand outside this layer, see `router`; its entries here keep any
/// other path under `/tlsrpt` answered as not found rather than sent to sign-in.)
pub fn is_public(path: &str) -> bool {
    path == "/healthz"
        || path == "/tlsrpt"
        || path.starts_with("/tlsrpt/")
        || is_static_asset(path)
        || path == "/login"
        || path == "/setup"
        || path == "/auth/oidc/start"
        || path == "/auth/oidc/callback"
        || path.starts_with("/api/auth/")
}

/// Adds security headers; the CSP allows only this origin's scripts (the WASM included) and the
/// hydration script carrying this response's nonce.
pub async fn headers(mut req: Request, next: Next) -> Response {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    let nonce = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    req.extensions_mut().insert(CspNonce(nonce.clone()));
    let mut res = next.run(req).await;
    let csp = format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    );
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
    );
    res
}

/// Refuses state-changing requests that a browser sent from another site. Requests with a
/// bearer token carry no ambient credentials. The open receiver's routes stand outside this
/// layer (see `router`); other paths under `/tlsrpt` stay exempt, answered as not found.
pub async fn csrf(req: Request, next: Next) -> Response {
    let state_changing = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let path = req.uri().path();
    let exempt = path == "/tlsrpt"
        || path.starts_with("/tlsrpt/")
        || req.headers().contains_key(header::AUTHORIZATION);
    if state_changing && !exempt && !same_origin(&req) {
        return (StatusCode::FORBIDDEN, "cross-site request refused\n").into_response();
    }
    next.run(req).await
}

fn same_origin(req: &Request) -> bool {
    let h = req.headers();
    if let Some(site) = h.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return site == "same-origin" || site == "none";
    }
    let host = h.get(header::HOST).and_then(|v| v.to_str().ok());
    match (h.get(header::ORIGIN).and_then(|v| v.to_str().ok()), host) {
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority == host),
        (Some(_), None) => false,
        // No Origin and no Fetch Metadata: not a browser form or fetch; only allow it without cookies.
        (None, _) => !h.contains_key(header::COOKIE),
    }
}

/// Resolves the caller (bearer token on `/api/v1`, otherwise the session) into the request
/// extensions, and refuses anonymous requests to anything not public.
pub async fn authenticate(
    State(state): State<AppState>,
    session: Session,
    mut req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().to_owned();
    if is_static_asset(&path) {
        return next.run(req).await;
    }
    // Only owned values cross the awaits below (a request body is not `Sync`).
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().map(str::to_owned).unwrap_or_default());
    let user = match resolve(&state, &session, authorization, &path).await {
        Ok(u) => u,
        Err(resp) => return resp,
    };
    if let Some(u) = user {
        req.extensions_mut().insert(u);
    } else if !is_public(&path) {
        if path.starts_with("/api/") || path == "/metrics" {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "sign in or send an API token\n",
            )
                .into_response();
        }
        let next_path = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        return Redirect::to(&format!("/login?next={}", app::auth::urlencode(next_path)))
            .into_response();
    }
    next.run(req).await
}

async fn resolve(
    state: &AppState,
    session: &Session,
    authorization: Option<String>,
    path: &str,
) -> Result<Option<CurrentUser>, Response> {
    let internal = |_: crate::service::ServiceError| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "authentication unavailable\n",
        )
            .into_response()
    };
    if let Some(auth) = authorization {
        let Some(token) = auth.strip_prefix("Bearer ").map(str::trim) else {
            return Err((
                StatusCode::UNAUTHORIZED,
                "use Authorization: Bearer TOKEN\n",
            )
                .into_response());
        };
        if !path.starts_with("/api/v1/") && path != "/metrics" {
            return Err((
                StatusCode::UNAUTHORIZED,
                "API tokens are accepted on /api/v1 and /metrics only\n",
            )
                .into_response());
        }
        return match state
            .services
            .accounts
            .token_user(token)
            .await
            .map_err(internal)?
        {
            Some(user) => Ok(Some(user)),
            None => Err((StatusCode::UNAUTHORIZED, "unknown or revoked token\n").into_response()),
        };
    }
    // The session and its account in one read (tower-sessions would load the session, then
    // the account would be a second query). The session is loaded through tower-sessions
    // only when it changes below.
    let Some(id) = session.id() else {
        return Ok(None);
    };
    let Some(signed) = state
        .services
        .accounts
        .session(&id.to_string())
        .await
        .map_err(internal)?
    else {
        // Unknown or expired: signed out.
        return Ok(None);
    };
    let Some(user_id) = signed.number(SESSION_USER) else {
        return Ok(None);
    };
    let login_at = signed.number(SESSION_LOGIN_AT).unwrap_or(0);
    let seen = signed.number(SESSION_SEEN_AT).unwrap_or(login_at);
    let now = now_unix();
    if now - login_at > state.auth.absolute_timeout_secs {
        let _ = session.flush().await;
        return Ok(None);
    }
    match signed.user.filter(|u| u.id == user_id) {
        Some(user) => {
            // Use moves the idle deadline (the session is saved with a new expiry and its
            // cookie sent again). Not on every request, which would make every page and read
            // a write: once a twentieth of the idle time has passed since the last move.
            if now - seen >= (state.auth.idle_timeout_secs / 20).max(30) {
                let _ = session.insert(SESSION_SEEN_AT, now).await;
            }
            Ok(Some(user))
        }
        // The account is gone or disabled.
        None => {
            let _ = session.flush().await;
            Ok(None)
        }
    }
}

/// Signs `session` in as `user_id`: a new session id first (an id planted before sign-in is
/// worthless), then the user and the time of sign-in (for the absolute timeout). Every way of
/// signing in (password, first-run setup, single sign-on) ends here.
pub async fn start_session(
    session: &Session,
    user_id: i64,
) -> Result<(), tower_sessions::session::Error> {
    session.cycle_id().await?;
    session.insert(SESSION_USER, user_id).await?;
    session.insert(SESSION_LOGIN_AT, now_unix()).await
}

/// Client address of a request.
pub fn client_ip(req_ext: &axum::http::Extensions) -> Option<std::net::IpAddr> {
    req_ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())
}

/// Leptos answers a server function call whose arguments do not decode with a 500; that is the
/// caller's mistake, so it becomes a 400 with the same message.
pub async fn server_fn_bad_args(req: Request, next: Next) -> Response {
    let is_server_fn = req.uri().path().starts_with("/api/")
        && !req.uri().path().starts_with("/api/v1/")
        && req.uri().path() != "/api/upload";
    let res = next.run(req).await;
    if !is_server_fn || res.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let bytes = match axum::body::to_bytes(body, 64 * 1024).await {
        Ok(b) => b,
        Err(_) => return (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response(),
    };
    let text = String::from_utf8_lossy(&bytes);
    if text.starts_with("Args") || text.contains("Deserialization") || text.contains("deserializ") {
        parts.status = StatusCode::BAD_REQUEST;
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// Keeps a stale session cookie from undoing a sign-in. A request that arrives with the cookie
/// of a session that no longer exists (the one a sign-in just replaced, from a request that
/// was already on its way, or another tab) would have its response remove the session cookie;
/// landing after the sign-in's response, that removal signs the user out again. Only signing
/// out removes the cookie; otherwise a stale cookie stays and reads as signed out, harmlessly.
pub async fn keep_session_cookie(req: Request, next: Next) -> Response {
    let signing_out = req.uri().path() == <app::api::Logout as leptos::server_fn::ServerFn>::PATH;
    let mut response = next.run(req).await;
    if signing_out {
        return response;
    }
    let kept: Vec<HeaderValue> = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter(|v| !is_session_removal(v))
        .cloned()
        .collect();
    let before = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .count();
    if kept.len() != before {
        response.headers_mut().remove(header::SET_COOKIE);
        for v in kept {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

/// A `Set-Cookie` that removes the session cookie (empty value, `Max-Age=0`).
fn is_session_removal(v: &HeaderValue) -> bool {
    v.to_str()
        .is_ok_and(|s| s.starts_with(&format!("{SESSION_COOKIE}=")) && s.contains("Max-Age=0"))
}

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "tlswatch_session";
