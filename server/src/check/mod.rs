//! MTA-STS and TLS-RPT configuration checks (catalogue groups A–J of the spec, §2.4), run in
//! the §2.8 order with explicit skips. Real DNS (hickory-resolver), real TLS (rustls) and real
//! HTTP and SMTP; tests point it at servers they start on loopback ([`lab`]).

pub mod catalogue;
pub mod dns;
pub mod guard;
mod history;
#[cfg(feature = "lab")]
pub mod lab;
mod mx;
mod policy;
pub mod probe;
pub mod records;
pub mod run;
pub mod setup;
mod tlsrpt;
mod txt;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use app::health::{Finding, Severity};
use hickory_proto::rr::RecordType;
use rustls::RootCertStore;
use sha2::Digest;

use dns::{Dns, DnsError};
use probe::{Fetch, SmtpProbe, Tls, TlsFacts};
use records::{Mode, Policy};

/// How the checker reaches the network.
#[derive(Clone)]
pub struct CheckerConfig {
    /// Name servers (`TLSWATCH_DNS_SERVERS`); empty: the system's.
    pub dns_servers: Vec<SocketAddr>,
    /// Trusted roots: WebPKI plus `TLSWATCH_EXTRA_CA_FILE`.
    pub roots: RootCertStore,
    /// Connect to loopback and private addresses too (`TLSWATCH_CHECK_ALLOW_PRIVATE`).
    pub allow_private: bool,
    /// Port of the policy host (443; other values only for labs and tests).
    pub https_port: u16,
    /// SMTP port of MX hosts (25; other values only for labs and tests).
    pub smtp_port: u16,
    /// Name sent in EHLO.
    pub ehlo_name: String,
    /// Per DNS query.
    pub dns_timeout: Duration,
    /// Policy fetch (connect, TLS and GET).
    pub http_timeout: Duration,
    /// Each SMTP step.
    pub smtp_timeout: Duration,
    /// Largest policy accepted (64 KiB).
    pub policy_max_bytes: usize,
    /// Warn when a certificate expires within this many days.
    pub expiry_warn_days: i64,
    /// At most this many MX addresses are probed.
    pub max_mx_addresses: usize,
}

impl CheckerConfig {
    /// Production defaults with the given roots.
    pub fn new(roots: RootCertStore) -> Self {
        Self {
            dns_servers: Vec::new(),
            roots,
            allow_private: false,
            https_port: 443,
            smtp_port: 25,
            ehlo_name: "tlswatch.invalid".into(),
            dns_timeout: Duration::from_secs(5),
            http_timeout: Duration::from_secs(30),
            smtp_timeout: Duration::from_secs(10),
            policy_max_bytes: 65_536,
            expiry_warn_days: 14,
            max_mx_addresses: 16,
        }
    }
}

/// What the stateful checks (group J) remember of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    /// Valid TXT id.
    pub sts_id: Option<String>,
    /// SHA-256 of the policy body served with status 200.
    pub policy_sha256: Option<String>,
    /// Mode of a valid policy.
    pub mode: Option<String>,
    /// max_age of a valid policy.
    pub max_age: Option<i64>,
    /// Unix seconds of the run.
    pub at: i64,
    /// Ids seen before with the body hash they named (for STS-H-03), newest last.
    #[serde(default)]
    pub id_history: Vec<(String, String)>,
}

/// A finished run.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Domain checked.
    pub domain: String,
    /// Findings in the order the checks ran.
    pub findings: Vec<Finding>,
    /// State for the next run.
    pub snapshot: Snapshot,
    /// MX hosts found.
    pub mx_hosts: Vec<String>,
    /// Policy text served (valid UTF-8 only).
    pub policy_text: Option<String>,
    /// Wall time.
    pub elapsed: Duration,
}

impl Outcome {
    /// The worst severity.
    pub fn worst(&self) -> Severity {
        self.findings
            .iter()
            .map(|f| f.severity)
            .max()
            .unwrap_or(Severity::Pass)
    }

    /// Number of findings with severity `s`.
    pub fn count(&self, s: Severity) -> usize {
        self.findings.iter().filter(|f| f.severity == s).count()
    }
}

/// The checker.
pub struct Checker {
    config: CheckerConfig,
    tls: Tls,
}

struct Out {
    findings: Vec<Finding>,
}

impl Out {
    fn add(&mut self, id: &str, severity: Severity, detail: impl Into<String>) -> &mut Finding {
        let (title, rfc, fix) = catalogue::meta(id);
        self.findings.push(Finding {
            id: id.to_string(),
            severity,
            title: title.to_string(),
            detail: detail.into(),
            fix: if matches!(severity, Severity::Pass | Severity::Info | Severity::Skip) {
                String::new()
            } else {
                fix.to_string()
            },
            rfc: rfc.to_string(),
            subject: None,
            result_type: None,
        });
        self.findings.last_mut().expect("just pushed")
    }

    fn skip(&mut self, ids: &[&str], why: &str) {
        for id in ids {
            self.add(id, Severity::Skip, format!("skipped: {why}"));
        }
    }

    fn has(&self, id: &str, s: Severity) -> bool {
        self.findings.iter().any(|f| f.id == id && f.severity == s)
    }
}

trait FindingExt {
    fn on(&mut self, subject: impl Into<String>) -> &mut Self;
    fn reported_as(&mut self, rt: &str) -> &mut Self;
}

impl FindingExt for Finding {
    fn on(&mut self, subject: impl Into<String>) -> &mut Self {
        self.subject = Some(subject.into());
        self
    }
    fn reported_as(&mut self, rt: &str) -> &mut Self {
        self.result_type = Some(rt.to_string());
        self
    }
}

fn days_left(not_after: i64, now: i64) -> i64 {
    (not_after - now).div_euclid(86_400)
}

fn fmt_time(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// Facts of the MTA-STS TXT lookup needed later.
#[derive(Default)]
struct TxtState {
    id: Option<String>,
    valid: bool,
    present: bool,
}

impl Checker {
    /// A checker with these settings.
    pub fn new(config: CheckerConfig) -> anyhow::Result<Self> {
        let tls = Tls::new(config.roots.clone())?;
        Ok(Self { config, tls })
    }

    /// The settings.
    pub fn config(&self) -> &CheckerConfig {
        &self.config
    }

    fn allowed(&self, ip: IpAddr) -> bool {
        self.config.allow_private || guard::is_public(ip)
    }

    /// Runs every check for `domain`. `previous`: the last run's snapshot, for group J.
    pub async fn check(&self, domain: &str, previous: Option<&Snapshot>) -> Outcome {
        let started = Instant::now();
        let now = chrono::Utc::now().timestamp();
        let mut out = Out {
            findings: Vec::new(),
        };
        let Some(domain) = crate::domain::names::normalize_domain(domain)
            .filter(|d| d.contains('.') && d.parse::<IpAddr>().is_err() && !d.contains('_'))
        else {
            out.add(
                "CHECK-00",
                Severity::Fail,
                format!("{domain:?} is not a domain name"),
            );
            return Outcome {
                domain: domain.to_string(),
                findings: out.findings,
                snapshot: Snapshot {
                    at: now,
                    ..Snapshot::default()
                },
                mx_hosts: Vec::new(),
                policy_text: None,
                elapsed: started.elapsed(),
            };
        };
        let dns = match Dns::new(&self.config.dns_servers, self.config.dns_timeout) {
            Ok(d) => d,
            Err(e) => {
                out.add(
                    "STS-TXT-01",
                    Severity::Error,
                    format!("no DNS resolver: {e}"),
                );
                return Outcome {
                    domain,
                    findings: out.findings,
                    snapshot: Snapshot {
                        at: now,
                        ..Snapshot::default()
                    },
                    mx_hosts: Vec::new(),
                    policy_text: None,
                    elapsed: started.elapsed(),
                };
            }
        };

        // DNS first: MX, _mta-sts, _smtp._tls, policy host, all at once.
        let policy_host = format!("mta-sts.{domain}");
        let (sts_name, rpt_name) = (format!("_mta-sts.{domain}"), format!("_smtp._tls.{domain}"));
        let (mx, sts_txt, rpt_txt, host_ips, mx_ad) = tokio::join!(
            dns.mx(&domain),
            dns.txt(&sts_name),
            dns.txt(&rpt_name),
            dns.ips(&policy_host),
            dns.authenticated(&domain, RecordType::MX),
        );

        // A. _mta-sts TXT
        let txt = self.txt_checks(&mut out, &dns, &domain, &sts_txt).await;

        // E-01/02: MX set and addresses.
        let mut mx_hosts: Vec<String> = Vec::new();
        let mut null_mx = false;
        match &mx {
            Ok(a) => {
                if a.data.len() == 1 && (a.data[0].1.is_empty() || a.data[0].1 == ".") {
                    null_mx = true;
                    out.add(
                        "STS-MX-01",
                        Severity::Info,
                        "null MX (\"0 .\"): the domain accepts no mail, so MTA-STS is irrelevant",
                    );
                } else {
                    mx_hosts = a.data.iter().map(|(_, h)| h.clone()).collect();
                    mx_hosts.dedup();
                    let list: Vec<String> =
                        a.data.iter().map(|(p, h)| format!("{p} {h}")).collect();
                    out.add(
                        "STS-MX-01",
                        Severity::Pass,
                        format!("MX: {}", list.join(", ")),
                    );
                }
            }
            Err(DnsError::NoData) => {
                out.add("STS-MX-01", Severity::Warn, format!("no MX records: senders use the domain itself ({domain}) as the implicit MX (RFC 5321 §5.1)"));
                mx_hosts.push(domain.clone());
            }
            Err(DnsError::NxDomain) => {
                out.add(
                    "STS-MX-01",
                    Severity::Fail,
                    format!("{domain} does not exist (NXDOMAIN)"),
                );
            }
            Err(e) => {
                out.add(
                    "STS-MX-01",
                    Severity::Error,
                    format!("MX lookup failed: {e}"),
                );
            }
        }
        match mx_ad {
            Some(true) => out.add("DANE-01", Severity::Info, "the MX answer was DNSSEC-validated (AD bit set)"),
            Some(false) => out.add("DANE-01", Severity::Info, "the MX answer is not DNSSEC-authenticated (AD bit clear): MX, MTA-STS and TLS-RPT records can be spoofed on the path"),
            None => out.add("DANE-01", Severity::Info, "the resolver could not be asked for the AD bit; DNSSEC state unknown"),
        };
        let mut mx_addrs: BTreeMap<String, Vec<IpAddr>> = BTreeMap::new();
        let lookups = futures::future::join_all(mx_hosts.iter().map(|h| dns.ips(h))).await;
        for (host, r) in mx_hosts.iter().zip(lookups) {
            match r {
                Ok(a) => {
                    let ips: Vec<String> = a.data.iter().map(ToString::to_string).collect();
                    if a.cname_chain.is_empty() {
                        out.add(
                            "STS-MX-02",
                            Severity::Pass,
                            format!("{host}: {}", ips.join(", ")),
                        )
                        .on(host.clone());
                    } else {
                        out.add("STS-MX-02", Severity::Warn, format!("{host} is a CNAME ({}); MX targets must be host names with address records, and policy matching uses the MX name", a.cname_chain.join(" → "))).on(host.clone());
                    }
                    mx_addrs.insert(host.clone(), a.data);
                }
                Err(e) if e.is_absent() => {
                    out.add(
                        "STS-MX-02",
                        Severity::Fail,
                        format!(
                            "{host} has no A/AAAA records ({e}); mail cannot be delivered to it"
                        ),
                    )
                    .on(host.clone());
                }
                Err(e) => {
                    out.add("STS-MX-02", Severity::Error, format!("{host}: {e}"))
                        .on(host.clone());
                }
            }
        }

        // B–D: policy host, HTTP, policy.
        let (policy, body_hash, policy_text) = self
            .policy_checks(&mut out, &domain, &policy_host, &host_ips, &txt, now)
            .await;

        // E-03..08 cross-checks.
        self.mx_cross_checks(&mut out, &domain, &mx_hosts, policy.as_ref(), null_mx);

        // F: SMTP probes.
        let mode = policy.as_ref().and_then(|p| p.mode);
        self.smtp_checks(&mut out, &dns, &mx_addrs, mode, now).await;

        // G: TLS-RPT.
        let rpt_valid = self
            .tlsrpt_checks(&mut out, &dns, &domain, &rpt_txt, mode)
            .await;

        // H: DANE per MX.
        let mut any_tlsa = false;
        for host in mx_addrs.keys() {
            let name = format!("_25._tcp.{host}");
            match dns.tlsa(&name).await {
                Ok(a) => {
                    any_tlsa = true;
                    let ad = dns.authenticated(&name, RecordType::TLSA).await;
                    let sev = if ad == Some(false) {
                        Severity::Warn
                    } else {
                        Severity::Info
                    };
                    out.add("DANE-02", sev, format!("{name}: {} TLSA record(s){}", a.data.len(), if ad == Some(false) { ", but the answer is not DNSSEC-authenticated: DANE senders ignore them" } else { "; DANE senders validate this MX with them" })).on(host.clone());
                    out.add("DANE-03", Severity::Info, a.data.join("; "))
                        .on(host.clone());
                    let rpt = format!("_smtp._tls.{host}");
                    match dns.txt(&rpt).await {
                        Ok(_) => out.add("RPT-TXT-13", Severity::Pass, format!("{rpt} exists for DANE reports")).on(host.clone()),
                        Err(_) => out.add("RPT-TXT-13", Severity::Info, format!("no {rpt}: DANE senders report to the MX host's own TLS-RPT record")).on(host.clone()),
                    };
                }
                Err(DnsError::ServFail(code)) => {
                    out.add("DANE-02", Severity::Fail, format!("{name}: {code} (a bogus DNSSEC answer makes DANE senders defer: dnssec-invalid)")).on(host.clone()).reported_as("dnssec-invalid");
                }
                Err(_) => {
                    out.add(
                        "DANE-02",
                        Severity::Info,
                        format!("no TLSA records at {name} (DANE not used)"),
                    )
                    .on(host.clone());
                }
            }
        }

        // I: consistency.
        self.consistency(
            &mut out,
            &domain,
            &txt,
            policy.as_ref(),
            rpt_valid,
            null_mx,
            any_tlsa,
            &rpt_txt,
        );

        // J: stateful.
        let snapshot = self.stateful(&mut out, previous, &txt, policy.as_ref(), body_hash, now);

        Outcome {
            domain,
            findings: out.findings,
            snapshot,
            mx_hosts,
            policy_text,
            elapsed: started.elapsed(),
        }
    }
}

struct CertIds {
    version: &'static str,
    chain: &'static str,
    name: &'static str,
    validity: &'static str,
}

fn short(s: &str) -> String {
    let mut t: String = s.chars().take(200).collect();
    if t.len() < s.len() {
        t.push('…');
    }
    t
}
