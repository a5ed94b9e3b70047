//! The lab's SMTP servers with STARTTLS and scripted misbehaviour, and a mail sink.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::*;

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
