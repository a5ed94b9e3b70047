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
use axum::{Extension, Router};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use super::routes::Routes;
use super::AppState;
use crate::ingest::Status;
use crate::service::intake::Received;

/// Receiver settings.
#[derive(Clone)]
pub struct Receiver {
    /// When set, only `POST /tlsrpt/{secret}` accepts reports.
    pub secret: Option<String>,
    /// Requests per minute per client (an IPv4 address or an IPv6 /64).
    pub limiter: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    /// Proxies whose `X-Forwarded-For` is believed; every other peer is the client itself.
    pub trusted_proxies: Arc<Vec<IpNet>>,
    /// Reports being read and prepared at once, all clients together; a request waits up to
    /// 5 s for its turn, then the receiver answers 503 with `Retry-After`.
    pub in_flight: Arc<Semaphore>,
}

impl Receiver {
    /// A receiver allowing `per_minute` requests per client (bursts of the same size).
    pub fn new(secret: Option<String>, per_minute: u32) -> Self {
        let quota =
            Quota::per_minute(NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN));
        Self {
            secret: secret.filter(|s| !s.is_empty()),
            limiter: Arc::new(RateLimiter::keyed(quota)),
            trusted_proxies: Arc::new(Vec::new()),
            in_flight: Arc::new(Semaphore::new(DEFAULT_IN_FLIGHT)),
        }
    }

    /// Believes `X-Forwarded-For` from these proxies only.
    pub fn with_trusted_proxies(mut self, proxies: Vec<IpNet>) -> Self {
        self.trusted_proxies = Arc::new(proxies);
        self
    }

    /// At most `n` reports prepared at once.
    pub fn with_max_in_flight(mut self, n: usize) -> Self {
        self.in_flight = Arc::new(Semaphore::new(n.max(1)));
        self
    }

    /// The client a request comes from: the peer, or, when the peer is a trusted proxy, the
    /// right-most address in `X-Forwarded-For` that is not itself a trusted proxy.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let trusted = |ip: &IpAddr| self.trusted_proxies.iter().any(|n| n.contains(ip));
        if !trusted(&peer) {
            return peer;
        }
        let mut client = peer;
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect();
        for hop in hops.iter().rev() {
            match hop.trim().parse::<IpAddr>() {
                Ok(ip) => {
                    client = ip;
                    if !trusted(&ip) {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        client
    }

    /// Drops limiter state of clients that have been quiet (bounded memory whatever the
    /// number of addresses seen).
    pub fn prune(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// Reports prepared at once by default.
pub const DEFAULT_IN_FLIGHT: usize = 64;

/// The rate-limit key of a client: the address for IPv4, the /64 for IPv6 (one customer
/// usually holds a whole /64, so limiting single addresses would limit nothing).
pub fn rate_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut seg = v6.segments();
                seg[4..].fill(0);
                IpAddr::V6(std::net::Ipv6Addr::from(seg))
            }
        },
    }
}

/// Routes of the receiver, with the body limit of the configured input size. The rate limit
/// is checked before the body is read.
pub fn router(max_input: usize, state: AppState) -> Router<AppState> {
    routes()
        .into_router()
        .layer(DefaultBodyLimit::max(max_input))
        .layer(axum::middleware::from_fn_with_state(state, rate_limit))
}

/// The receiver's routes (open to anyone: sending mail servers do not sign in).
pub fn routes() -> Routes {
    Routes::new()
        .post("/tlsrpt", receive_open)
        .post("/tlsrpt/{secret}", receive_secret)
}

/// The client a receiver request comes from, worked out once by [`rate_limit`].
#[derive(Debug, Clone, Copy)]
struct Client(IpAddr);

/// Refuses a client over its rate before anything of its body is read.
async fn rate_limit(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let client = state.receiver.client(peer.ip(), request.headers());
    request.extensions_mut().insert(Client(client));
    if state.receiver.limiter.check_key(&rate_key(client)).is_err() {
        crate::telemetry::count_receiver_refusal("rate");
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "60")],
            "too many reports from this address; retry later\n",
        )
            .into_response();
    }
    // At most `in_flight` reports are read and prepared at once, all clients together; a
    // burst waits a moment for its turn, beyond that it is told to come back.
    let permit = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        state.receiver.in_flight.clone().acquire_owned(),
    )
    .await;
    let Ok(Ok(permit)) = permit else {
        crate::telemetry::count_receiver_refusal("busy");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "5")],
            "too many reports are being processed; retry shortly\n",
        )
            .into_response();
    };
    // The handler gives the slot back once the report is prepared (it then waits for its
    // transaction under the intake's byte bound); at the latest it goes with the request.
    request
        .extensions_mut()
        .insert(Slot(Arc::new(std::sync::Mutex::new(Some(permit)))));
    next.run(request).await
}

/// A receiver request's place among the reports read and prepared at once.
#[derive(Clone)]
struct Slot(Arc<std::sync::Mutex<Option<tokio::sync::OwnedSemaphorePermit>>>);

impl Slot {
    fn release(&self) {
        drop(self.0.lock().unwrap_or_else(|e| e.into_inner()).take());
    }
}

async fn receive_open(
    state: State<AppState>,
    peer: Extension<Client>,
    slot: Extension<Slot>,
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
    receive(state, peer, slot, headers, body).await
}

async fn receive_secret(
    state: State<AppState>,
    Path(secret): Path<String>,
    peer: Extension<Client>,
    slot: Extension<Slot>,
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
    receive(state, peer, slot, headers, body).await
}

#[tracing::instrument(skip_all, fields(%client, bytes = body.len()))]
async fn receive(
    State(state): State<AppState>,
    Extension(Client(client)): Extension<Client>,
    Extension(slot): Extension<Slot>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
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
    let received = Received {
        body,
        media_type: essence,
        client: client.to_string(),
    };
    let intake = &state.services.intake;
    let outcome = match intake.prepare_received(received).await {
        Ok(prepared) => {
            slot.release();
            intake.commit_received(prepared).await
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok(o) => {
            tracing::info!(status = ?o.status, reports = o.reports, reason = o.reason.as_deref().unwrap_or(""), "report received over HTTPS");
            match o.status {
                Status::Imported | Status::Duplicate => {
                    (StatusCode::OK, "stored\n").into_response()
                }
                Status::Rejected => (
                    StatusCode::BAD_REQUEST,
                    format!("rejected: {}\n", o.reason.unwrap_or_default()),
                )
                    .into_response(),
            }
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the report could not be stored; retry later\n",
        )
            .into_response(),
    }
}
