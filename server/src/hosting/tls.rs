//! The built-in TLS listener of the policy hosts (`TLSWATCH_POLICY_LISTEN`, usually `:443`).
//! The certificate is chosen by SNI from the database (cached for a minute, so a renewal by
//! another instance is picked up); a ClientHello offering `acme-tls/1` gets the pending
//! TLS-ALPN-01 challenge certificate instead. Only the policy hosts' answers are served here.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use rustls::server::{Acceptor, ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio_rustls::LazyConfigAcceptor;

use super::acme::TLS_ALPN_01;
use crate::http::policy_host;
use crate::service::policies::Policies;
use crate::store::Store;

/// How long a loaded certificate is used before it is read again.
const CACHE_FOR: Duration = Duration::from_secs(60);
/// Longest a client may take to say hello.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a connection may stay open.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);
/// The ALPN protocol of TLS-ALPN-01 (RFC 8737).
const ACME_TLS: &[u8] = b"acme-tls/1";

/// A server configuration with `chain_pem` and `key_pem`, offering `alpn`.
pub fn server_config(
    chain_pem: &str,
    key_pem: &str,
    alpn: &[u8],
) -> anyhow::Result<Arc<ServerConfig>> {
    let certs = rustls_pemfile::certs(&mut chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .context("reading the certificate chain")?;
    let key = rustls_pemfile::private_key(&mut key_pem.as_bytes())
        .context("reading the private key")?
        .context("no private key")?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let signing = provider
        .key_provider
        .load_private_key(key)
        .context("loading the private key")?;
    // A resolver instead of `with_single_cert`, which refuses the TLS-ALPN-01 certificate's
    // critical acmeIdentifier extension.
    let fixed = Fixed(Arc::new(CertifiedKey::new(certs, signing)));
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(fixed));
    config.alpn_protocols = vec![alpn.to_vec()];
    Ok(Arc::new(config))
}

/// Always the same certificate.
#[derive(Debug)]
struct Fixed(Arc<CertifiedKey>);

impl ResolvesServerCert for Fixed {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// Certificates by host, read from the database and kept for [`CACHE_FOR`].
#[derive(Clone, Default)]
struct Cache(Arc<Mutex<HashMap<String, Cached>>>);

/// A loaded configuration and when it was loaded.
type Cached = (Arc<ServerConfig>, Instant);

impl Cache {
    async fn config(&self, store: &Store, host: &str) -> anyhow::Result<Option<Arc<ServerConfig>>> {
        if let Some((c, at)) = self.0.lock().ok().and_then(|m| m.get(host).cloned()) {
            if at.elapsed() < CACHE_FOR {
                return Ok(Some(c));
            }
        }
        let Some(cert) = store.certificate(host).await? else {
            return Ok(None);
        };
        let config = server_config(&cert.cert_pem, &cert.key_pem, b"http/1.1")?;
        if let Ok(mut m) = self.0.lock() {
            if m.len() > 10_000 {
                m.clear();
            }
            m.insert(host.to_owned(), (config.clone(), Instant::now()));
        }
        Ok(Some(config))
    }
}

/// The bound listener.
pub struct PolicyListener {
    listener: TcpListener,
    policies: Policies,
    store: Store,
}

impl PolicyListener {
    /// Binds `addr`.
    pub async fn bind(addr: SocketAddr, store: Store, policies: Policies) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the policy listener {addr}"))?;
        Ok(Self {
            listener,
            policies,
            store,
        })
    }

    /// The address bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `stop` turns true.
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        tracing::info!(addr = %self.local_addr(), "policy host TLS listener");
        let cache = Cache::default();
        loop {
            let accepted = tokio::select! {
                a = self.listener.accept() => a,
                _ = stop.changed() => return,
            };
            let Ok((tcp, peer)) = accepted else {
                continue;
            };
            let (store, policies, cache) =
                (self.store.clone(), self.policies.clone(), cache.clone());
            tokio::spawn(async move {
                let served = tokio::time::timeout(
                    CONNECTION_TIMEOUT,
                    connection(tcp, &store, &policies, &cache),
                )
                .await;
                if let Ok(Err(e)) = served {
                    tracing::debug!(peer = %peer, error = %format!("{e:#}"), "policy host connection");
                }
            });
        }
    }
}

async fn connection(
    tcp: tokio::net::TcpStream,
    store: &Store,
    policies: &Policies,
    cache: &Cache,
) -> anyhow::Result<()> {
    let start = tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        LazyConfigAcceptor::new(Acceptor::default(), tcp),
    )
    .await
    .context("no ClientHello in time")?
    .context("reading the ClientHello")?;
    let hello = start.client_hello();
    let Some(host) = hello
        .server_name()
        .map(|s| s.trim_end_matches('.').to_ascii_lowercase())
    else {
        anyhow::bail!("no server name");
    };
    if !policy_host::is_policy_host(&host) {
        anyhow::bail!("not a policy host: {host:?}");
    }
    let acme = hello
        .alpn()
        .is_some_and(|mut protocols| protocols.any(|p| p == ACME_TLS));
    if acme {
        let now = crate::ingest::now_unix();
        let Some((_, pem)) = store.challenge(&host, TLS_ALPN_01, now).await? else {
            anyhow::bail!("no pending TLS-ALPN-01 challenge for {host}");
        };
        let config = server_config(&pem, &pem, ACME_TLS)?;
        // The handshake is the answer; nothing is served on this connection.
        let mut tls = start
            .into_stream(config)
            .await
            .context("TLS-ALPN-01 handshake")?;
        let _ = tokio::io::AsyncWriteExt::shutdown(&mut tls).await;
        return Ok(());
    }
    let Some(config) = cache.config(store, &host).await? else {
        anyhow::bail!("no certificate for {host} yet");
    };
    let tls = start.into_stream(config).await.context("TLS handshake")?;
    let policies = policies.clone();
    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let policies = policies.clone();
        let host = host.clone();
        async move {
            let (method, path) = (req.method().clone(), req.uri().path().to_owned());
            let target = policy_host::request_host(req.headers(), req.uri())
                .filter(|h| policy_host::is_policy_host(h))
                .unwrap_or(host);
            Ok::<_, std::convert::Infallible>(
                policy_host::answer(&policies, &target, &method, &path).await,
            )
        }
    });
    hyper::server::conn::http1::Builder::new()
        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
        .await
        .context("serving HTTP")?;
    Ok(())
}
