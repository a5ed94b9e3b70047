//! The lab's HTTPS policy host: answers per host name, counts connections.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::*;

/// What the policy host answers for one host name.
#[derive(Debug, Clone)]
pub struct PolicyResponse {
    /// Status.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
    /// Answer 403 to user agents containing this text (bot protection).
    pub block_user_agent: Option<String>,
}

impl PolicyResponse {
    /// 200 text/plain with `body`.
    pub fn ok(body: &str) -> Self {
        Self {
            status: 200,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: body.as_bytes().to_vec(),
            block_user_agent: None,
        }
    }
}

/// An HTTPS server answering `/.well-known/mta-sts.txt` per `Host`.
pub struct HttpsServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Connections accepted so far.
    pub accepted: Arc<std::sync::atomic::AtomicUsize>,
    /// Certificates by SNI.
    pub certs: Arc<SniCerts>,
    responses: Arc<RwLock<HashMap<String, PolicyResponse>>>,
    default: Arc<RwLock<Option<PolicyResponse>>>,
    task: JoinHandle<()>,
}

impl Drop for HttpsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HttpsServer {
    /// Starts on `addr` (port 0: any).
    pub async fn start(addr: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let certs = Arc::new(SniCerts::default());
        let responses: Arc<RwLock<HashMap<String, PolicyResponse>>> = Arc::default();
        let default: Arc<RwLock<Option<PolicyResponse>>> = Arc::default();
        let acceptor = tokio_rustls::TlsAcceptor::from(server_config(certs.clone(), true));
        let (r, d) = (responses.clone(), default.clone());
        let accepted: Arc<std::sync::atomic::AtomicUsize> = Arc::default();
        let count = accepted.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                count.fetch_add(1, Ordering::Relaxed);
                let acceptor = acceptor.clone();
                let (r, d) = (r.clone(), d.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(
                        move |req: hyper::Request<hyper::body::Incoming>| {
                            let (r, d) = (r.clone(), d.clone());
                            async move {
                                let host = req
                                    .headers()
                                    .get(http::header::HOST)
                                    .and_then(|h| h.to_str().ok())
                                    .unwrap_or("")
                                    .split(':')
                                    .next()
                                    .unwrap_or("")
                                    .to_ascii_lowercase();
                                let ua = req
                                    .headers()
                                    .get(http::header::USER_AGENT)
                                    .and_then(|h| h.to_str().ok())
                                    .unwrap_or("")
                                    .to_string();
                                let chosen = r
                                    .read()
                                    .ok()
                                    .and_then(|m| m.get(&host).cloned())
                                    .or_else(|| d.read().ok().and_then(|x| x.clone()));
                                let mut b = hyper::Response::builder();
                                let body = match chosen {
                                    _ if req.uri().path() != "/.well-known/mta-sts.txt" => {
                                        b = b.status(404);
                                        b"not found".to_vec()
                                    }
                                    None => {
                                        b = b.status(404);
                                        b"not found".to_vec()
                                    }
                                    Some(p)
                                        if p.block_user_agent
                                            .as_deref()
                                            .is_some_and(|x| ua.contains(x)) =>
                                    {
                                        b = b.status(403).header("content-type", "text/html");
                                        b"<html>checking your browser</html>".to_vec()
                                    }
                                    Some(p) => {
                                        b = b.status(p.status);
                                        for (k, v) in &p.headers {
                                            b = b.header(k.as_str(), v.as_str());
                                        }
                                        p.body.clone()
                                    }
                                };
                                Ok::<_, std::convert::Infallible>(
                                    b.body(http_body_util::Full::new(hyper::body::Bytes::from(
                                        body,
                                    )))
                                    .expect("response"),
                                )
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Ok(Self {
            addr,
            accepted,
            certs,
            responses,
            default,
            task,
        })
    }

    /// Answers requests for `host` with `response`.
    pub fn serve(&self, host: &str, response: PolicyResponse) {
        if let Ok(mut m) = self.responses.write() {
            m.insert(host.to_ascii_lowercase(), response);
        }
    }

    /// Answers requests for unknown hosts with `response`.
    pub fn serve_default(&self, response: PolicyResponse) {
        if let Ok(mut d) = self.default.write() {
            *d = Some(response);
        }
    }
}
