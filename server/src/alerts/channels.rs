//! Delivering a notification: e-mail through SMTP (lettre; implicit TLS, STARTTLS or plain on
//! loopback), Slack and Microsoft Teams incoming webhooks, and a generic JSON webhook with an
//! optional HMAC-SHA256 signature. HTTP is HTTP/1.1 with redirects never followed, a timeout and a
//! bounded read of the answer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::Value;

use crate::store::alerts::ChannelRow;

/// How channels reach the network.
#[derive(Clone)]
pub struct Delivery {
    /// TLS client settings (WebPKI plus `TLSWATCH_EXTRA_CA_FILE`).
    pub tls: Arc<rustls::ClientConfig>,
    /// Extra PEM roots, for SMTP servers on a private CA.
    pub extra_ca_pem: Option<Vec<u8>>,
    /// Per attempt.
    pub timeout: Duration,
    /// Whether channels may connect to loopback, private and other non-public addresses
    /// (`TLSWATCH_ALERT_ALLOW_PRIVATE`). Off: a channel cannot be aimed at the internal network.
    pub allow_private: bool,
}

/// Resolves `host` and picks the address to connect to: the first public one, or any when
/// private addresses are allowed. The connection then goes to exactly that address, so a
/// second DNS answer cannot point it elsewhere.
pub async fn pinned_address(
    host: &str,
    port: u16,
    allow_private: bool,
) -> Result<SocketAddr, String> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("{host} has no address"));
    }
    addrs
        .iter()
        .copied()
        .find(|a| allow_private || crate::check::guard::is_public(a.ip()))
        .ok_or_else(|| {
            format!(
                "{host} resolves to non-public addresses only ({}); set TLSWATCH_ALERT_ALLOW_PRIVATE=true to allow them",
                addrs
                    .iter()
                    .map(|a| a.ip().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
}

/// Signature header of the generic webhook: `sha256=` + hex HMAC of the body.
pub const SIGNATURE_HEADER: &str = "x-tlswatch-signature";

/// HMAC-SHA256 of `body` with `secret`, hex.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn text_of(payload: &Value) -> (String, String) {
    let title = payload["title"].as_str().unwrap_or("tlswatch").to_string();
    let mut lines = Vec::new();
    if let Some(alerts) = payload["alerts"].as_array() {
        for a in alerts {
            let mut l = format!(
                "[{}] {}",
                a["state"].as_str().unwrap_or("").to_uppercase(),
                a["reason"].as_str().unwrap_or("")
            );
            if let Some(url) = a["url"].as_str() {
                l.push_str(&format!(" {url}"));
            }
            lines.push(l);
        }
    }
    if let Some(t) = payload["text"].as_str() {
        lines.push(t.to_string());
    }
    (title, lines.join("\n"))
}

/// What a channel of `kind` sends for `payload`: the webhook's JSON, Slack's and Teams'
/// message JSON, or the e-mail's subject and text. The same code sends it, so a preview is
/// what arrives.
pub fn rendered(kind: &str, payload: &Value) -> String {
    let (title, text) = text_of(payload);
    match kind {
        "slack" => serde_json::json!({ "text": format!("*{title}*\n{text}") }).to_string(),
        "teams" => serde_json::json!({
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "summary": title,
            "title": title,
            "text": text.replace('\n', "\n\n"),
        })
        .to_string(),
        "email" => format!("Subject: {title}\n\n{text}"),
        _ => serde_json::to_string_pretty(payload).unwrap_or_default(),
    }
}

/// A sample firing alert as the notifier sends it, for previews.
pub fn sample_payload(public_url: Option<&str>) -> Value {
    let url = format!(
        "{}/domains/example.com",
        public_url.unwrap_or("").trim_end_matches('/')
    );
    serde_json::json!({
        "version": 1,
        "status": "firing",
        "group_key": "1:example.com",
        "title": "tlswatch: 1 alert firing for example.com",
        "text": "",
        "alerts": [{
            "id": 1, "state": "firing", "labels": {"rule": "failure_spike", "domain": "example.com"},
            "domain": "example.com", "value": 0.124, "baseline": 0.004, "threshold": 0.05,
            "reason": "failure rate 12.4 % on 2026-11-30 (baseline 0.4 %, threshold 5.0 %)",
            "started_at": 1_764_460_800, "fired_at": 1_764_460_800, "resolved_at": null,
            "acknowledged_by": null, "url": url,
        }],
        "sent_at": 1_764_460_800,
    })
}

impl Delivery {
    /// Sends `payload` (the JSON built by the notifier) on `channel`.
    pub async fn send(&self, channel: &ChannelRow, payload: &Value) -> Result<(), String> {
        let cfg = &channel.config;
        let (title, text) = text_of(payload);
        match channel.kind.as_str() {
            "webhook" => {
                let url = cfg["url"].as_str().ok_or("no url")?;
                let body = serde_json::to_vec(payload).map_err(|e| e.to_string())?;
                let mut headers = vec![(
                    "x-tlswatch-event".to_string(),
                    payload["status"].as_str().unwrap_or("").to_string(),
                )];
                if let Some(secret) = cfg["secret"].as_str().filter(|s| !s.is_empty()) {
                    headers.push((
                        SIGNATURE_HEADER.into(),
                        format!("sha256={}", sign(secret, &body)),
                    ));
                }
                self.post(url, body, &headers).await
            }
            "slack" | "teams" => {
                let url = cfg["url"].as_str().ok_or("no url")?;
                self.post(url, rendered(&channel.kind, payload).into_bytes(), &[])
                    .await
            }
            "email" => self.email(cfg, &title, &text).await,
            other => Err(format!("unknown channel kind {other:?}")),
        }
    }

    async fn post(
        &self,
        url: &str,
        body: Vec<u8>,
        headers: &[(String, String)],
    ) -> Result<(), String> {
        let uri: http::Uri = url.parse().map_err(|e| format!("bad URL: {e}"))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err("the URL must start with https:// or http://".into()),
        };
        let host = uri
            .host()
            .ok_or("URL without host")?
            .trim_matches(['[', ']'])
            .to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let path = uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        let work = async {
            let addr = pinned_address(&host, port, self.allow_private).await?;
            let tcp = tokio::net::TcpStream::connect(addr)
                .await
                .map_err(|e| format!("connect {host}:{port}: {e}"))?;
            let req = {
                let mut b = http::Request::post(path.as_str())
                    .header(
                        http::header::HOST,
                        uri.authority().map(|a| a.as_str()).unwrap_or(&host),
                    )
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .header(
                        http::header::USER_AGENT,
                        concat!("tlswatch/", env!("CARGO_PKG_VERSION")),
                    );
                for (k, v) in headers {
                    b = b.header(k.as_str(), v.as_str());
                }
                b.body(Full::new(Bytes::from(body)))
                    .map_err(|e| e.to_string())?
            };
            if https {
                let name = rustls::pki_types::ServerName::try_from(host.clone())
                    .map_err(|e| e.to_string())?;
                let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(|e| format!("TLS: {e}"))?;
                send_http(TokioIo::new(tls), req).await
            } else {
                send_http(TokioIo::new(tcp), req).await
            }
        };
        match tokio::time::timeout(self.timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {} s", self.timeout.as_secs())),
        }
    }

    async fn email(&self, cfg: &Value, title: &str, text: &str) -> Result<(), String> {
        use lettre::message::Mailbox;
        use lettre::transport::smtp::authentication::Credentials;
        use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
        use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
        let host = cfg["host"].as_str().ok_or("no SMTP host")?;
        let port = cfg["port"].as_u64().unwrap_or(587) as u16;
        let from: Mailbox = cfg["from"]
            .as_str()
            .ok_or("no from address")?
            .parse()
            .map_err(|e| format!("from: {e}"))?;
        let to: Vec<Mailbox> = cfg["to"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .filter_map(|s| s.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        if to.is_empty() {
            return Err("no recipient".into());
        }
        let mut msg = Message::builder()
            .from(from)
            .subject(title.replace(['\r', '\n'], " "));
        for t in to {
            msg = msg.to(t);
        }
        let msg = msg.body(text.to_string()).map_err(|e| e.to_string())?;
        let mut params = TlsParameters::builder(host.to_string());
        if let Some(pem) = &self.extra_ca_pem {
            for block in pem_blocks(pem) {
                if let Ok(c) = Certificate::from_pem(block.as_bytes()) {
                    params = params.add_root_certificate(c);
                }
            }
        }
        let params = params.build_rustls().map_err(|e| e.to_string())?;
        let tls = match cfg["tls"].as_str().unwrap_or("starttls") {
            "implicit" => Tls::Wrapper(params),
            "starttls" => Tls::Required(params),
            "none" => Tls::None,
            other => {
                return Err(format!(
                    "tls must be implicit, starttls or none, not {other:?}"
                ))
            }
        };
        // Connect to the checked address; TLS still verifies the host name.
        let addr = pinned_address(host, port, self.allow_private).await?;
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(addr.ip().to_string())
                .port(port)
                .tls(tls)
                .timeout(Some(self.timeout));
        if let (Some(u), Some(p)) = (cfg["username"].as_str(), cfg["password"].as_str()) {
            builder = builder.credentials(Credentials::new(u.to_string(), p.to_string()));
        }
        builder
            .build()
            .send(msg)
            .await
            .map(|_| ())
            .map_err(|e| format!("SMTP: {e}"))
    }
}

fn pem_blocks(pem: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(pem);
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        cur.push_str(line);
        cur.push('\n');
        if line.starts_with("-----END") {
            out.push(std::mem::take(&mut cur));
        }
    }
    out
}

async fn send_http<IO>(io: TokioIo<IO>, req: http::Request<Full<Bytes>>) -> Result<(), String>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    let driver = tokio::spawn(conn);
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    let status = resp.status();
    // Drain a little of the body so the connection ends cleanly; its text is never recorded
    // (it could hold whatever an internal service answers).
    let _ = Limited::new(resp.into_body(), 4096).collect().await;
    driver.abort();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!(
            "HTTP {} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        ))
    }
}
