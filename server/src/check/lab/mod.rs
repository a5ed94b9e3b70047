//! A loopback lab for the checker's tests and benchmarks: an authoritative DNS server, an HTTPS
//! policy host and SMTP servers with STARTTLS, all real protocol implementations on loopback
//! addresses, with certificates from a CA generated at run time (rcgen).
//!
//! Nothing here runs in `serve`; it exists so that tests and `tlswatch-bench check` exercise the
//! checker's real DNS, TLS, HTTP and SMTP code without the internet.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

mod dns;
mod https;
mod pki;
mod smtp;

pub use super::policy::policy_text;
pub use dns::*;
pub use https::*;
pub use pki::*;
pub use smtp::*;

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

/// The `_mta-sts` record, the policy host's address and a `_smtp._tls` record reporting to
/// `tlsrpt@{rua_domain}` for `domain`.
fn sts_records(zone: &mut Zone, domain: &str, policy_host: IpAddr, rua_domain: &str) {
    zone.txt(
        &format!("_mta-sts.{domain}"),
        &["v=STSv1; id=20261129000000"],
    );
    zone.ip(&format!("mta-sts.{domain}"), policy_host);
    zone.txt(
        &format!("_smtp._tls.{domain}"),
        &[&format!("v=TLSRPTv1; rua=mailto:tlsrpt@{rua_domain}")],
    );
}

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

    fn assemble(
        ca: Arc<TestCa>,
        dns: DnsServer,
        https: HttpsServer,
        smtp: Vec<SmtpServer>,
        block: [u8; 3],
    ) -> Self {
        let config = Self::config(&ca, &dns, &https, &smtp);
        Self {
            ca,
            dns,
            https,
            smtp,
            block,
            config,
        }
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
        sts_records(&mut zone, domain, loopback(block, 1), domain);
        let dns = DnsServer::start(loopback(block, 53), zone).await?;
        let host = format!("mta-sts.{domain}");
        https.certs.set(&host, &ca.leaf(&[&host], -1, 90));
        https.serve(
            &host,
            PolicyResponse::ok(&policy_text("testing", &mx_names, 604_800)),
        );
        Ok(Self::assemble(ca, dns, https, smtp, block))
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
            sts_records(&mut zone, &domain, loopback(block, 1), "lab.test");
        }
        let dns = DnsServer::start(loopback(block, 53), zone).await?;
        https.certs.auto_issue(ca.clone());
        https.serve_default(PolicyResponse::ok(&policy_text(
            "enforce",
            &["*.lab.test".to_string()],
            1_209_600,
        )));
        Ok(Self::assemble(ca, dns, https, smtp, block))
    }
}
