//! The lab's authoritative DNS server over UDP and TCP, answering from an editable zone.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{self, tlsa};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::BinEncodable;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;

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
        // The UDP port the system picks may be taken for TCP (another test's connection):
        // pick again, a few times.
        let mut attempt = 0;
        let (udp, addr, tcp) = loop {
            let udp = UdpSocket::bind(SocketAddr::new(ip, 0)).await?;
            let addr = udp.local_addr()?;
            match TcpListener::bind(addr).await {
                Ok(tcp) => break (udp, addr, tcp),
                Err(e) if e.kind() == io::ErrorKind::AddrInUse && attempt < 20 => attempt += 1,
                Err(e) => return Err(e),
            }
        };
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
