//! MTA-STS and TLS-RPT configuration checks (catalogue groups A–J of the spec, §2.4), run in
//! the §2.8 order with explicit skips. Real DNS (hickory-resolver), real TLS (rustls) and real
//! HTTP and SMTP; tests point it at servers they start on loopback ([`lab`]).

pub mod catalogue;
mod dane;
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
#[cfg(test)]
mod verdicts;

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
    /// A run that stopped before reaching the network checks, with what it found so far.
    fn stopped(domain: String, out: Out, now: i64, started: Instant) -> Self {
        Self {
            domain,
            findings: out.findings,
            snapshot: Snapshot {
                at: now,
                ..Snapshot::default()
            },
            mx_hosts: Vec::new(),
            policy_text: None,
            elapsed: started.elapsed(),
        }
    }

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
    /// A resolver with this checker's DNS servers and timeout (for the domain proofs).
    pub fn dns(&self) -> anyhow::Result<Dns> {
        Dns::new(&self.config.dns_servers, self.config.dns_timeout)
    }

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
            return Outcome::stopped(domain.to_string(), out, now, started);
        };
        let dns = match Dns::new(&self.config.dns_servers, self.config.dns_timeout) {
            Ok(d) => d,
            Err(e) => {
                out.add(
                    "STS-TXT-01",
                    Severity::Error,
                    format!("no DNS resolver: {e}"),
                );
                return Outcome::stopped(domain, out, now, started);
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
        let txt_facts = txt::gather_txt(&dns, &domain, sts_txt).await;
        let txt = txt::verify_txt(&mut out, &domain, &txt_facts);

        // E-01/02: MX set and addresses.
        let mx_facts = mx::gather_mx_set(&dns, &domain, mx, mx_ad).await;
        let mx::MxSet {
            hosts: mx_hosts,
            null_mx,
            addrs: mx_addrs,
        } = mx::verify_mx_set(&mut out, &domain, &mx_facts);

        // B–D: policy host, HTTP, policy.
        let policy_facts = self.gather_policy(&policy_host, &host_ips).await;
        let (policy, body_hash, policy_text) =
            self.verify_policy(&mut out, &policy_host, &host_ips, &policy_facts, &txt, now);

        // E-03..08 cross-checks.
        self.mx_cross_checks(&mut out, &domain, &mx_hosts, policy.as_ref(), null_mx);

        // F: SMTP probes.
        let mode = policy.as_ref().and_then(|p| p.mode);
        let smtp_facts = self.gather_smtp(&dns, &mx_addrs).await;
        self.verify_smtp(&mut out, smtp_facts, mode, now);

        // G: TLS-RPT.
        let rpt_facts = tlsrpt::gather_tlsrpt(&dns, &domain, rpt_txt).await;
        let rpt_valid = tlsrpt::verify_tlsrpt(&mut out, &domain, &rpt_facts);

        // H: DANE per MX.
        let dane_facts = dane::gather_dane(&dns, mx_addrs.keys()).await;
        let any_tlsa = dane::verify_dane(&mut out, &dane_facts);

        // I: consistency.
        self.consistency(
            &mut out,
            &domain,
            &txt,
            policy.as_ref(),
            rpt_valid,
            null_mx,
            any_tlsa,
            &rpt_facts.answer,
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
