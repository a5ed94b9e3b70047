//! The policy hosts: a request whose `Host` is `mta-sts.<domain>` never reaches the dashboard.
//! `GET /.well-known/mta-sts.txt` answers the domain's hosted policy (`text/plain`, CRLF),
//! `GET /.well-known/acme-challenge/TOKEN` a pending HTTP-01 challenge, anything else 404.
//! The same handler serves the HTTP listener (behind a TLS proxy, or for HTTP-01) and the
//! built-in TLS listener (`hosting::tls`).

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::service::policies::{Policies, Served};

/// The lower-case host a request is for, without the port.
pub fn request_host(headers: &axum::http::HeaderMap, uri: &axum::http::Uri) -> Option<String> {
    let raw = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| uri.host().map(str::to_owned))?;
    let host = strip_port(&raw);
    Some(host.trim_end_matches('.').to_ascii_lowercase())
}

/// `raw` without a `:port` (IPv6 literals keep their brackets).
fn strip_port(raw: &str) -> &str {
    if raw.starts_with('[') {
        return raw.find(']').map_or(raw, |i| &raw[..=i]);
    }
    raw.split(':').next().unwrap_or(raw)
}

/// Whether `host` is a policy host.
pub fn is_policy_host(host: &str) -> bool {
    host.starts_with("mta-sts.")
}

/// Layer: requests for a policy host are answered here, everything else goes on.
pub async fn intercept(State(policies): State<Policies>, req: Request, next: Next) -> Response {
    match request_host(req.headers(), req.uri()) {
        Some(host) if is_policy_host(&host) => {
            let (method, path) = (req.method().clone(), req.uri().path().to_owned());
            answer(&policies, &host, &method, &path).await
        }
        _ => next.run(req).await,
    }
}

/// The policy host's answer to `method path`.
pub async fn answer(policies: &Policies, host: &str, method: &Method, path: &str) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return (StatusCode::METHOD_NOT_ALLOWED, "only GET\n").into_response();
    }
    if path == "/.well-known/mta-sts.txt" {
        return match policies.served(host).await {
            Ok(Served::Policy(text)) => {
                let mut r = text.into_response();
                r.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
                r
            }
            Ok(Served::Nothing) => not_found(),
            Err(e) => e.into_response(),
        };
    }
    if let Some(token) = path.strip_prefix("/.well-known/acme-challenge/") {
        return match policies.http_challenge(host, token).await {
            Ok(Some(answer)) => answer.into_response(),
            Ok(None) => not_found(),
            Err(e) => e.into_response(),
        };
    }
    not_found()
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(host: &str) -> Request {
        Request::builder()
            .uri("/.well-known/mta-sts.txt")
            .header(header::HOST, host)
            .body(axum::body::Body::empty())
            .unwrap()
    }

    fn request_host_of(r: &Request) -> Option<String> {
        request_host(r.headers(), r.uri())
    }

    #[test]
    fn host_is_read_without_port_and_case() {
        assert_eq!(
            request_host_of(&req("MTA-STS.Example.COM:8443")).as_deref(),
            Some("mta-sts.example.com")
        );
        assert_eq!(
            request_host_of(&req("mta-sts.example.com.")).as_deref(),
            Some("mta-sts.example.com")
        );
        assert_eq!(
            request_host_of(&req("[::1]:3000")).as_deref(),
            Some("[::1]")
        );
        assert!(is_policy_host("mta-sts.example.com"));
        assert!(!is_policy_host("tlswatch.example.com"));
    }
}
