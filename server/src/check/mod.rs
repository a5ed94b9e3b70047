//! MTA-STS and TLS-RPT configuration checks (catalogue groups A–J of the spec, §2.4), run in
//! the §2.8 order with explicit skips. Real DNS (hickory-resolver), real TLS (rustls) and real
//! HTTP and SMTP; tests point it at servers they start on loopback ([`lab`]).

pub mod catalogue;
pub mod dns;
pub mod guard;
pub mod lab;
pub mod probe;
pub mod records;
pub mod run;
pub mod setup;

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

    async fn txt_checks(
        &self,
        out: &mut Out,
        dns: &Dns,
        domain: &str,
        answer: &Result<dns::Answer<Vec<Vec<Vec<u8>>>>, DnsError>,
    ) -> TxtState {
        let name = format!("_mta-sts.{domain}");
        let mut st = TxtState::default();
        let later = [
            "STS-TXT-03",
            "STS-TXT-07",
            "STS-TXT-08",
            "STS-TXT-11",
            "STS-TXT-12",
        ];
        let a = match answer {
            Ok(a) => a,
            Err(e) if e.is_absent() => {
                out.add(
                    "STS-TXT-01",
                    Severity::Info,
                    format!("no TXT record at {name} ({e}): MTA-STS is not deployed"),
                );
                // STS-TXT-05: the record at the apex by mistake?
                if let Ok(apex) = dns.txt(domain).await {
                    if apex.data.iter().any(|r| r.concat().starts_with(b"v=STSv1")) {
                        out.add(
                            "STS-TXT-05",
                            Severity::Fail,
                            format!("a v=STSv1 record is published at {domain} instead of {name}"),
                        );
                    }
                }
                out.skip(&later, "no MTA-STS record");
                return st;
            }
            Err(e) => {
                out.add("STS-TXT-01", Severity::Error, format!("{name}: {e}"));
                out.skip(&later, "the record lookup failed");
                return st;
            }
        };
        out.add(
            "STS-TXT-01",
            Severity::Pass,
            format!("{} TXT record(s) at {name}", a.data.len()),
        );
        if !a.cname_chain.is_empty() {
            out.add(
                "STS-TXT-02",
                Severity::Info,
                format!(
                    "{name} is delegated through CNAME: {}",
                    a.cname_chain.join(" → ")
                ),
            );
        }
        let joined: Vec<String> = a
            .data
            .iter()
            .map(|strings| String::from_utf8_lossy(&strings.concat()).into_owned())
            .collect();
        for (strings, text) in a.data.iter().zip(&joined) {
            if strings.len() > 1 {
                let parts: Vec<String> = strings
                    .iter()
                    .map(|s| format!("{:?}", String::from_utf8_lossy(s)))
                    .collect();
                let inside_token = strings
                    .iter()
                    .take(strings.len() - 1)
                    .any(|s| s.last().is_some_and(|b| !matches!(b, b';' | b' ')));
                out.add("STS-TXT-06", if inside_token { Severity::Warn } else { Severity::Info }, format!("the record is split into {} strings ({}); senders join them without spaces: {text:?}", strings.len(), parts.join(" + ")));
            }
        }
        let candidates: Vec<&String> = joined
            .iter()
            .filter(|t| records::is_sts_candidate(t))
            .collect();
        let unrelated: Vec<&String> = joined
            .iter()
            .filter(|t| !records::is_sts_candidate(t))
            .collect();
        if !unrelated.is_empty() {
            let spf = unrelated.iter().any(|t| t.starts_with("v=spf1"));
            out.add(
                "STS-TXT-04",
                Severity::Warn,
                format!(
                    "{} other TXT record(s) at {name}{}: {}",
                    unrelated.len(),
                    if spf {
                        " including an SPF record (a wildcard TXT record?)"
                    } else {
                        ""
                    },
                    unrelated
                        .iter()
                        .map(|t| format!("{:?}", short(t)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
        st.present = !candidates.is_empty();
        match candidates.len() {
            0 => {
                out.add("STS-TXT-03", Severity::Fail, format!("no record at {name} starts with v=STSv1; senders assume there is no policy"));
                out.skip(&["STS-TXT-07", "STS-TXT-08"], "no v=STSv1 record");
            }
            1 => {
                out.add(
                    "STS-TXT-03",
                    Severity::Pass,
                    format!("one MTA-STS record: {:?}", short(candidates[0])),
                );
                let rec = records::parse_sts_record(candidates[0]);
                let mut syntax_reported = false;
                let mut id_reported = false;
                for p in &rec.problems {
                    match p.id {
                        "STS-TXT-07" => syntax_reported = true,
                        "STS-TXT-08" => id_reported = true,
                        _ => {}
                    }
                    out.add(p.id, p.severity, p.message.clone());
                }
                if !syntax_reported {
                    out.add(
                        "STS-TXT-07",
                        Severity::Pass,
                        "the record follows the grammar",
                    );
                }
                if !id_reported {
                    if let Some(id) = &rec.id {
                        out.add("STS-TXT-08", Severity::Pass, format!("id={id}"));
                    }
                }
                for (k, v) in &rec.extensions {
                    out.add(
                        "STS-TXT-10",
                        Severity::Info,
                        format!("unknown field {k}={v} is ignored by senders"),
                    );
                }
                st.valid = rec.valid();
                st.id = rec.id.filter(|_| st.valid);
            }
            n => {
                out.add("STS-TXT-03", Severity::Fail, format!("{n} records start with v=STSv1; with more than one, senders assume there is no policy"));
                out.skip(&["STS-TXT-07", "STS-TXT-08"], "several v=STSv1 records");
            }
        }
        match dns.authenticated(&name, RecordType::TXT).await {
            Some(true) => out.add(
                "STS-TXT-11",
                Severity::Info,
                "DNSSEC-validated (AD bit set)",
            ),
            Some(false) => out.add(
                "STS-TXT-11",
                Severity::Info,
                "not DNSSEC-authenticated: an attacker on the path could hide the record",
            ),
            None => out.add(
                "STS-TXT-11",
                Severity::Info,
                "DNSSEC state unknown (the resolver could not be asked)",
            ),
        };
        out.add(
            "STS-TXT-12",
            Severity::Info,
            format!("TTL {} s: a new id reaches senders within this time", a.ttl),
        );
        st
    }

    #[allow(clippy::too_many_arguments)]
    async fn policy_checks(
        &self,
        out: &mut Out,
        domain: &str,
        host: &str,
        ips: &Result<dns::Answer<Vec<IpAddr>>, DnsError>,
        txt: &TxtState,
        now: i64,
    ) -> (Option<Policy>, Option<String>, Option<String>) {
        let tls_ids = [
            "STS-HOST-02",
            "STS-HOST-03",
            "STS-HOST-04",
            "STS-HOST-05",
            "STS-HOST-06",
            "STS-HOST-07",
            "STS-HOST-08",
        ];
        let http_ids = [
            "STS-HTTP-01",
            "STS-HTTP-03",
            "STS-HTTP-04",
            "STS-HTTP-05",
            "STS-HTTP-06",
            "STS-HTTP-07",
        ];
        let pol_ids = [
            "STS-POL-01",
            "STS-POL-02",
            "STS-POL-03",
            "STS-POL-04",
            "STS-POL-05",
            "STS-POL-06",
            "STS-POL-07",
            "STS-POL-08",
            "STS-POL-12",
        ];
        let skip_rest = |out: &mut Out, why: &str| {
            out.skip(&tls_ids, why);
            out.skip(&http_ids, why);
            out.skip(&pol_ids, why);
        };
        // Without a record the policy is still fetched (§2.8) so STS-X-02 can be reported, but
        // a missing host is then only informational.
        let ips = match ips {
            Ok(a) => {
                let list: Vec<String> = a.data.iter().map(ToString::to_string).collect();
                let via = if a.cname_chain.is_empty() {
                    String::new()
                } else {
                    format!(" (via CNAME {})", a.cname_chain.join(" → "))
                };
                out.add(
                    "STS-HOST-01",
                    Severity::Pass,
                    format!("{host}: {}{via}", list.join(", ")),
                );
                a.data.clone()
            }
            Err(e) if e.is_absent() => {
                if txt.present {
                    out.add(
                        "STS-HOST-01",
                        Severity::Fail,
                        format!(
                            "{host} does not resolve ({e}); senders report sts-policy-fetch-error"
                        ),
                    )
                    .reported_as("sts-policy-fetch-error");
                } else {
                    out.add(
                        "STS-HOST-01",
                        Severity::Info,
                        format!("{host} does not resolve ({e})"),
                    );
                }
                skip_rest(out, "the policy host does not resolve");
                return (None, None, None);
            }
            Err(e) => {
                out.add("STS-HOST-01", Severity::Error, format!("{host}: {e}"));
                skip_rest(out, "the policy host lookup failed");
                return (None, None, None);
            }
        };
        // Connect to each address (bounded), keep the first complete fetch.
        let mut fetches: Vec<(IpAddr, Fetch)> = Vec::new();
        let mut refused: Vec<IpAddr> = Vec::new();
        for ip in ips.iter().take(4) {
            if !self.allowed(*ip) {
                refused.push(*ip);
                continue;
            }
            let f = probe::fetch_policy(
                &self.tls,
                host,
                SocketAddr::new(*ip, self.config.https_port),
                concat!("tlswatch/", env!("CARGO_PKG_VERSION"), " (MTA-STS checker)"),
                self.config.policy_max_bytes,
                self.config.http_timeout,
            )
            .await;
            fetches.push((*ip, f));
        }
        for ip in &refused {
            out.add("STS-HOST-02", Severity::Error, format!("{ip} is not a public address; the checker does not connect to it (set TLSWATCH_CHECK_ALLOW_PRIVATE=true on private networks)")).on(format!("{host} {ip}"));
        }
        let reachable: Vec<&(IpAddr, Fetch)> =
            fetches.iter().filter(|(_, f)| f.tls.is_ok()).collect();
        let failed: Vec<String> = fetches
            .iter()
            .filter_map(|(ip, f)| f.tls.as_ref().err().map(|e| format!("{ip}: {e}")))
            .collect();
        if fetches.is_empty() {
            out.skip(&tls_ids[1..], "no address the checker may connect to");
            out.skip(&http_ids, "no address the checker may connect to");
            out.skip(&pol_ids, "no address the checker may connect to");
            return (None, None, None);
        }
        if reachable.is_empty() {
            let sev = if txt.present {
                Severity::Fail
            } else {
                Severity::Info
            };
            let all_connect = fetches
                .iter()
                .all(|(_, f)| f.tls.as_ref().err().is_some_and(|e| e.contains("connect")));
            let rt = if all_connect {
                "sts-policy-fetch-error"
            } else {
                "sts-webpki-invalid"
            };
            out.add(
                "STS-HOST-02",
                sev,
                format!(
                    "no address of {host} completed a TLS handshake: {}",
                    failed.join("; ")
                ),
            )
            .reported_as(rt);
            out.skip(&tls_ids[1..], "no TLS connection");
            out.skip(&http_ids, "no TLS connection");
            out.skip(&pol_ids, "no TLS connection");
            return (None, None, None);
        }
        if failed.is_empty() {
            out.add(
                "STS-HOST-02",
                Severity::Pass,
                format!(
                    "{} address(es) answered on port {}",
                    reachable.len(),
                    self.config.https_port
                ),
            );
        } else {
            out.add(
                "STS-HOST-02",
                Severity::Warn,
                format!("some addresses failed: {}", failed.join("; ")),
            );
        }
        let (ip, fetch) = reachable[0];
        let facts = fetch.tls.as_ref().expect("reachable");
        self.cert_checks(
            out,
            facts,
            host,
            now,
            CertIds {
                version: "STS-HOST-03",
                chain: "STS-HOST-04",
                name: "STS-HOST-05",
                validity: "STS-HOST-06",
            },
            None,
            "sts-webpki-invalid",
        );
        out.add(
            "STS-HOST-07",
            Severity::Info,
            "revocation (OCSP/CRL) is not checked",
        );
        // STS-HOST-08: the same certificate without SNI?
        let sni_leaf = facts.leaf().map(|c| c.sha256);
        match probe::connect(
            SocketAddr::new(*ip, self.config.https_port),
            self.config.http_timeout,
        )
        .await
        {
            Ok(tcp) => match self.tls.handshake(tcp, None, *ip, true).await {
                Ok((_, f)) if f.leaf().map(|c| c.sha256) == sni_leaf => out.add(
                    "STS-HOST-08",
                    Severity::Pass,
                    "the same certificate is served without SNI",
                ),
                Ok(_) => out.add(
                    "STS-HOST-08",
                    Severity::Info,
                    "a different certificate is served without SNI (fine: senders send SNI)",
                ),
                Err(e) => out.add(
                    "STS-HOST-08",
                    Severity::Info,
                    format!("without SNI the handshake fails ({e}); fine, senders send SNI"),
                ),
            },
            Err(e) => out.add("STS-HOST-08", Severity::Info, format!("not tested: {e}")),
        };

        // C. HTTP
        let answer = match &fetch.http {
            Ok(a) => a,
            Err(e) => {
                let sev = if txt.present {
                    Severity::Fail
                } else {
                    Severity::Info
                };
                out.add(
                    "STS-HTTP-01",
                    sev,
                    format!("GET https://{host}/.well-known/mta-sts.txt failed: {e}"),
                )
                .reported_as("sts-policy-fetch-error");
                out.skip(&http_ids[1..], "no HTTP answer");
                out.skip(&pol_ids, "no HTTP answer");
                return (None, None, None);
            }
        };
        let url = format!("https://{host}/.well-known/mta-sts.txt");
        let fail_sev = if txt.present {
            Severity::Fail
        } else {
            Severity::Info
        };
        let status_ok = answer.status == 200;
        match answer.status {
            200 => {
                out.add("STS-HTTP-01", Severity::Pass, format!("{url} answered 200"));
            }
            300..=399 => {
                let loc = answer.location.clone().unwrap_or_default();
                out.add("STS-HTTP-01", fail_sev, format!("{url} answered {} (redirect to {loc:?}); senders MUST NOT follow redirects", answer.status)).reported_as("sts-policy-fetch-error");
                out.add("STS-HTTP-02", Severity::Info, format!("a browser would follow the redirect to {loc:?} and may see a policy there; sending MTAs will not"));
            }
            404 => {
                out.add(
                    "STS-HTTP-01",
                    fail_sev,
                    format!("{url} answered 404: no policy is served"),
                )
                .reported_as("sts-policy-fetch-error");
            }
            s => {
                out.add(
                    "STS-HTTP-01",
                    fail_sev,
                    format!("{url} answered {s}; only 200 is valid"),
                )
                .reported_as("sts-policy-fetch-error");
            }
        }
        match answer
            .content_type
            .as_deref()
            .map(|c| c.to_ascii_lowercase())
        {
            None => out.add(
                "STS-HTTP-03",
                Severity::Warn,
                "no Content-Type header; some senders (Postfix's resolver) require text/plain",
            ),
            Some(ct) => {
                let mut parts = ct.split(';').map(str::trim);
                let media = parts.next().unwrap_or("");
                let charset = parts
                    .find_map(|p| p.strip_prefix("charset="))
                    .map(|c| c.trim_matches('"').to_string());
                if media != "text/plain" {
                    out.add("STS-HTTP-03", Severity::Warn, format!("Content-Type is {ct:?}; senders SHOULD accept only text/plain and some (Postfix's resolver) refuse anything else"))
                } else if charset
                    .as_deref()
                    .is_some_and(|c| c != "utf-8" && c != "us-ascii")
                {
                    out.add(
                        "STS-HTTP-03",
                        Severity::Warn,
                        format!(
                            "charset {:?} is not utf-8 or us-ascii",
                            charset.unwrap_or_default()
                        ),
                    )
                } else {
                    out.add("STS-HTTP-03", Severity::Pass, format!("Content-Type: {ct}"))
                }
            }
        };
        if answer.too_large {
            out.add(
                "STS-HTTP-04",
                fail_sev,
                format!(
                    "the body is larger than {} bytes; senders stop reading",
                    self.config.policy_max_bytes
                ),
            )
            .reported_as("sts-policy-invalid");
        } else {
            out.add(
                "STS-HTTP-04",
                Severity::Pass,
                format!("{} bytes", answer.body.len()),
            );
        }
        let secs = fetch.elapsed.as_secs_f64();
        out.add(
            "STS-HTTP-05",
            if secs >= 60.0 {
                Severity::Fail
            } else if secs >= 10.0 {
                Severity::Warn
            } else {
                Severity::Pass
            },
            format!("connect, TLS and GET took {:.0} ms", secs * 1000.0),
        );
        // STS-HTTP-06: a non-browser client sees the same?
        if status_ok {
            let other = probe::fetch_policy(
                &self.tls,
                host,
                SocketAddr::new(*ip, self.config.https_port),
                "libwww-perl/6.72",
                self.config.policy_max_bytes,
                self.config.http_timeout,
            )
            .await;
            match other.http {
                Ok(a) if a.status == 200 && a.body == answer.body => out.add("STS-HTTP-06", Severity::Pass, "a client with another user agent gets the same policy"),
                Ok(a) => out.add("STS-HTTP-06", Severity::Fail, format!("a client with user agent libwww-perl got status {} and a different body: bot protection blocks some senders", a.status)).reported_as("sts-policy-fetch-error"),
                Err(e) => out.add("STS-HTTP-06", Severity::Warn, format!("a second fetch failed: {e}")),
            };
        } else {
            out.skip(&["STS-HTTP-06"], "the first fetch did not return 200");
        }
        match &answer.cache_control {
            Some(cc) => out.add(
                "STS-HTTP-07",
                Severity::Info,
                format!("Cache-Control: {cc} (senders ignore HTTP caching)"),
            ),
            None => out.add("STS-HTTP-07", Severity::Info, "no Cache-Control header"),
        };
        if !status_ok || answer.too_large {
            out.skip(&pol_ids, "no policy body to read");
            return (None, None, None);
        }

        // D. policy content
        let body = &answer.body;
        let hash = hex::encode(sha2::Sha256::digest(body));
        let policy = records::parse_policy(body);
        let mut reported: Vec<&str> = Vec::new();
        for p in &policy.problems {
            let f = out.add(p.id, p.severity, p.message.clone());
            if p.severity == Severity::Fail {
                f.reported_as("sts-policy-invalid");
            }
            reported.push(p.id);
        }
        let line_end = if body.windows(2).any(|w| w == b"\r\n") {
            "CRLF"
        } else {
            "LF"
        };
        let defaults: [(&str, String); 8] = [
            ("STS-POL-01", "UTF-8 without byte-order mark".into()),
            ("STS-POL-02", format!("{line_end} line endings")),
            ("STS-POL-03", "every line is \"key: value\"".into()),
            ("STS-POL-04", "version: STSv1".into()),
            (
                "STS-POL-05",
                format!("mode: {}", policy.mode.map(Mode::as_str).unwrap_or("?")),
            ),
            (
                "STS-POL-06",
                format!(
                    "max_age: {}",
                    policy.max_age.map(|m| m.to_string()).unwrap_or_default()
                ),
            ),
            ("STS-POL-07", format!("{} mx line(s)", policy.mx.len())),
            (
                "STS-POL-08",
                if policy.mx.is_empty() {
                    "no mx lines".into()
                } else {
                    policy.mx.join(", ")
                },
            ),
        ];
        for (id, detail) in defaults {
            if !reported.contains(&id) {
                out.add(id, Severity::Pass, detail);
            }
        }
        if policy.max_age == Some(0) {
            out.add(
                "STS-POL-06",
                Severity::Warn,
                "max_age 0 is valid but means senders do not cache the policy at all",
            );
        }
        let text = String::from_utf8(body.clone()).ok();
        out.add("STS-POL-12", Severity::Info, format!("SHA-256 {hash}"));
        if !policy.valid() && txt.present {
            out.add("STS-X-01", Severity::Fail, "the policy file is invalid; senders report sts-policy-invalid and act as if there were no policy").reported_as("sts-policy-invalid");
        }
        let _ = domain;
        (Some(policy), Some(hash), text)
    }

    #[allow(clippy::too_many_arguments)]
    fn cert_checks(
        &self,
        out: &mut Out,
        facts: &TlsFacts,
        name: &str,
        now: i64,
        ids: CertIds,
        subject: Option<&str>,
        webpki_rt: &str,
    ) {
        let on = |f: &mut Finding| {
            if let Some(s) = subject {
                f.on(s.to_string());
            }
        };
        let v = facts.version.as_str();
        if v.contains("1_3") || v.contains("1_2") {
            on(out.add(
                ids.version,
                Severity::Pass,
                format!("{} with {}", v.replace('_', "."), facts.cipher),
            ));
        } else {
            on(out.add(
                ids.version,
                Severity::Fail,
                format!("negotiated {v}; TLS 1.2 or later is required"),
            ));
        }
        let leaf = facts.leaf();
        let rt_for = |rt: &'static str| {
            if webpki_rt == "sts-webpki-invalid" {
                webpki_rt
            } else {
                rt
            }
        };
        match &facts.verify_error {
            None => {
                on(out.add(
                    ids.chain,
                    Severity::Pass,
                    format!(
                        "chain verified (issuer {})",
                        leaf.as_ref().map(|l| l.issuer.clone()).unwrap_or_default()
                    ),
                ));
                on(out.add(ids.name, Severity::Pass, format!("valid for {name}")));
            }
            Some(e) => {
                let rt = probe::result_type_of(e);
                match rt {
                    "certificate-host-mismatch" => {
                        on(out.add(ids.chain, Severity::Pass, "chain verified"));
                        let names = leaf
                            .as_ref()
                            .map(|l| l.dns_names.join(", "))
                            .unwrap_or_default();
                        on(out
                            .add(
                                ids.name,
                                Severity::Fail,
                                format!(
                                    "the certificate is not valid for {name} (it names: {names})"
                                ),
                            )
                            .reported_as(rt_for(rt)));
                    }
                    "certificate-expired" => {
                        on(out.add(
                            ids.chain,
                            Severity::Pass,
                            "chain verified apart from the dates",
                        ));
                        on(out.add(
                            ids.name,
                            Severity::Skip,
                            "skipped: the certificate is outside its validity period",
                        ));
                    }
                    _ => {
                        let issuer = leaf.as_ref().map(|l| l.issuer.clone()).unwrap_or_default();
                        on(out
                            .add(
                                ids.chain,
                                Severity::Fail,
                                format!("not trusted: {e} (issuer {issuer})"),
                            )
                            .reported_as(rt_for(rt)));
                        on(out.add(
                            ids.name,
                            Severity::Skip,
                            "skipped: the chain is not trusted",
                        ));
                    }
                }
            }
        }
        match leaf {
            Some(l) => {
                let left = days_left(l.not_after, now);
                if l.not_after < now || l.not_before > now {
                    let what = if l.not_after < now {
                        format!("expired on {}", fmt_time(l.not_after))
                    } else {
                        format!("not valid before {}", fmt_time(l.not_before))
                    };
                    on(out
                        .add(
                            ids.validity,
                            Severity::Fail,
                            format!("the certificate {what}"),
                        )
                        .reported_as(rt_for("certificate-expired")));
                } else if left < self.config.expiry_warn_days {
                    on(out.add(
                        ids.validity,
                        Severity::Warn,
                        format!("expires in {left} days ({})", fmt_time(l.not_after)),
                    ));
                } else if left < 30 {
                    on(out.add(
                        ids.validity,
                        Severity::Info,
                        format!("expires in {left} days ({})", fmt_time(l.not_after)),
                    ));
                } else {
                    on(out.add(
                        ids.validity,
                        Severity::Pass,
                        format!("valid until {} ({left} days)", fmt_time(l.not_after)),
                    ));
                }
            }
            None => {
                on(out.add(
                    ids.validity,
                    Severity::Error,
                    "the certificate could not be read",
                ));
            }
        }
    }

    fn mx_cross_checks(
        &self,
        out: &mut Out,
        domain: &str,
        mx_hosts: &[String],
        policy: Option<&Policy>,
        null_mx: bool,
    ) {
        let ids = ["STS-MX-03", "STS-MX-04", "STS-MX-05"];
        let Some(policy) = policy.filter(|p| p.mode.is_some()) else {
            out.skip(&ids, "no valid policy to compare with");
            return;
        };
        if mx_hosts.is_empty() || null_mx {
            out.skip(&ids, "no MX hosts");
            return;
        }
        let mode = policy.mode.unwrap_or(Mode::None);
        let mut covered = 0;
        for host in mx_hosts {
            if policy.mx.iter().any(|p| records::mx_matches(p, host)) {
                covered += 1;
                out.add("STS-MX-03", Severity::Pass, format!("{host} is covered"))
                    .on(host.clone());
            } else {
                let sev = match mode {
                    Mode::Enforce => Severity::Fail,
                    Mode::Testing => Severity::Warn,
                    Mode::None => Severity::Info,
                };
                out.add(
                    "STS-MX-03",
                    sev,
                    format!(
                        "{host} matches no mx line ({}); senders report validation-failure{}",
                        policy.mx.join(", "),
                        if mode == Mode::Enforce {
                            " and refuse to deliver to it"
                        } else {
                            ""
                        }
                    ),
                )
                .on(host.clone())
                .reported_as("validation-failure");
                for p in &policy.mx {
                    if let Some(base) = p.strip_prefix("*.") {
                        if host == base {
                            out.add("STS-MX-06", Severity::Info, format!("{p} does not match {host}: a wildcard never matches the name itself")).on(host.clone());
                        } else if host.ends_with(&format!(".{base}")) {
                            out.add("STS-MX-06", Severity::Info, format!("{p} does not match {host}: a wildcard replaces exactly one label")).on(host.clone());
                        }
                    }
                }
            }
        }
        if covered == 0 && mode == Mode::Enforce {
            out.add(
                "STS-MX-04",
                Severity::Fail,
                "no MX host is covered: every MTA-STS sender defers mail to this domain",
            )
            .reported_as("validation-failure");
        } else if covered == 0 {
            out.add(
                "STS-MX-04",
                Severity::Warn,
                "no MX host is covered; in enforce mode no MTA-STS sender could deliver",
            );
        } else {
            out.add(
                "STS-MX-04",
                Severity::Pass,
                format!("{covered} of {} MX host(s) covered", mx_hosts.len()),
            );
        }
        for p in &policy.mx {
            if mx_hosts.iter().any(|h| records::mx_matches(p, h)) {
                continue;
            }
            if p.starts_with("*.") {
                out.add(
                    "STS-MX-05",
                    Severity::Info,
                    format!("wildcard {p} matches no current MX"),
                );
            } else {
                out.add(
                    "STS-MX-05",
                    Severity::Warn,
                    format!("mx {p} is not an MX host of {domain}"),
                );
            }
        }
        if !out.findings.iter().any(|f| f.id == "STS-MX-05") {
            out.add(
                "STS-MX-05",
                Severity::Pass,
                "every mx line matches an MX host",
            );
        }
        if policy.mx.iter().any(|p| p == &format!("*.{domain}")) {
            out.add(
                "STS-MX-07",
                Severity::Info,
                format!(
                    "*.{domain} accepts any host under {domain} with a certificate as a valid MX"
                ),
            );
        }
        if mx_hosts.len() > 1 {
            out.add("STS-MX-08", Severity::Info, format!("{} MX hosts: each is probed below; backup MX problems show only when the primary fails", mx_hosts.len()));
        }
    }

    async fn smtp_checks(
        &self,
        out: &mut Out,
        dns: &Dns,
        mx_addrs: &BTreeMap<String, Vec<IpAddr>>,
        mode: Option<Mode>,
        now: i64,
    ) {
        let ids = [
            "STS-SMTP-01",
            "STS-SMTP-02",
            "STS-SMTP-03",
            "STS-SMTP-04",
            "STS-SMTP-05",
            "STS-SMTP-06",
        ];
        if mx_addrs.is_empty() {
            out.skip(&ids, "no MX host addresses");
            return;
        }
        let mut targets: Vec<(String, IpAddr)> = Vec::new();
        for (host, ips) in mx_addrs {
            for ip in ips {
                if targets.len() < self.config.max_mx_addresses {
                    targets.push((host.clone(), *ip));
                }
            }
        }
        let mut jobs = Vec::new();
        for (host, ip) in &targets {
            if !self.allowed(*ip) {
                continue;
            }
            let addr = SocketAddr::new(*ip, self.config.smtp_port);
            let host = host.clone();
            let ip = *ip;
            jobs.push(async move {
                let (probe, ptr) = tokio::join!(
                    probe::probe_smtp(
                        &self.tls,
                        &host,
                        addr,
                        &self.config.ehlo_name,
                        self.config.smtp_timeout
                    ),
                    dns.ptr(ip)
                );
                (host, ip, probe, ptr)
            });
        }
        for (host, ip) in &targets {
            if !self.allowed(*ip) {
                out.add("STS-SMTP-01", Severity::Error, format!("{ip} is not a public address; the checker does not connect to it (TLSWATCH_CHECK_ALLOW_PRIVATE)")).on(format!("{host} {ip}"));
            }
        }
        type Probed = (String, IpAddr, SmtpProbe, Result<Vec<String>, DnsError>);
        let results: Vec<Probed> = futures::future::join_all(jobs).await;
        let mut leaf_by_host: BTreeMap<String, Vec<(IpAddr, String)>> = BTreeMap::new();
        let no_sts = |sev: Severity| {
            if matches!(mode, Some(Mode::Enforce | Mode::Testing)) {
                sev
            } else {
                Severity::Warn
            }
        };
        for (host, ip, probe, ptr) in results {
            let subject = format!("{host} {ip}");
            let banner = match &probe.banner {
                Ok(b) => b.clone(),
                Err(e) => {
                    out.add("STS-SMTP-01", Severity::Error, format!("{e} (the checker's network may block port {}; not counted as a failure)", self.config.smtp_port)).on(subject.clone());
                    out.skip(&ids[1..], "no SMTP session");
                    continue;
                }
            };
            out.add(
                "STS-SMTP-01",
                Severity::Pass,
                format!("greeting: {}", short(&banner)),
            )
            .on(subject.clone());
            // Greeting names (informational).
            let banner_name = banner
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            let ptr_names = ptr.unwrap_or_default();
            let ehlo = probe.ehlo_name.clone().unwrap_or_default();
            let mut notes = Vec::new();
            if banner_name != host {
                notes.push(format!("the greeting names {banner_name:?}"));
            }
            if !ehlo.is_empty() && ehlo != host {
                notes.push(format!("EHLO names {ehlo:?}"));
            }
            if ptr_names.is_empty() {
                notes.push("the address has no reverse DNS name".into());
            } else if !ptr_names.iter().any(|p| p == &host || p == &banner_name) {
                notes.push(format!("reverse DNS is {}", ptr_names.join(", ")));
            }
            if notes.is_empty() {
                out.add(
                    "STS-SMTP-11",
                    Severity::Pass,
                    format!("greeting, EHLO and reverse DNS all name {host}"),
                )
                .on(subject.clone());
            } else {
                out.add(
                    "STS-SMTP-11",
                    Severity::Info,
                    format!(
                        "{} (MX name {host}); inconsistent names can hurt sender reputation",
                        notes.join("; ")
                    ),
                )
                .on(subject.clone());
            }
            if !probe.starttls_offered {
                let why = probe
                    .starttls_refused
                    .clone()
                    .unwrap_or_else(|| "STARTTLS is not in the EHLO reply".into());
                out.add("STS-SMTP-02", no_sts(Severity::Fail), why)
                    .on(subject.clone())
                    .reported_as("starttls-not-supported");
                out.skip(&ids[2..], "no STARTTLS");
                continue;
            }
            out.add("STS-SMTP-02", Severity::Pass, "STARTTLS offered")
                .on(subject.clone());
            let facts = match (&probe.starttls_refused, &probe.tls) {
                (Some(refused), _) => {
                    out.add(
                        "STS-SMTP-03",
                        no_sts(Severity::Fail),
                        format!("STARTTLS refused: {refused}"),
                    )
                    .on(subject.clone())
                    .reported_as("starttls-not-supported");
                    out.skip(&ids[3..], "no TLS session");
                    continue;
                }
                (None, Some(Ok(f))) => f,
                (None, Some(Err(e))) => {
                    out.add(
                        "STS-SMTP-03",
                        no_sts(Severity::Fail),
                        format!("TLS handshake failed: {e}"),
                    )
                    .on(subject.clone())
                    .reported_as("validation-failure");
                    out.skip(&ids[3..], "no TLS session");
                    continue;
                }
                (None, None) => {
                    out.add(
                        "STS-SMTP-03",
                        Severity::Error,
                        "the session ended before TLS",
                    )
                    .on(subject.clone());
                    out.skip(&ids[3..], "no TLS session");
                    continue;
                }
            };
            self.cert_checks(
                out,
                facts,
                &host,
                now,
                CertIds {
                    version: "STS-SMTP-03",
                    chain: "STS-SMTP-04",
                    name: "STS-SMTP-05",
                    validity: "STS-SMTP-06",
                },
                Some(&subject),
                "",
            );
            // Without any MTA-STS policy no sender refuses the MX for its certificate: warn.
            if mode.is_none() {
                for f in out.findings.iter_mut().rev().take(4) {
                    if f.severity == Severity::Fail
                        && f.subject.as_deref() == Some(subject.as_str())
                    {
                        f.severity = Severity::Warn;
                    }
                }
            }
            let leaf = facts.leaf();
            if let Some(l) = &leaf {
                out.add(
                    "STS-SMTP-09",
                    Severity::Info,
                    format!(
                        "{} {}, key {}",
                        facts.version.replace('_', "."),
                        facts.cipher,
                        l.key
                    ),
                )
                .on(subject.clone());
                leaf_by_host
                    .entry(host.clone())
                    .or_default()
                    .push((ip, l.sha256.clone()));
            }
            match &probe.no_sni {
                Some(Ok(_)) => out.add("STS-SMTP-08", Severity::Pass, "a certificate is served without SNI").on(subject.clone()),
                Some(Err(e)) => out.add("STS-SMTP-08", Severity::Warn, format!("the handshake fails without SNI ({e}); SMTP servers must not require SNI")).on(subject.clone()),
                None => out.add("STS-SMTP-08", Severity::Info, "not tested").on(subject.clone()),
            };
        }
        for (host, leaves) in leaf_by_host {
            if leaves.len() > 1 {
                let first = &leaves[0].1;
                if leaves.iter().all(|(_, h)| h == first) {
                    out.add(
                        "STS-SMTP-07",
                        Severity::Pass,
                        format!("{} addresses serve the same certificate", leaves.len()),
                    )
                    .on(host);
                } else {
                    out.add("STS-SMTP-07", Severity::Warn, "addresses of this MX serve different certificates; failures may be intermittent").on(host);
                }
            }
        }
    }

    async fn tlsrpt_checks(
        &self,
        out: &mut Out,
        dns: &Dns,
        domain: &str,
        answer: &Result<dns::Answer<Vec<Vec<Vec<u8>>>>, DnsError>,
        mode: Option<Mode>,
    ) -> bool {
        let name = format!("_smtp._tls.{domain}");
        let later = ["RPT-TXT-02", "RPT-TXT-04", "RPT-TXT-08", "RPT-TXT-11"];
        let a = match answer {
            Ok(a) => a,
            Err(e) if e.is_absent() => {
                out.add(
                    "RPT-TXT-01",
                    Severity::Warn,
                    format!("no TXT record at {name} ({e}): no TLS-RPT reports will arrive"),
                );
                if let Ok(apex) = dns.txt(domain).await {
                    if apex
                        .data
                        .iter()
                        .any(|r| r.concat().starts_with(b"v=TLSRPTv1"))
                    {
                        out.add(
                            "RPT-TXT-03",
                            Severity::Fail,
                            format!(
                                "a v=TLSRPTv1 record is published at {domain} instead of {name}"
                            ),
                        );
                    }
                }
                out.skip(&later, "no TLS-RPT record");
                return false;
            }
            Err(e) => {
                out.add("RPT-TXT-01", Severity::Error, format!("{name}: {e}"));
                out.skip(&later, "the lookup failed");
                return false;
            }
        };
        out.add(
            "RPT-TXT-01",
            Severity::Pass,
            format!("{} TXT record(s) at {name}", a.data.len()),
        );
        let joined: Vec<String> = a
            .data
            .iter()
            .map(|s| String::from_utf8_lossy(&s.concat()).into_owned())
            .collect();
        let cands: Vec<&String> = joined
            .iter()
            .filter(|t| t.to_ascii_lowercase().starts_with("v=tlsrpt") || t.starts_with("v=TSLRPT"))
            .collect();
        let other: Vec<&String> = joined.iter().filter(|t| !cands.contains(t)).collect();
        if !other.is_empty() {
            out.add(
                "RPT-TXT-03",
                Severity::Warn,
                format!(
                    "unrelated TXT record(s) at {name}: {}",
                    other
                        .iter()
                        .map(|t| format!("{:?}", short(t)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
        let record = match cands.len() {
            0 => {
                out.add(
                    "RPT-TXT-02",
                    Severity::Fail,
                    "no record starts with v=TLSRPTv1",
                );
                out.skip(&["RPT-TXT-04", "RPT-TXT-08"], "no TLS-RPT record");
                return false;
            }
            1 => {
                out.add(
                    "RPT-TXT-02",
                    Severity::Pass,
                    format!("one record: {:?}", short(cands[0])),
                );
                records::parse_tlsrpt_record(cands[0])
            }
            n => {
                out.add(
                    "RPT-TXT-02",
                    Severity::Fail,
                    format!("{n} TLS-RPT records; senders assume there is none"),
                );
                out.skip(&["RPT-TXT-04", "RPT-TXT-08"], "several TLS-RPT records");
                return false;
            }
        };
        for p in &record.problems {
            out.add(p.id, p.severity, p.message.clone());
        }
        if !record.problems.iter().any(|p| p.severity == Severity::Fail) {
            out.add(
                "RPT-TXT-04",
                Severity::Pass,
                format!("reports go to {}", record.rua.join(", ")),
            );
        }
        if record.rua.len() > 1 {
            out.add(
                "RPT-TXT-09",
                Severity::Info,
                format!(
                    "{} destinations; senders may deliver to only one of them",
                    record.rua.len()
                ),
            );
        }
        // RPT-TXT-08: reachability by DNS only (no connection, no POST).
        for uri in &record.rua {
            if let Some(addr) = uri.strip_prefix("mailto:") {
                let d = addr
                    .rsplit_once('@')
                    .map(|(_, d)| d.to_ascii_lowercase())
                    .unwrap_or_default();
                match dns.mx(&d).await {
                    Ok(m)
                        if m.data.len() == 1 && (m.data[0].1.is_empty() || m.data[0].1 == ".") =>
                    {
                        out.add(
                            "RPT-TXT-08",
                            Severity::Warn,
                            format!("{d} has a null MX: mail to {addr} is refused"),
                        )
                    }
                    Ok(_) => out.add("RPT-TXT-08", Severity::Pass, format!("{d} has MX records")),
                    Err(DnsError::NoData) => match dns.ips(&d).await {
                        Ok(_) => out.add(
                            "RPT-TXT-08",
                            Severity::Pass,
                            format!("{d} has no MX but has addresses (implicit MX)"),
                        ),
                        Err(e) => out.add(
                            "RPT-TXT-08",
                            Severity::Warn,
                            format!("{d} has neither MX nor addresses ({e})"),
                        ),
                    },
                    Err(e) => out.add("RPT-TXT-08", Severity::Warn, format!("{d}: {e}")),
                };
                if d != domain && !d.ends_with(&format!(".{domain}")) {
                    out.add(
                        "RPT-TXT-12",
                        Severity::Info,
                        format!("reports go to another domain ({d})"),
                    );
                }
            } else if let Some(rest) = uri.strip_prefix("https://") {
                let host = rest
                    .split(['/', ':', '?'])
                    .next()
                    .unwrap_or("")
                    .to_ascii_lowercase();
                match dns.ips(&host).await {
                    Ok(_) => out.add("RPT-TXT-08", Severity::Pass, format!("{host} resolves")),
                    Err(e) => out.add("RPT-TXT-08", Severity::Warn, format!("{host}: {e}")),
                };
            }
        }
        let ad = dns.authenticated(&name, RecordType::TXT).await;
        out.add(
            "RPT-TXT-11",
            Severity::Info,
            format!(
                "TTL {} s{}",
                a.ttl,
                match ad {
                    Some(true) => ", DNSSEC-validated",
                    Some(false) => ", not DNSSEC-authenticated",
                    None => "",
                }
            ),
        );
        let _ = mode;
        record.valid()
    }

    #[allow(clippy::too_many_arguments)]
    fn consistency(
        &self,
        out: &mut Out,
        domain: &str,
        txt: &TxtState,
        policy: Option<&Policy>,
        rpt_valid: bool,
        null_mx: bool,
        any_tlsa: bool,
        rpt: &Result<dns::Answer<Vec<Vec<Vec<u8>>>>, DnsError>,
    ) {
        let policy_ok = policy.is_some_and(|p| p.valid());
        let mode = policy.filter(|p| p.valid()).and_then(|p| p.mode);
        if txt.present && !txt.valid && policy_ok {
            out.add("STS-X-01", Severity::Fail, "the policy file is valid but the _mta-sts record is not; senders treat the domain as having no policy");
        } else if txt.present && !policy_ok && !out.has("STS-X-01", Severity::Fail) {
            out.add("STS-X-01", Severity::Fail, "an MTA-STS record is published but no valid policy could be fetched; senders report the failure and act as if there were no policy").reported_as("sts-policy-fetch-error");
        } else if txt.valid && policy_ok {
            out.add(
                "STS-X-01",
                Severity::Pass,
                "record and policy are both valid",
            );
        }
        if !txt.valid && policy_ok {
            let sev = if mode == Some(Mode::None) {
                Severity::Info
            } else {
                Severity::Warn
            };
            out.add("STS-X-02", sev, "a valid policy is served but there is no valid _mta-sts record, so senders never look for it");
        }
        match mode {
            Some(Mode::Testing) => {
                if !rpt_valid {
                    out.add("STS-X-03", Severity::Warn, "mode testing without a valid TLS-RPT record: nobody learns what enforce would break");
                }
                out.add("STS-X-05", Severity::Warn, "mode testing: senders deliver even when checks fail; switch to enforce when ready");
            }
            Some(Mode::Enforce) if !rpt_valid => {
                out.add(
                    "STS-X-04",
                    Severity::Warn,
                    "mode enforce without a valid TLS-RPT record: refused deliveries go unnoticed",
                );
            }
            Some(Mode::Enforce) => {}
            Some(Mode::None) => {
                let ma = policy.and_then(|p| p.max_age).unwrap_or(0);
                if ma > 86_400 {
                    out.add("STS-X-06", Severity::Warn, format!("mode none with max_age {ma}: a removal policy should use a small max_age (one day)"));
                } else {
                    out.add(
                        "STS-X-06",
                        Severity::Warn,
                        "mode none: MTA-STS gives no protection",
                    );
                }
            }
            None => {}
        }
        if let (Some(m), Some(ma)) = (mode, policy.and_then(|p| p.max_age)) {
            let (sev, msg) = match m {
                Mode::Enforce if ma < 86_400 => (Severity::Warn, format!("max_age {ma} is under a day: senders re-fetch constantly and an attacker has an easy window")),
                Mode::Enforce if ma < 1_209_600 => (Severity::Warn, format!("max_age {ma} is under two weeks; raise it now that the policy is enforced (604800 to 31557600)")),
                Mode::Testing if ma < 86_400 => (Severity::Warn, format!("max_age {ma} is under a day")),
                Mode::Testing | Mode::None if ma > 2_592_000 => (Severity::Info, format!("max_age {ma} is over 30 days: senders that do not re-check the id keep this policy for long")),
                _ => (Severity::Pass, format!("max_age {ma} suits mode {}", m.as_str())),
            };
            out.add("STS-X-07", sev, msg);
        }
        if mode == Some(Mode::Testing) {
            let blocking: Vec<&Finding> = out
                .findings
                .iter()
                .filter(|f| {
                    matches!(f.severity, Severity::Fail | Severity::Warn)
                        && (f.id.starts_with("STS-MX-0")
                            || f.id.starts_with("STS-SMTP-0")
                            || f.id.starts_with("STS-HOST-")
                            || f.id.starts_with("STS-HTTP-0")
                            || f.id.starts_with("STS-POL-"))
                })
                .collect();
            if blocking.is_empty() {
                out.add("STS-X-08", Severity::Pass, "every MX is covered and passes the STARTTLS checks, and the policy host is valid: the checks do not block enforce");
            } else {
                let ids: Vec<String> = blocking
                    .iter()
                    .map(|f| f.id.clone())
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect();
                out.add(
                    "STS-X-08",
                    Severity::Warn,
                    format!("not yet: fix {}", ids.join(", ")),
                );
            }
        }
        if domain.split('.').count() > 2 {
            out.add("STS-X-09", Severity::Info, format!("if {domain} is a subdomain: senders never use the parent domain's policy for it"));
        }
        if any_tlsa && txt.present {
            out.add("STS-X-10", Severity::Info, "DANE and MTA-STS are both deployed: DANE senders validate with TLSA and ignore MTA-STS");
        }
        if null_mx && txt.present {
            out.add(
                "STS-X-11",
                Severity::Info,
                "the domain has a null MX; its MTA-STS policy is pointless",
            );
        }
        if let Ok(a) = rpt {
            let text: Vec<String> = a
                .data
                .iter()
                .map(|s| String::from_utf8_lossy(&s.concat()).into_owned())
                .collect();
            let broken = out
                .findings
                .iter()
                .any(|f| f.severity == Severity::Fail && f.id.starts_with("STS-"));
            if broken && text.iter().any(|t| t.contains(&format!("@{domain}"))) {
                out.add("STS-X-12", Severity::Info, "reports go to this domain, whose MTA-STS has failures; they still arrive (senders deliver reports without MTA-STS)");
            }
        }
    }

    fn stateful(
        &self,
        out: &mut Out,
        previous: Option<&Snapshot>,
        txt: &TxtState,
        policy: Option<&Policy>,
        body_hash: Option<String>,
        now: i64,
    ) -> Snapshot {
        let valid = policy.is_some_and(|p| p.valid());
        let mut snap = Snapshot {
            sts_id: txt.id.clone(),
            policy_sha256: body_hash.clone(),
            mode: policy
                .filter(|_| valid)
                .and_then(|p| p.mode)
                .map(|m| m.as_str().to_string()),
            max_age: policy
                .filter(|_| valid)
                .and_then(|p| p.max_age)
                .map(|m| m as i64),
            at: now,
            id_history: previous.map(|p| p.id_history.clone()).unwrap_or_default(),
        };
        if let (Some(id), Some(h)) = (&snap.sts_id, &snap.policy_sha256) {
            if !snap.id_history.iter().any(|(i, hh)| i == id && hh == h) {
                snap.id_history.push((id.clone(), h.clone()));
                let keep = snap.id_history.len().saturating_sub(20);
                snap.id_history.drain(..keep);
            }
        }
        let Some(prev) = previous else {
            out.add(
                "STS-H-01",
                Severity::Info,
                "first run: nothing to compare with yet",
            );
            return snap;
        };
        match (
            &prev.sts_id,
            &snap.sts_id,
            &prev.policy_sha256,
            &snap.policy_sha256,
        ) {
            (Some(pid), Some(id), Some(ph), Some(h)) if pid == id && ph != h => {
                out.add("STS-H-01", Severity::Warn, format!("the policy file changed since {} but the id is still {id}: senders keep the cached old policy", fmt_time(prev.at)));
            }
            (Some(pid), Some(id), Some(ph), Some(h)) if pid != id && ph == h => {
                out.add("STS-H-02", Severity::Info, format!("the id changed ({pid} → {id}) but the policy file did not; if you meant to change the policy, update the file too (file first, then id)"));
            }
            (Some(_), Some(_), Some(_), Some(_)) => {
                out.add(
                    "STS-H-01",
                    Severity::Pass,
                    "the id and the policy changed together (or neither changed)",
                );
            }
            _ => {}
        }
        if let (Some(id), Some(h)) = (&snap.sts_id, &snap.policy_sha256) {
            if prev.id_history.iter().any(|(i, hh)| i == id && hh != h)
                && prev.sts_id.as_deref() != Some(id)
            {
                out.add("STS-H-03", Severity::Warn, format!("id {id} was used earlier for a different policy; senders that remember it keep the old one"));
            }
        }
        if let (Some(pm), Some(pma)) = (&prev.mode, prev.max_age) {
            let gone = snap.sts_id.is_none() || !valid;
            if gone && pm != "none" && now - prev.at < pma {
                out.add("STS-H-04", Severity::Warn, format!("the {pm} policy seen on {} (max_age {pma}) is gone; senders may still apply it until {}", fmt_time(prev.at), fmt_time(prev.at + pma)));
            }
            if let Some(ma) = snap.max_age {
                if ma < pma {
                    out.add("STS-H-05", Severity::Info, format!("max_age lowered from {pma} to {ma}: senders keep the old value until it expires"));
                }
            }
        }
        snap
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
