//! The network half of the checker: TLS handshakes that record what a sender would conclude
//! (without aborting, so the certificate can still be described), the policy fetch over
//! HTTP/1.1 with redirects never followed and a size cap, and the SMTP STARTTLS probe.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// What the handshake showed.
#[derive(Debug, Clone)]
pub struct TlsFacts {
    /// `TLSv1_3`, `TLSv1_2`.
    pub version: String,
    /// Negotiated cipher suite.
    pub cipher: String,
    /// The chain the server sent, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// `None` when the chain verified for the name; else why a sender would refuse it.
    pub verify_error: Option<rustls::Error>,
}

impl TlsFacts {
    /// Facts about the leaf certificate.
    pub fn leaf(&self) -> Option<CertInfo> {
        self.chain.first().and_then(|c| CertInfo::parse(c))
    }
}

/// The parts of a certificate the findings mention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Subject.
    pub subject: String,
    /// Issuer.
    pub issuer: String,
    /// DNS names in the subject alternative name extension.
    pub dns_names: Vec<String>,
    /// Unix seconds.
    pub not_before: i64,
    /// Unix seconds.
    pub not_after: i64,
    /// Public key algorithm and size, e.g. `EC P-256`, `RSA 2048`.
    pub key: String,
    /// SHA-256 of the DER, hex.
    pub sha256: String,
}

impl CertInfo {
    /// Parses a DER certificate.
    pub fn parse(der: &CertificateDer<'_>) -> Option<Self> {
        use sha2::Digest;
        use x509_parser::prelude::*;
        let (_, cert) = X509Certificate::from_der(der.as_ref()).ok()?;
        let dns_names = cert
            .subject_alternative_name()
            .ok()
            .flatten()
            .map(|san| {
                san.value
                    .general_names
                    .iter()
                    .filter_map(|n| match n {
                        GeneralName::DNSName(d) => Some(d.to_ascii_lowercase()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let key = match cert.public_key().parsed() {
            Ok(x509_parser::public_key::PublicKey::RSA(r)) => format!("RSA {}", r.key_size()),
            Ok(x509_parser::public_key::PublicKey::EC(e)) => format!("EC {} bits", e.key_size()),
            Ok(_) => cert.public_key().algorithm.algorithm.to_id_string(),
            Err(_) => "unknown".into(),
        };
        Some(Self {
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            dns_names,
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            key,
            sha256: hex::encode(sha2::Sha256::digest(der.as_ref())),
        })
    }
}

/// What a sender would report for a failed certificate validation (RFC 8460 result types).
pub fn result_type_of(err: &rustls::Error) -> &'static str {
    match err {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => "certificate-expired",
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                "certificate-host-mismatch"
            }
            _ => "certificate-not-trusted",
        },
        _ => "validation-failure",
    }
}

/// The chain a server presented and the verifier's verdict on it.
type Seen = (Vec<CertificateDer<'static>>, Option<rustls::Error>);

/// A verifier that asks the WebPKI verifier, records its verdict and the chain, and lets the
/// handshake finish so the certificate can be described even when a sender would refuse it.
#[derive(Debug)]
struct Recorder {
    inner: Arc<WebPkiServerVerifier>,
    seen: Arc<Mutex<Option<Seen>>>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
            .err();
        let mut chain = vec![end_entity.clone().into_owned()];
        chain.extend(intermediates.iter().map(|c| c.clone().into_owned()));
        if let Ok(mut slot) = self.seen.lock() {
            *slot = Some((chain, verdict));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// TLS settings of the checker.
#[derive(Clone)]
pub struct Tls {
    verifier: Arc<WebPkiServerVerifier>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl Tls {
    /// Verifies against `roots`.
    pub fn new(roots: RootCertStore) -> anyhow::Result<Self> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()?;
        Ok(Self { verifier, provider })
    }

    /// Handshakes over `io`. `sni`: the name to send and verify; `None` sends no SNI (the
    /// address is used as the server name, which rustls never sends).
    pub async fn handshake<IO>(
        &self,
        io: IO,
        sni: Option<&str>,
        ip: IpAddr,
        alpn_http1: bool,
    ) -> Result<(tokio_rustls::client::TlsStream<IO>, TlsFacts), String>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let seen = Arc::new(Mutex::new(None));
        let mut config = ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Recorder {
                inner: self.verifier.clone(),
                seen: seen.clone(),
            }))
            .with_no_client_auth();
        if alpn_http1 {
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
        }
        let name = match sni {
            Some(n) => ServerName::try_from(n.to_string()).map_err(|e| e.to_string())?,
            None => ServerName::IpAddress(ip.into()),
        };
        let stream = TlsConnector::from(Arc::new(config))
            .connect(name, io)
            .await
            .map_err(|e| describe_io_error(&e))?;
        let (_, conn) = stream.get_ref();
        let version = conn
            .protocol_version()
            .map(|v| format!("{v:?}"))
            .unwrap_or_default();
        let cipher = conn
            .negotiated_cipher_suite()
            .map(|c| format!("{:?}", c.suite()))
            .unwrap_or_default();
        let (chain, verify_error) = seen
            .lock()
            .ok()
            .and_then(|mut s| s.take())
            .unwrap_or_default();
        Ok((
            stream,
            TlsFacts {
                version,
                cipher,
                chain,
                verify_error,
            },
        ))
    }
}

fn describe_io_error(e: &std::io::Error) -> String {
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::AlertReceived(a)) => format!("the server sent TLS alert {a:?}"),
        Some(r) => r.to_string(),
        None => e.to_string(),
    }
}

/// Connects with a timeout.
pub async fn connect(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, String> {
    match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(format!("cannot connect to {addr}: {e}")),
        Err(_) => Err(format!(
            "no connection to {addr} within {}s",
            timeout.as_secs()
        )),
    }
}

/// The policy host's answer.
#[derive(Debug, Clone, Default)]
pub struct HttpAnswer {
    /// Status code.
    pub status: u16,
    /// `Location` of a redirect.
    pub location: Option<String>,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `Cache-Control`.
    pub cache_control: Option<String>,
    /// Body, at most the cap.
    pub body: Vec<u8>,
    /// The body (or its declared length) exceeded the cap.
    pub too_large: bool,
}

/// One policy fetch over one connection.
#[derive(Debug, Clone)]
pub struct Fetch {
    /// The handshake, if it completed.
    pub tls: Result<TlsFacts, String>,
    /// The HTTP answer, if the request completed.
    pub http: Result<HttpAnswer, String>,
    /// Total time for connect, TLS and GET.
    pub elapsed: Duration,
}

/// GETs `https://{host}/.well-known/mta-sts.txt` from `addr`, never following redirects.
pub async fn fetch_policy(
    tls: &Tls,
    host: &str,
    addr: SocketAddr,
    user_agent: &str,
    max_bytes: usize,
    timeout: Duration,
) -> Fetch {
    let started = Instant::now();
    let work = async {
        let tcp = connect(addr, timeout).await?;
        let (stream, facts) = tls.handshake(tcp, Some(host), addr.ip(), true).await?;
        let http = get(stream, host, user_agent, max_bytes).await;
        Ok::<_, String>((facts, http))
    };
    let (tls_result, http) = match tokio::time::timeout(timeout, work).await {
        Ok(Ok((facts, http))) => (Ok(facts), http),
        Ok(Err(e)) => (Err(e.clone()), Err(e)),
        Err(_) => {
            let e = format!("no answer within {}s", timeout.as_secs());
            (Err(e.clone()), Err(e))
        }
    };
    Fetch {
        tls: tls_result,
        http,
        elapsed: started.elapsed(),
    }
}

async fn get<IO>(
    io: IO,
    host: &str,
    user_agent: &str,
    max_bytes: usize,
) -> Result<HttpAnswer, String>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    let driver = tokio::spawn(conn);
    let req = http::Request::get("/.well-known/mta-sts.txt")
        .header(http::header::HOST, host)
        .header(http::header::USER_AGENT, user_agent)
        .header(http::header::ACCEPT, "text/plain")
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    let header = |name: http::header::HeaderName| {
        resp.headers()
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let mut answer = HttpAnswer {
        status: resp.status().as_u16(),
        location: header(http::header::LOCATION),
        content_type: header(http::header::CONTENT_TYPE),
        cache_control: header(http::header::CACHE_CONTROL),
        ..HttpAnswer::default()
    };
    let declared = header(http::header::CONTENT_LENGTH).and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > max_bytes as u64) {
        answer.too_large = true;
    } else {
        match Limited::new(resp.into_body(), max_bytes).collect().await {
            Ok(b) => answer.body = b.to_bytes().to_vec(),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => answer.too_large = true,
            Err(e) => return Err(format!("reading the body: {e}")),
        }
    }
    driver.abort();
    Ok(answer)
}

/// What an SMTP session to one MX address showed.
#[derive(Debug, Clone)]
pub struct SmtpProbe {
    /// The 220 greeting, or why there was none (connect failure: the checker's network or the
    /// host; not a policy failure).
    pub banner: Result<String, String>,
    /// First word of the EHLO reply.
    pub ehlo_name: Option<String>,
    /// STARTTLS appeared in the EHLO reply.
    pub starttls_offered: bool,
    /// Reply to STARTTLS when it was not 220.
    pub starttls_refused: Option<String>,
    /// The handshake with SNI = MX name.
    pub tls: Option<Result<TlsFacts, String>>,
    /// The handshake without SNI: `Some(Ok(sha256 of leaf))` or the error.
    pub no_sni: Option<Result<String, String>>,
    /// Time for the whole session.
    pub elapsed: Duration,
}

impl Default for SmtpProbe {
    fn default() -> Self {
        Self {
            banner: Err(String::new()),
            ehlo_name: None,
            starttls_offered: false,
            starttls_refused: None,
            tls: None,
            no_sni: None,
            elapsed: Duration::ZERO,
        }
    }
}

const MAX_REPLY_LINES: usize = 64;
const MAX_LINE: usize = 1024;

async fn read_reply<R: AsyncRead + Unpin>(
    r: &mut BufReader<R>,
) -> Result<(u16, Vec<String>), String> {
    let mut lines = Vec::new();
    loop {
        let mut buf = Vec::new();
        let n = (&mut *r)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut buf)
            .await
            .map_err(|e| format!("reading the SMTP reply: {e}"))?;
        if n == 0 {
            return Err("the server closed the connection".into());
        }
        let line = String::from_utf8_lossy(&buf).trim_end().to_string();
        if line.len() < 3 || !line.as_bytes()[..3].iter().all(u8::is_ascii_digit) {
            return Err(format!(
                "not an SMTP reply: {:?}",
                line.chars().take(80).collect::<String>()
            ));
        }
        let code: u16 = line[..3].parse().unwrap_or(0);
        let more = line.as_bytes().get(3) == Some(&b'-');
        lines.push(line.get(4..).unwrap_or("").to_string());
        if !more {
            return Ok((code, lines));
        }
        if lines.len() >= MAX_REPLY_LINES {
            return Err("SMTP reply too long".into());
        }
    }
}

use tokio::io::AsyncReadExt as _;

/// Opens an SMTP session, reads the greeting, says EHLO and, if offered, STARTTLS; returns the
/// plain stream ready for a TLS handshake, or the probe filled in so far.
async fn smtp_until_starttls(
    addr: SocketAddr,
    ehlo: &str,
    timeout: Duration,
    probe: &mut SmtpProbe,
) -> Option<TcpStream> {
    let tcp = match connect(addr, timeout).await {
        Ok(t) => t,
        Err(e) => {
            probe.banner = Err(e);
            return None;
        }
    };
    let mut r = BufReader::new(tcp);
    let step = async {
        let (code, lines) = read_reply(&mut r).await?;
        if code != 220 {
            return Err(format!("greeting {code} {}", lines.join(" ")));
        }
        Ok(lines.first().cloned().unwrap_or_default())
    };
    match tokio::time::timeout(timeout, step).await {
        Ok(Ok(b)) => probe.banner = Ok(b),
        Ok(Err(e)) => {
            probe.banner = Err(e);
            return None;
        }
        Err(_) => {
            probe.banner = Err(format!("no SMTP greeting within {}s", timeout.as_secs()));
            return None;
        }
    }
    let ehlo_step = async {
        r.get_mut()
            .write_all(format!("EHLO {ehlo}\r\n").as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        read_reply(&mut r).await
    };
    let (code, lines) = match tokio::time::timeout(timeout, ehlo_step).await {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => {
            probe.starttls_refused = Some(format!("EHLO failed: {e}"));
            return None;
        }
        Err(_) => {
            probe.starttls_refused = Some("no EHLO reply in time".into());
            return None;
        }
    };
    if code != 250 {
        probe.starttls_refused = Some(format!("EHLO answered {code} {}", lines.join(" ")));
        return None;
    }
    probe.ehlo_name = lines
        .first()
        .and_then(|l| l.split_whitespace().next())
        .map(|s| s.to_ascii_lowercase());
    probe.starttls_offered = lines.iter().skip(1).any(|l| {
        l.split_whitespace()
            .next()
            .is_some_and(|w| w.eq_ignore_ascii_case("STARTTLS"))
    });
    if !probe.starttls_offered {
        let _ = r.get_mut().write_all(b"QUIT\r\n").await;
        return None;
    }
    let st = async {
        r.get_mut()
            .write_all(b"STARTTLS\r\n")
            .await
            .map_err(|e| e.to_string())?;
        read_reply(&mut r).await
    };
    match tokio::time::timeout(timeout, st).await {
        Ok(Ok((220, _))) => {}
        Ok(Ok((code, lines))) => {
            probe.starttls_refused = Some(format!("{code} {}", lines.join(" ")));
            return None;
        }
        Ok(Err(e)) => {
            probe.starttls_refused = Some(e);
            return None;
        }
        Err(_) => {
            probe.starttls_refused = Some("no STARTTLS reply in time".into());
            return None;
        }
    }
    // Anything the server pipelined after its 220 is discarded with the buffer (RFC 3207 §5).
    Some(r.into_inner())
}

/// Probes one MX address the way a sending MTA would.
pub async fn probe_smtp(
    tls: &Tls,
    mx: &str,
    addr: SocketAddr,
    ehlo: &str,
    timeout: Duration,
) -> SmtpProbe {
    let started = Instant::now();
    let mut probe = SmtpProbe {
        banner: Err(String::new()),
        ..SmtpProbe::default()
    };
    if let Some(tcp) = smtp_until_starttls(addr, ehlo, timeout, &mut probe).await {
        let hs =
            tokio::time::timeout(timeout, tls.handshake(tcp, Some(mx), addr.ip(), false)).await;
        probe.tls = Some(match hs {
            Ok(Ok((mut stream, facts))) => {
                let _ = tokio::time::timeout(Duration::from_secs(2), async {
                    let _ = stream.write_all(b"QUIT\r\n").await;
                    let _ = stream.shutdown().await;
                })
                .await;
                Ok(facts)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(format!(
                "TLS handshake did not finish within {}s",
                timeout.as_secs()
            )),
        });
    }
    // STS-SMTP-08: a second session without SNI, only when the first one worked.
    if matches!(probe.tls, Some(Ok(_))) {
        let mut second = SmtpProbe {
            banner: Err(String::new()),
            ..SmtpProbe::default()
        };
        if let Some(tcp) = smtp_until_starttls(addr, ehlo, timeout, &mut second).await {
            let hs =
                tokio::time::timeout(timeout, tls.handshake(tcp, None, addr.ip(), false)).await;
            probe.no_sni = Some(match hs {
                Ok(Ok((_, facts))) => Ok(facts.leaf().map(|c| c.sha256).unwrap_or_default()),
                Ok(Err(e)) => Err(e),
                Err(_) => Err("timeout".into()),
            });
        }
    }
    probe.elapsed = started.elapsed();
    probe
}
