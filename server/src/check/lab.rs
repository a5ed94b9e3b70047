//! A loopback lab for the checker's tests and benchmarks: an authoritative DNS server, an HTTPS
//! policy host and SMTP servers with STARTTLS, all real protocol implementations on loopback
//! addresses, with certificates from a CA generated at run time (rcgen).
//!
//! Nothing here runs in `serve`; it exists so that tests and `tlswatch-bench check` exercise the
//! checker's real DNS, TLS, HTTP and SMTP code without the internet.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, RwLock};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{self, tlsa};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::BinEncodable;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;

/// A block of loopback addresses `127.a.b.1 …` unlikely to be used by another test at once.
pub fn loopback_block() -> [u8; 3] {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let a = 20 + (std::process::id() % 200) as u8;
    [127, a, (n % 250) as u8 + 1]
}

/// `127.a.b.host` of a block.
pub fn loopback(block: [u8; 3], host: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(block[0], block[1], block[2], host))
}

// ---------------------------------------------------------------------------------------------
// Certificates

/// A CA generated at run time.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    /// CA certificate, PEM.
    pub cert_pem: String,
    /// CA certificate, DER.
    pub cert_der: CertificateDer<'static>,
}

/// A leaf certificate and key.
#[derive(Clone)]
pub struct Leaf {
    /// Certificate (leaf only), PEM.
    pub cert_pem: String,
    /// Private key, PEM.
    pub key_pem: String,
    /// For rustls servers.
    pub certified: Arc<CertifiedKey>,
}

impl TestCa {
    /// A fresh CA named `name`.
    pub fn new(name: &str) -> Self {
        let key = KeyPair::generate().expect("key generation");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).expect("self-signed CA");
        Self {
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for `names`, valid from `not_before_days` to `not_after_days` from now.
    pub fn leaf(&self, names: &[&str], not_before_days: i64, not_after_days: i64) -> Leaf {
        let key = KeyPair::generate().expect("key generation");
        let mut params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .expect("names");
        params
            .distinguished_name
            .push(DnType::CommonName, names.first().copied().unwrap_or("leaf"));
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now + time::Duration::days(not_before_days);
        params.not_after = now + time::Duration::days(not_after_days);
        let cert = params.signed_by(&key, &self.issuer).expect("signing");
        let der = cert.der().clone();
        let key_der = PrivateKeyDer::try_from(key.serialize_der()).expect("key der");
        let provider = rustls::crypto::ring::default_provider();
        let signing = provider
            .key_provider
            .load_private_key(key_der)
            .expect("signing key");
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            certified: Arc::new(CertifiedKey::new(vec![der], signing)),
        }
    }

    /// A root store holding only this CA.
    pub fn roots(&self) -> rustls::RootCertStore {
        let mut r = rustls::RootCertStore::empty();
        r.add(self.cert_der.clone()).expect("CA cert");
        r
    }
}

/// Chooses a certificate by SNI; `default` when the name is unknown or absent (`None`: abort).
#[derive(Debug, Default)]
pub struct SniCerts {
    by_name: RwLock<HashMap<String, Arc<CertifiedKey>>>,
    default: RwLock<Option<Arc<CertifiedKey>>>,
    /// Issue valid certificates on the fly for unknown names (benchmarks with many domains).
    auto: RwLock<Option<Arc<TestCa>>>,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TestCa")
    }
}

impl SniCerts {
    /// Serves `leaf` for `name`.
    pub fn set(&self, name: &str, leaf: &Leaf) {
        if let Ok(mut m) = self.by_name.write() {
            m.insert(name.to_ascii_lowercase(), leaf.certified.clone());
        }
    }
    /// Serves `leaf` when no name matches (or no SNI was sent).
    pub fn set_default(&self, leaf: Option<&Leaf>) {
        if let Ok(mut d) = self.default.write() {
            *d = leaf.map(|l| l.certified.clone());
        }
    }
    /// Issues certificates for unknown names with `ca`.
    pub fn auto_issue(&self, ca: Arc<TestCa>) {
        if let Ok(mut a) = self.auto.write() {
            *a = Some(ca);
        }
    }
}

impl ResolvesServerCert for SniCerts {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if let Some(name) = hello.server_name() {
            let name = name.to_ascii_lowercase();
            if let Some(c) = self.by_name.read().ok()?.get(&name) {
                return Some(c.clone());
            }
            let auto = self.auto.read().ok()?.clone();
            if let Some(ca) = auto {
                let leaf = ca.leaf(&[&name], -1, 90);
                self.by_name
                    .write()
                    .ok()?
                    .insert(name, leaf.certified.clone());
                return Some(leaf.certified);
            }
        }
        self.default.read().ok()?.clone()
    }
}

fn server_config(certs: Arc<SniCerts>, alpn: bool) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut c = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_cert_resolver(certs);
    if alpn {
        c.alpn_protocols = vec![b"http/1.1".to_vec()];
    }
    Arc::new(c)
}

// ---------------------------------------------------------------------------------------------
// DNS

/// Records of the lab zone.
#[derive(Debug, Clone, Default)]
pub struct Zone {
    records: HashMap<String, Vec<RData>>,
    /// Names answered with SERVFAIL.
    pub servfail: HashSet<String>,
    /// Names never answered (timeouts).
    pub silent: HashSet<String>,
    /// Set the AD bit in answers (as a validating resolver would).
    pub authentic: bool,
    /// TTL of every record.
    pub ttl: u32,
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn fqdn(name: &str) -> Name {
    Name::from_ascii(format!("{}.", name.trim_end_matches('.'))).expect("lab name")
}

impl Zone {
    /// An empty zone with a one-hour TTL.
    pub fn new() -> Self {
        Self {
            ttl: 3600,
            ..Self::default()
        }
    }
    fn push(&mut self, name: &str, d: RData) -> &mut Self {
        self.records.entry(key(name)).or_default().push(d);
        self
    }
    /// Removes every record of `name`.
    pub fn clear(&mut self, name: &str) -> &mut Self {
        self.records.remove(&key(name));
        self
    }
    /// Adds an address record.
    pub fn ip(&mut self, name: &str, ip: IpAddr) -> &mut Self {
        match ip {
            IpAddr::V4(v4) => self.push(name, RData::A(rdata::A(v4))),
            IpAddr::V6(v6) => self.push(name, RData::AAAA(rdata::AAAA(v6))),
        }
    }
    /// Adds a TXT record made of `strings`.
    pub fn txt(&mut self, name: &str, strings: &[&str]) -> &mut Self {
        self.push(
            name,
            RData::TXT(rdata::TXT::new(
                strings.iter().map(|s| s.to_string()).collect(),
            )),
        )
    }
    /// Adds an MX record (`"."` for a null MX).
    pub fn mx(&mut self, name: &str, preference: u16, host: &str) -> &mut Self {
        let target = if host == "." {
            Name::root()
        } else {
            fqdn(host)
        };
        self.push(name, RData::MX(rdata::MX::new(preference, target)))
    }
    /// Adds a CNAME.
    pub fn cname(&mut self, name: &str, target: &str) -> &mut Self {
        self.push(name, RData::CNAME(rdata::CNAME(fqdn(target))))
    }
    /// Adds a PTR for `ip`.
    pub fn ptr(&mut self, ip: IpAddr, host: &str) -> &mut Self {
        let rev = match ip {
            IpAddr::V4(v4) => {
                let o = v4.octets();
                format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
            }
            IpAddr::V6(v6) => {
                let hex: String = v6.octets().iter().map(|b| format!("{b:02x}")).collect();
                let mut nibbles: Vec<String> = hex.chars().map(|c| c.to_string()).collect();
                nibbles.reverse();
                format!("{}.ip6.arpa", nibbles.join("."))
            }
        };
        self.push(&rev, RData::PTR(rdata::PTR(fqdn(host))))
    }
    /// Adds a TLSA record.
    pub fn tlsa(
        &mut self,
        name: &str,
        usage: u8,
        selector: u8,
        matching: u8,
        data: Vec<u8>,
    ) -> &mut Self {
        self.push(
            name,
            RData::TLSA(rdata::TLSA::new(
                tlsa::CertUsage::from(usage),
                tlsa::Selector::from(selector),
                tlsa::Matching::from(matching),
                data,
            )),
        )
    }

    fn answer(&self, q: &hickory_proto::op::Query) -> Option<(ResponseCode, Vec<Record>)> {
        let mut name = key(&q.name().to_ascii());
        if self.silent.contains(&name) {
            return None;
        }
        if self.servfail.contains(&name) {
            return Some((ResponseCode::ServFail, Vec::new()));
        }
        let mut answers = Vec::new();
        for _ in 0..8 {
            let Some(rrs) = self.records.get(&name) else {
                return Some((
                    if answers.is_empty() {
                        ResponseCode::NXDomain
                    } else {
                        ResponseCode::NoError
                    },
                    answers,
                ));
            };
            let wanted: Vec<&RData> = rrs
                .iter()
                .filter(|d| d.record_type() == q.query_type())
                .collect();
            if !wanted.is_empty() {
                for d in wanted {
                    answers.push(Record::from_rdata(fqdn(&name), self.ttl, d.clone()));
                }
                return Some((ResponseCode::NoError, answers));
            }
            match rrs.iter().find_map(|d| match d {
                RData::CNAME(c) => Some(c.0.clone()),
                _ => None,
            }) {
                Some(target) if q.query_type() != RecordType::CNAME => {
                    answers.push(Record::from_rdata(
                        fqdn(&name),
                        self.ttl,
                        RData::CNAME(rdata::CNAME(target.clone())),
                    ));
                    name = key(&target.to_ascii());
                }
                _ => return Some((ResponseCode::NoError, answers)),
            }
        }
        Some((ResponseCode::ServFail, Vec::new()))
    }
}

/// An authoritative DNS server on UDP and TCP.
pub struct DnsServer {
    /// Where it listens (UDP and TCP).
    pub addr: SocketAddr,
    zone: Arc<RwLock<Zone>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn respond(zone: &RwLock<Zone>, bytes: &[u8]) -> Option<Vec<u8>> {
    let q = Message::from_vec(bytes).ok()?;
    let query = q.queries().first()?.clone();
    let (code, answers, authentic) = {
        let z = zone.read().ok()?;
        let (code, answers) = z.answer(&query)?;
        (code, answers, z.authentic)
    };
    let mut r = Message::new();
    r.set_id(q.id())
        .set_message_type(MessageType::Response)
        .set_op_code(OpCode::Query)
        .set_authoritative(true)
        .set_recursion_desired(q.recursion_desired())
        .set_recursion_available(true)
        .set_authentic_data(authentic && code == ResponseCode::NoError)
        .set_response_code(code)
        .add_query(query.clone());
    r.add_answers(answers);
    if code != ResponseCode::ServFail
        && r.answers()
            .iter()
            .all(|a| a.record_type() == RecordType::CNAME)
    {
        let soa = rdata::SOA::new(
            fqdn("ns.lab.test"),
            fqdn("hostmaster.lab.test"),
            1,
            3600,
            600,
            86400,
            60,
        );
        r.add_name_server(Record::from_rdata(
            query.name().clone(),
            60,
            RData::SOA(soa),
        ));
    }
    if q.extensions().is_some() {
        let mut e = Edns::new();
        e.set_max_payload(1232);
        r.set_edns(e);
    }
    r.to_bytes().ok()
}

impl DnsServer {
    /// Starts serving `zone` on `ip` (port chosen by the system).
    pub async fn start(ip: IpAddr, zone: Zone) -> io::Result<Self> {
        let udp = UdpSocket::bind(SocketAddr::new(ip, 0)).await?;
        let addr = udp.local_addr()?;
        let tcp = TcpListener::bind(addr).await?;
        let zone = Arc::new(RwLock::new(zone));
        let z = zone.clone();
        let udp_task = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((n, from)) = udp.recv_from(&mut buf).await else {
                    continue;
                };
                if let Some(reply) = respond(&z, &buf[..n]) {
                    let _ = udp.send_to(&reply, from).await;
                }
            }
        });
        let z = zone.clone();
        let tcp_task = tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = tcp.accept().await else {
                    continue;
                };
                let z = z.clone();
                tokio::spawn(async move {
                    loop {
                        let mut len = [0u8; 2];
                        if s.read_exact(&mut len).await.is_err() {
                            return;
                        }
                        let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
                        if s.read_exact(&mut buf).await.is_err() {
                            return;
                        }
                        let Some(reply) = respond(&z, &buf) else {
                            return;
                        };
                        let mut out = (reply.len() as u16).to_be_bytes().to_vec();
                        out.extend(reply);
                        if s.write_all(&out).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Ok(Self {
            addr,
            zone,
            tasks: vec![udp_task, tcp_task],
        })
    }

    /// Changes the zone.
    pub fn edit(&self, f: impl FnOnce(&mut Zone)) {
        if let Ok(mut z) = self.zone.write() {
            f(&mut z);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// HTTPS policy host

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

// ---------------------------------------------------------------------------------------------
// SMTP

/// How a lab SMTP server behaves.
#[derive(Debug, Clone)]
pub struct SmtpBehaviour {
    /// Name in the 220 greeting and the EHLO reply.
    pub name: String,
    /// Advertise STARTTLS.
    pub offer_starttls: bool,
    /// Reply to STARTTLS (220 to proceed, e.g. 454 to refuse).
    pub starttls_code: u16,
}

/// An SMTP server with STARTTLS.
pub struct SmtpServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Messages received.
    pub inbox: Inbox,
    /// Connections accepted so far.
    pub accepted: Arc<std::sync::atomic::AtomicUsize>,
    /// Certificates by SNI (the default one is served without SNI).
    pub certs: Arc<SniCerts>,
    behaviour: Arc<RwLock<SmtpBehaviour>>,
    task: JoinHandle<()>,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

enum Next {
    Quit,
    StartTls,
}

/// Messages an SMTP server received (with DATA), as text.
pub type Inbox = Arc<std::sync::Mutex<Vec<String>>>;

async fn commands<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut BufReader<S>,
    b: &SmtpBehaviour,
    tls: bool,
    inbox: &Inbox,
) -> io::Result<Next> {
    loop {
        let mut line = Vec::new();
        let n = (&mut *s).take(1000).read_until(b'\n', &mut line).await?;
        if n == 0 {
            return Ok(Next::Quit);
        }
        let cmd = String::from_utf8_lossy(&line).trim().to_ascii_uppercase();
        let verb = cmd.split_whitespace().next().unwrap_or("");
        let reply = match verb {
            "EHLO" => {
                let mut r = format!(
                    "250-{} greets you\r\n250-PIPELINING\r\n250-8BITMIME\r\n",
                    b.name
                );
                if b.offer_starttls && !tls {
                    r.push_str("250-STARTTLS\r\n");
                }
                if tls {
                    r.push_str("250-AUTH PLAIN LOGIN\r\n");
                }
                r.push_str("250 SIZE 10240000\r\n");
                r
            }
            "HELO" => format!("250 {}\r\n", b.name),
            "STARTTLS" if b.offer_starttls && !tls => {
                if b.starttls_code == 220 {
                    s.get_mut()
                        .write_all(b"220 2.0.0 Ready to start TLS\r\n")
                        .await?;
                    return Ok(Next::StartTls);
                }
                format!("{} 4.7.0 TLS not available\r\n", b.starttls_code)
            }
            "QUIT" => {
                s.get_mut().write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(Next::Quit);
            }
            "NOOP" | "RSET" | "MAIL" | "RCPT" => "250 2.0.0 OK\r\n".into(),
            "DATA" => {
                s.get_mut()
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let mut message = String::new();
                loop {
                    let mut l = Vec::new();
                    let n = (&mut *s).take(10_000).read_until(b'\n', &mut l).await?;
                    if n == 0 {
                        return Ok(Next::Quit);
                    }
                    let line = String::from_utf8_lossy(&l);
                    if line.trim_end_matches(['\r', '\n']) == "." {
                        break;
                    }
                    if message.len() < 1_000_000 {
                        message.push_str(&line);
                    }
                }
                if let Ok(mut m) = inbox.lock() {
                    m.push(message);
                }
                "250 2.0.0 Queued\r\n".into()
            }
            "AUTH" => "235 2.7.0 Authentication successful\r\n".into(),
            _ => "502 5.5.1 Not implemented\r\n".into(),
        };
        s.get_mut().write_all(reply.as_bytes()).await?;
    }
}

impl SmtpServer {
    /// Starts on `addr` (port 0: any) with `behaviour`.
    pub async fn start(addr: SocketAddr, behaviour: SmtpBehaviour) -> io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let certs = Arc::new(SniCerts::default());
        let behaviour = Arc::new(RwLock::new(behaviour));
        let acceptor = tokio_rustls::TlsAcceptor::from(server_config(certs.clone(), false));
        let b = behaviour.clone();
        let accepted: Arc<std::sync::atomic::AtomicUsize> = Arc::default();
        let count = accepted.clone();
        let inbox: Inbox = Arc::default();
        let messages = inbox.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut tcp, _)) = listener.accept().await else {
                    continue;
                };
                count.fetch_add(1, Ordering::Relaxed);
                let acceptor = acceptor.clone();
                let Ok(beh) = b.read().map(|x| x.clone()) else {
                    continue;
                };
                let messages = messages.clone();
                tokio::spawn(async move {
                    if tcp
                        .write_all(format!("220 {} ESMTP lab\r\n", beh.name).as_bytes())
                        .await
                        .is_err()
                    {
                        return;
                    }
                    let mut r = BufReader::new(tcp);
                    if let Ok(Next::StartTls) = commands(&mut r, &beh, false, &messages).await {
                        let Ok(tls) = acceptor.accept(r.into_inner()).await else {
                            return;
                        };
                        let mut r = BufReader::new(tls);
                        let _ = commands(&mut r, &beh, true, &messages).await;
                    }
                });
            }
        });
        Ok(Self {
            addr,
            accepted,
            certs,
            behaviour,
            inbox,
            task,
        })
    }

    /// Changes the behaviour for new sessions.
    pub fn set(&self, f: impl FnOnce(&mut SmtpBehaviour)) {
        if let Ok(mut b) = self.behaviour.write() {
            f(&mut b);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A whole lab

/// DNS, a policy host and MX hosts for one or many domains, and a checker configured for them.
pub struct Lab {
    /// The CA every lab certificate comes from.
    pub ca: Arc<TestCa>,
    /// Authoritative DNS for everything.
    pub dns: DnsServer,
    /// The policy host(s).
    pub https: HttpsServer,
    /// MX servers, `mx1` first.
    pub smtp: Vec<SmtpServer>,
    /// The loopback block in use.
    pub block: [u8; 3],
    /// A checker configuration pointing at this lab.
    pub config: super::CheckerConfig,
}

/// The policy of a healthy lab domain.
pub fn policy_text(mode: &str, mx: &[String], max_age: u64) -> String {
    let mut s = format!("version: STSv1\nmode: {mode}\n");
    for m in mx {
        s.push_str(&format!("mx: {m}\n"));
    }
    s.push_str(&format!("max_age: {max_age}\n"));
    s
}

impl Lab {
    async fn servers(
        n_mx: usize,
        mx_names: &[String],
    ) -> io::Result<(Arc<TestCa>, [u8; 3], HttpsServer, Vec<SmtpServer>)> {
        let ca = Arc::new(TestCa::new("tlswatch lab CA"));
        let block = loopback_block();
        let https = HttpsServer::start(SocketAddr::new(loopback(block, 1), 0)).await?;
        let mut smtp: Vec<SmtpServer> = Vec::new();
        for (i, name) in mx_names.iter().take(n_mx).enumerate() {
            let port = smtp.first().map_or(0, |s| s.addr.port());
            let name = name.clone();
            let s = SmtpServer::start(
                SocketAddr::new(loopback(block, 10 + i as u8), port),
                SmtpBehaviour {
                    name: name.clone(),
                    offer_starttls: true,
                    starttls_code: 220,
                },
            )
            .await?;
            let leaf = ca.leaf(&[&name], -1, 90);
            s.certs.set(&name, &leaf);
            s.certs.set_default(Some(&leaf));
            smtp.push(s);
        }
        Ok((ca, block, https, smtp))
    }

    fn config(
        ca: &TestCa,
        dns: &DnsServer,
        https: &HttpsServer,
        smtp: &[SmtpServer],
    ) -> super::CheckerConfig {
        let mut c = super::CheckerConfig::new(ca.roots());
        c.dns_servers = vec![dns.addr];
        c.allow_private = true;
        c.https_port = https.addr.port();
        c.smtp_port = smtp.first().map_or(25, |s| s.addr.port());
        c.ehlo_name = "checker.lab.test".into();
        c.dns_timeout = std::time::Duration::from_secs(2);
        c.http_timeout = std::time::Duration::from_secs(5);
        c.smtp_timeout = std::time::Duration::from_secs(3);
        c
    }

    /// One healthy domain: `n_mx` MX hosts `mx<i>.<domain>`, each with a valid certificate and
    /// STARTTLS, a valid `testing` policy covering them, and a TLS-RPT record.
    pub async fn healthy(domain: &str, n_mx: usize) -> io::Result<Self> {
        let mx_names: Vec<String> = (1..=n_mx).map(|i| format!("mx{i}.{domain}")).collect();
        let (ca, block, https, smtp) = Self::servers(n_mx, &mx_names).await?;
        let mut zone = Zone::new();
        for (i, name) in mx_names.iter().enumerate() {
            let ip = loopback(block, 10 + i as u8);
            zone.mx(domain, 10 * (i as u16 + 1), name)
                .ip(name, ip)
                .ptr(ip, name);
        }
        zone.ip(domain, loopback(block, 1));
        zone.txt(
            &format!("_mta-sts.{domain}"),
            &["v=STSv1; id=20261129000000"],
        );
        zone.ip(&format!("mta-sts.{domain}"), loopback(block, 1));
        zone.txt(
            &format!("_smtp._tls.{domain}"),
            &[&format!("v=TLSRPTv1; rua=mailto:tlsrpt@{domain}")],
        );
        let dns = DnsServer::start(loopback(block, 53), zone).await?;
        let host = format!("mta-sts.{domain}");
        https.certs.set(&host, &ca.leaf(&[&host], -1, 90));
        https.serve(
            &host,
            PolicyResponse::ok(&policy_text("testing", &mx_names, 604_800)),
        );
        let config = Self::config(&ca, &dns, &https, &smtp);
        Ok(Self {
            ca,
            dns,
            https,
            smtp,
            block,
            config,
        })
    }

    /// `n` healthy domains `d<i>.lab.test` sharing three MX hosts `mx<1-3>.lab.test` and one
    /// policy host address (certificates issued per name on first use).
    pub async fn many(n: usize) -> io::Result<Self> {
        let mx_names: Vec<String> = (1..=3).map(|i| format!("mx{i}.lab.test")).collect();
        let (ca, block, https, smtp) = Self::servers(3, &mx_names).await?;
        let mut zone = Zone::new();
        for (i, name) in mx_names.iter().enumerate() {
            let ip = loopback(block, 10 + i as u8);
            zone.ip(name, ip).ptr(ip, name);
        }
        zone.ip("lab.test", loopback(block, 1))
            .mx("lab.test", 10, "mx1.lab.test");
        for d in 0..n {
            let domain = format!("d{d}.lab.test");
            for (i, name) in mx_names.iter().enumerate() {
                zone.mx(&domain, 10 * (i as u16 + 1), name);
            }
            zone.txt(
                &format!("_mta-sts.{domain}"),
                &["v=STSv1; id=20261129000000"],
            );
            zone.ip(&format!("mta-sts.{domain}"), loopback(block, 1));
            zone.txt(
                &format!("_smtp._tls.{domain}"),
                &["v=TLSRPTv1; rua=mailto:tlsrpt@lab.test"],
            );
        }
        let dns = DnsServer::start(loopback(block, 53), zone).await?;
        https.certs.auto_issue(ca.clone());
        https.serve_default(PolicyResponse::ok(&policy_text(
            "enforce",
            &["*.lab.test".to_string()],
            1_209_600,
        )));
        let config = Self::config(&ca, &dns, &https, &smtp);
        Ok(Self {
            ca,
            dns,
            https,
            smtp,
            block,
            config,
        })
    }
}
