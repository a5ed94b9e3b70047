//! MX coverage and the SMTP probes of every MX address (groups E and G).

use super::*;

impl Checker {
    pub(super) fn mx_cross_checks(
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

    /// Probes every MX address the checker may reach (group F's facts).
    pub(super) async fn gather_smtp(
        &self,
        dns: &Dns,
        mx_addrs: &BTreeMap<String, Vec<IpAddr>>,
    ) -> SmtpFacts {
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
        SmtpFacts {
            refused: targets
                .into_iter()
                .filter(|(_, ip)| !self.allowed(*ip))
                .collect(),
            probed: futures::future::join_all(jobs).await,
            no_addresses: mx_addrs.is_empty(),
        }
    }

    /// Group F's verdicts on the probes (no network).
    pub(super) fn verify_smtp(
        &self,
        out: &mut Out,
        facts: SmtpFacts,
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
        if facts.no_addresses {
            out.skip(&ids, "no MX host addresses");
            return;
        }
        for (host, ip) in &facts.refused {
            out.add("STS-SMTP-01", Severity::Error, format!("{ip} is not a public address; the checker does not connect to it (TLSWATCH_CHECK_ALLOW_PRIVATE)")).on(format!("{host} {ip}"));
        }
        let results = facts.probed;
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
}

/// One probed MX address: host, address, the SMTP probe, the reverse DNS names.
pub type Probed = (String, IpAddr, SmtpProbe, Result<Vec<String>, DnsError>);

/// What group F looks at, gathered by [`Checker::gather_smtp`].
pub struct SmtpFacts {
    /// Addresses not probed: not public, and private addresses are not allowed.
    pub refused: Vec<(String, IpAddr)>,
    /// The probes.
    pub probed: Vec<Probed>,
    /// No MX host had an address.
    pub no_addresses: bool,
}

/// What group E-01/02 looks at, gathered from DNS by [`gather_mx_set`].
#[derive(Debug)]
pub struct MxFacts {
    /// The domain's MX answer.
    pub mx: dns::Lookup<Vec<(u16, String)>>,
    /// The AD bit of the MX answer.
    pub authenticated: Option<bool>,
    /// Per MX host (or the domain as implicit MX): its address answer.
    pub addresses: Vec<(String, dns::Lookup<Vec<IpAddr>>)>,
}

/// The MX hosts worked out by [`verify_mx_set`].
#[derive(Debug, Default)]
pub struct MxSet {
    /// MX host names (the domain itself when it has no MX).
    pub hosts: Vec<String>,
    /// A null MX ("0 ."): the domain takes no mail.
    pub null_mx: bool,
    /// Addresses of each host that has some.
    pub addrs: BTreeMap<String, Vec<IpAddr>>,
}

fn is_null_mx(a: &dns::Answer<Vec<(u16, String)>>) -> bool {
    a.data.len() == 1 && (a.data[0].1.is_empty() || a.data[0].1 == ".")
}

/// The hosts mail goes to, from an MX answer (the domain itself when it has no MX).
fn mx_hosts(domain: &str, mx: &dns::Lookup<Vec<(u16, String)>>) -> Vec<String> {
    match mx {
        Ok(a) if is_null_mx(a) => Vec::new(),
        Ok(a) => {
            let mut hosts: Vec<String> = a.data.iter().map(|(_, h)| h.clone()).collect();
            hosts.dedup();
            hosts
        }
        Err(DnsError::NoData) => vec![domain.to_owned()],
        Err(_) => Vec::new(),
    }
}

/// Gathers [`MxFacts`]: the addresses of every MX host (the MX answer was looked up with the
/// other records).
pub(super) async fn gather_mx_set(
    dns: &Dns,
    domain: &str,
    mx: dns::Lookup<Vec<(u16, String)>>,
    authenticated: Option<bool>,
) -> MxFacts {
    let hosts = mx_hosts(domain, &mx);
    let lookups = futures::future::join_all(hosts.iter().map(|h| dns.ips(h))).await;
    MxFacts {
        mx,
        authenticated,
        addresses: hosts.into_iter().zip(lookups).collect(),
    }
}

/// Group E-01/02's verdicts on gathered facts (no network): the MX set, DNSSEC of the MX
/// answer, and each host's addresses.
pub(super) fn verify_mx_set(out: &mut Out, domain: &str, facts: &MxFacts) -> MxSet {
    let mut set = MxSet {
        hosts: mx_hosts(domain, &facts.mx),
        ..MxSet::default()
    };
    match &facts.mx {
        Ok(a) if is_null_mx(a) => {
            set.null_mx = true;
            out.add(
                "STS-MX-01",
                Severity::Info,
                "null MX (\"0 .\"): the domain accepts no mail, so MTA-STS is irrelevant",
            );
        }
        Ok(a) => {
            let list: Vec<String> = a.data.iter().map(|(p, h)| format!("{p} {h}")).collect();
            out.add(
                "STS-MX-01",
                Severity::Pass,
                format!("MX: {}", list.join(", ")),
            );
        }
        Err(DnsError::NoData) => {
            out.add("STS-MX-01", Severity::Warn, format!("no MX records: senders use the domain itself ({domain}) as the implicit MX (RFC 5321 §5.1)"));
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
    match facts.authenticated {
        Some(true) => out.add("DANE-01", Severity::Info, "the MX answer was DNSSEC-validated (AD bit set)"),
        Some(false) => out.add("DANE-01", Severity::Info, "the MX answer is not DNSSEC-authenticated (AD bit clear): MX, MTA-STS and TLS-RPT records can be spoofed on the path"),
        None => out.add("DANE-01", Severity::Info, "the resolver could not be asked for the AD bit; DNSSEC state unknown"),
    };
    for (host, r) in &facts.addresses {
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
                set.addrs.insert(host.clone(), a.data.clone());
            }
            Err(e) if e.is_absent() => {
                out.add(
                    "STS-MX-02",
                    Severity::Fail,
                    format!("{host} has no A/AAAA records ({e}); mail cannot be delivered to it"),
                )
                .on(host.clone());
            }
            Err(e) => {
                out.add("STS-MX-02", Severity::Error, format!("{host}: {e}"))
                    .on(host.clone());
            }
        }
    }
    set
}
