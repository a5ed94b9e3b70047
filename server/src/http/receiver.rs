//! The RFC 8460 §5.4 HTTPS receiver: `POST /tlsrpt` (and `POST /tlsrpt/{secret}` when a secret
//! path is configured).
//!
//! TLS-RPT has no sender authentication, so this open endpoint only accepts reports for domains
//! already registered in tlswatch, never registers new ones, is rate-limited per client address,
//! and bounds everything it reads. It answers 200 only after the report is committed.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use subtle::ConstantTimeEq;

use super::AppState;
use crate::ingest::{self, now_unix, Status};
use crate::store::DomainPolicy;

/// Rejected HTTPS bodies are quarantined only up to this size: the endpoint is open to anyone,
/// so it must not become free storage. Enough to see what was sent.
const QUARANTINE_KEEP: usize = 64 * 1024;

/// Receiver settings.
#[derive(Clone)]
pub struct Receiver {
    /// When set, only `POST /tlsrpt/{secret}` accepts reports.
    pub secret: Option<String>,
    /// Requests per minute per client address.
    pub limiter: Arc<DefaultKeyedRateLimiter<IpAddr>>,
}

impl Receiver {
    /// A receiver allowing `per_minute` requests per client address (bursts of the same size).
    pub fn new(secret: Option<String>, per_minute: u32) -> Self {
        let quota =
            Quota::per_minute(NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN));
        Self {
            secret: secret.filter(|s| !s.is_empty()),
            limiter: Arc::new(RateLimiter::keyed(quota)),
        }
    }
}

/// Routes of the receiver, with the body limit of the configured input size.
pub fn router(max_input: usize) -> Router<AppState> {
    Router::new()
        .route("/tlsrpt", post(receive_open))
        .route("/tlsrpt/{secret}", post(receive_secret))
        .layer(DefaultBodyLimit::max(max_input))
}

async fn receive_open(
    state: State<AppState>,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if state.receiver.secret.is_some() {
        return (
            StatusCode::NOT_FOUND,
            "reports are accepted at the configured secret path\n",
        )
            .into_response();
    }
    receive(state, peer, headers, body).await
}

async fn receive_secret(
    state: State<AppState>,
    Path(secret): Path<String>,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ok = state
        .receiver
        .secret
        .as_deref()
        .is_some_and(|s| bool::from(s.as_bytes().ct_eq(secret.as_bytes())));
    if !ok {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    }
    receive(state, peer, headers, body).await
}

#[tracing::instrument(skip_all, fields(client = %peer.ip(), bytes = body.len()))]
async fn receive(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if state.receiver.limiter.check_key(&peer.ip()).is_err() {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "60")],
            "too many reports from this address; retry later\n",
        )
            .into_response();
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if !matches!(
        essence.as_str(),
        "application/tlsrpt+gzip"
            | "application/tlsrpt+json"
            | "application/gzip"
            | "application/json"
    ) {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send application/tlsrpt+gzip or application/tlsrpt+json (RFC 8460 §5.4)\n",
        )
            .into_response();
    }
    let limits = state.limits;
    let source = format!("https from {}", peer.ip());
    let prepared = tokio::task::spawn_blocking(move || {
        let mut p = ingest::prepare(
            &body,
            Some(&essence),
            None,
            source,
            "https",
            &limits,
            now_unix(),
        );
        if let Some(raw) = p.raw_if_rejected.as_mut() {
            raw.truncate(QUARANTINE_KEEP);
        }
        p
    })
    .await;
    let prepared = match prepared {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "report preparation task failed");
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response();
        }
    };
    match ingest::commit(&state.store, vec![prepared], DomainPolicy::KnownOnly).await {
        Ok(mut outcomes) => {
            let o = outcomes.remove(0);
            tracing::info!(status = ?o.status, reports = o.reports, reason = o.reason.as_deref().unwrap_or(""), "report received over HTTPS");
            match o.status {
                Status::Imported | Status::Duplicate => {
                    if o.status == Status::Imported {
                        state.alert_wake.notify_one();
                    }
                    (StatusCode::OK, "stored\n").into_response()
                }
                Status::Rejected => (
                    StatusCode::BAD_REQUEST,
                    format!("rejected: {}\n", o.reason.unwrap_or_default()),
                )
                    .into_response(),
            }
        }
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "storing a received report failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the report could not be stored; retry later\n",
            )
                .into_response()
        }
    }
}
