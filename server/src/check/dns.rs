//! DNS for the checker: hickory-resolver against the system's or the configured name servers,
//! with the distinctions the checks need (NXDOMAIN vs. no data vs. server failure vs. timeout),
//! the CNAME chain of each answer, its TTL, and the AD bit from a direct query.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use hickory_proto::{serialize::binary::BinEncodable, ProtoErrorKind};
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::{ResolveError, TokioResolver};

/// Why a lookup gave no data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsError {
    /// The name does not exist.
    NxDomain,
    /// The name exists but has no record of this type.
    NoData,
    /// The server answered with an error code (SERVFAIL, REFUSED, …).
    ServFail(String),
    /// No answer in time.
    Timeout,
    /// Anything else (bad name, network error).
    Other(String),
}

impl DnsError {
    /// True for NXDOMAIN and NODATA (the record is simply not there).
    pub fn is_absent(&self) -> bool {
        matches!(self, DnsError::NxDomain | DnsError::NoData)
    }
}

impl std::fmt::Display for DnsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DnsError::NxDomain => f.write_str("NXDOMAIN (the name does not exist)"),
            DnsError::NoData => f.write_str("no record of this type"),
            DnsError::ServFail(code) => write!(f, "the DNS server answered {code}"),
            DnsError::Timeout => f.write_str("DNS timeout"),
            DnsError::Other(e) => write!(f, "DNS error: {e}"),
        }
    }
}

/// An answer with the facts the checks report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer<T> {
    /// The records of the asked type.
    pub data: T,
    /// Smallest TTL of those records.
    pub ttl: u32,
    /// CNAME targets followed, in order.
    pub cname_chain: Vec<String>,
}

/// A lookup's answer or why there is none.
pub type Lookup<T> = Result<Answer<T>, DnsError>;

/// The checker's resolver.
pub struct Dns {
    resolver: TokioResolver,
    /// Server asked directly for the AD bit.
    ad_server: Option<SocketAddr>,
    timeout: Duration,
}

impl Dns {
    /// A resolver using `servers` (empty: the system configuration).
    pub fn new(servers: &[SocketAddr], timeout: Duration) -> anyhow::Result<Self> {
        let mut opts = ResolverOpts::default();
        opts.timeout = timeout;
        opts.attempts = 2;
        opts.preserve_intermediates = true;
        opts.edns0 = true;
        opts.cache_size = 256;
        opts.use_hosts_file = hickory_resolver::config::ResolveHosts::Never;
        let config = if servers.is_empty() {
            let (config, _) = hickory_resolver::system_conf::read_system_conf()
                .map_err(|e| anyhow::anyhow!("reading /etc/resolv.conf: {e}"))?;
            config
        } else {
            let mut config = ResolverConfig::new();
            for s in servers {
                config.add_name_server(NameServerConfig::new(*s, Protocol::Udp));
                config.add_name_server(NameServerConfig::new(*s, Protocol::Tcp));
            }
            config
        };
        let ad_server = config.name_servers().first().map(|n| n.socket_addr);
        let resolver =
            TokioResolver::builder_with_config(config, TokioConnectionProvider::default())
                .with_options(opts)
                .build();
        Ok(Self {
            resolver,
            ad_server,
            timeout,
        })
    }

    async fn lookup(
        &self,
        name: &str,
        rtype: RecordType,
    ) -> Result<(Vec<RData>, u32, Vec<String>), DnsError> {
        let fqdn = Name::from_ascii(format!("{}.", name.trim_end_matches('.')))
            .map_err(|e| DnsError::Other(e.to_string()))?;
        let lookup = self.resolver.lookup(fqdn, rtype).await.map_err(classify)?;
        let mut data = Vec::new();
        let mut ttl = u32::MAX;
        let mut chain = Vec::new();
        for r in lookup.records() {
            match r.data() {
                RData::CNAME(c) if rtype != RecordType::CNAME => {
                    chain.push(c.0.to_ascii().trim_end_matches('.').to_ascii_lowercase());
                }
                d if d.record_type() == rtype => {
                    ttl = ttl.min(r.ttl());
                    data.push(d.clone());
                }
                _ => {}
            }
        }
        if data.is_empty() {
            return Err(DnsError::NoData);
        }
        Ok((data, ttl, chain))
    }

    /// TXT records: each record's character-strings, un-joined.
    pub async fn txt(&self, name: &str) -> Result<Answer<Vec<Vec<Vec<u8>>>>, DnsError> {
        let (data, ttl, cname_chain) = self.lookup(name, RecordType::TXT).await?;
        let data = data
            .into_iter()
            .filter_map(|d| match d {
                RData::TXT(t) => Some(t.txt_data().iter().map(|s| s.to_vec()).collect()),
                _ => None,
            })
            .collect();
        Ok(Answer {
            data,
            ttl,
            cname_chain,
        })
    }

    /// MX records as (preference, lower-case host without trailing dot), by preference.
    pub async fn mx(&self, name: &str) -> Result<Answer<Vec<(u16, String)>>, DnsError> {
        let (data, ttl, cname_chain) = self.lookup(name, RecordType::MX).await?;
        let mut mx: Vec<(u16, String)> = data
            .into_iter()
            .filter_map(|d| match d {
                RData::MX(m) => Some((
                    m.preference(),
                    m.exchange()
                        .to_ascii()
                        .trim_end_matches('.')
                        .to_ascii_lowercase(),
                )),
                _ => None,
            })
            .collect();
        mx.sort();
        Ok(Answer {
            data: mx,
            ttl,
            cname_chain,
        })
    }

    /// A and AAAA addresses (either may be absent; fails only when both are).
    pub async fn ips(&self, name: &str) -> Result<Answer<Vec<IpAddr>>, DnsError> {
        let (v4, v6) = tokio::join!(
            self.lookup(name, RecordType::A),
            self.lookup(name, RecordType::AAAA)
        );
        let mut ips = Vec::new();
        let mut ttl = u32::MAX;
        let mut chain = Vec::new();
        let mut first_err = None;
        for r in [v4, v6] {
            match r {
                Ok((data, t, c)) => {
                    ttl = ttl.min(t);
                    if chain.is_empty() {
                        chain = c;
                    }
                    for d in data {
                        match d {
                            RData::A(a) => ips.push(IpAddr::V4(a.0)),
                            RData::AAAA(a) => ips.push(IpAddr::V6(a.0)),
                            _ => {}
                        }
                    }
                }
                Err(e) => {
                    // NXDOMAIN beats NODATA beats the rest when choosing what to report.
                    first_err = Some(match (first_err, e) {
                        (None, e) => e,
                        (Some(DnsError::NoData), DnsError::NxDomain) => DnsError::NxDomain,
                        (Some(prev), _) => prev,
                    });
                }
            }
        }
        if ips.is_empty() {
            return Err(first_err.unwrap_or(DnsError::NoData));
        }
        Ok(Answer {
            data: ips,
            ttl,
            cname_chain: chain,
        })
    }

    /// TLSA records as `usage selector matching hex`.
    pub async fn tlsa(&self, name: &str) -> Result<Answer<Vec<String>>, DnsError> {
        let (data, ttl, cname_chain) = self.lookup(name, RecordType::TLSA).await?;
        let data = data.into_iter().map(|d| d.to_string()).collect();
        Ok(Answer {
            data,
            ttl,
            cname_chain,
        })
    }

    /// Reverse DNS names of an address.
    pub async fn ptr(&self, ip: IpAddr) -> Result<Vec<String>, DnsError> {
        if ip.is_loopback() {
            let name = match ip {
                IpAddr::V4(v4) => {
                    let o = v4.octets();
                    format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
                }
                IpAddr::V6(_) => return Ok(vec!["localhost".into()]),
            };
            let reply = self
                .direct(&name, RecordType::PTR)
                .await
                .ok_or(DnsError::Timeout)?;
            if reply.response_code() == ResponseCode::NXDomain {
                return Err(DnsError::NxDomain);
            }
            return Ok(reply
                .answers()
                .iter()
                .filter_map(|r| match r.data() {
                    RData::PTR(p) => {
                        Some(p.0.to_ascii().trim_end_matches('.').to_ascii_lowercase())
                    }
                    _ => None,
                })
                .collect());
        }
        let r = self.resolver.reverse_lookup(ip).await.map_err(classify)?;
        Ok(r.iter()
            .map(|n| n.0.to_ascii().trim_end_matches('.').to_ascii_lowercase())
            .collect())
    }

    /// Asks the first name server directly, with the AD bit set in the query (RFC 6840 §5.7),
    /// whether it validated the answer with DNSSEC. `None` when it could not be asked.
    pub async fn authenticated(&self, name: &str, rtype: RecordType) -> Option<bool> {
        let reply = self.direct(name, rtype).await?;
        (reply.response_code() == ResponseCode::NoError).then(|| reply.authentic_data())
    }

    /// One query straight to the first name server, bypassing the resolver's cache and its
    /// built-in answers (it answers `localhost` for every loopback PTR by itself).
    async fn direct(&self, name: &str, rtype: RecordType) -> Option<Message> {
        let server = self.ad_server?;
        let fqdn = Name::from_ascii(format!("{}.", name.trim_end_matches('.'))).ok()?;
        let mut msg = Message::new();
        msg.set_id(rand::random())
            .set_message_type(MessageType::Query)
            .set_op_code(OpCode::Query)
            .set_recursion_desired(true)
            .set_authentic_data(true)
            .add_query(Query::query(fqdn, rtype));
        let mut edns = Edns::new();
        edns.set_max_payload(1232).set_dnssec_ok(true);
        msg.set_edns(edns);
        let bytes = msg.to_bytes().ok()?;
        let bind: SocketAddr = if server.is_ipv4() {
            "0.0.0.0:0".parse().ok()?
        } else {
            "[::]:0".parse().ok()?
        };
        let sock = tokio::net::UdpSocket::bind(bind).await.ok()?;
        sock.connect(server).await.ok()?;
        sock.send(&bytes).await.ok()?;
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(self.timeout, sock.recv(&mut buf))
            .await
            .ok()?
            .ok()?;
        let reply = Message::from_vec(&buf[..n]).ok()?;
        (reply.id() == msg.id()).then_some(reply)
    }
}

fn classify(e: ResolveError) -> DnsError {
    let Some(p) = e.proto() else {
        return DnsError::Other(e.to_string());
    };
    match p.kind() {
        ProtoErrorKind::NoRecordsFound { response_code, .. } => match *response_code {
            ResponseCode::NXDomain => DnsError::NxDomain,
            ResponseCode::NoError => DnsError::NoData,
            other => DnsError::ServFail(other.to_string()),
        },
        ProtoErrorKind::Timeout => DnsError::Timeout,
        _ if p.to_string().contains("timed out") => DnsError::Timeout,
        _ => DnsError::Other(p.to_string()),
    }
}

/// Parses `TLSWATCH_DNS_SERVERS` entries: `1.2.3.4`, `1.2.3.4:5353`, `[::1]:53`, `::1`.
pub fn parse_server(s: &str) -> Option<SocketAddr> {
    let s = s.trim();
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Some(sa);
    }
    s.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses_accept_host_and_host_port() {
        assert_eq!(
            parse_server("127.0.0.1"),
            Some("127.0.0.1:53".parse().unwrap())
        );
        assert_eq!(
            parse_server("127.0.0.1:5353"),
            Some("127.0.0.1:5353".parse().unwrap())
        );
        assert_eq!(parse_server("::1"), Some("[::1]:53".parse().unwrap()));
        assert_eq!(
            parse_server("[::1]:5300"),
            Some("[::1]:5300".parse().unwrap())
        );
        assert_eq!(parse_server("dns.example"), None);
    }
}
