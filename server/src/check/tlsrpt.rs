//! TLS-RPT destinations (group H).

use super::*;

/// What group G looks at, gathered from DNS by [`gather_tlsrpt`].
#[derive(Debug)]
pub struct TlsRptFacts {
    /// The TXT answer at `_smtp._tls.<domain>`.
    pub answer: dns::Lookup<Vec<Vec<Vec<u8>>>>,
    /// The TXT records at the domain itself, looked up when `answer` is absent.
    pub apex: Option<Vec<Vec<Vec<u8>>>>,
    /// Per `rua` destination of a single valid-looking record: how DNS answers for it
    /// (RPT-TXT-08 checks by DNS only; nothing is sent).
    pub destinations: BTreeMap<String, Destination>,
    /// The AD bit of the record's answer, when there is a record.
    pub authenticated: Option<bool>,
}

/// DNS facts about one reporting destination.
#[derive(Debug)]
pub enum Destination {
    /// `mailto:`: the domain's MX answer, and its addresses when it has no MX.
    Mail {
        /// The MX answer.
        mx: dns::Lookup<Vec<(u16, String)>>,
        /// Addresses, asked when there is no MX (implicit MX).
        ips: Option<dns::Lookup<Vec<IpAddr>>>,
    },
    /// `https:`: the host's addresses.
    Web(dns::Lookup<Vec<IpAddr>>),
}

/// The TXT strings of an answer, each joined.
fn joined(a: &dns::Answer<Vec<Vec<Vec<u8>>>>) -> Vec<String> {
    a.data
        .iter()
        .map(|s| String::from_utf8_lossy(&s.concat()).into_owned())
        .collect()
}

fn is_candidate(t: &str) -> bool {
    t.to_ascii_lowercase().starts_with("v=tlsrpt") || t.starts_with("v=TSLRPT")
}

/// The domain of a `mailto:` destination.
fn mail_domain(addr: &str) -> String {
    addr.rsplit_once('@')
        .map(|(_, d)| d.to_ascii_lowercase())
        .unwrap_or_default()
}

/// The host of an `https:` destination (after the scheme).
fn web_host(rest: &str) -> String {
    rest.split(['/', ':', '?'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// Gathers [`TlsRptFacts`] (the record's own answer was looked up with the others).
pub(super) async fn gather_tlsrpt(
    dns: &Dns,
    domain: &str,
    answer: dns::Lookup<Vec<Vec<Vec<u8>>>>,
) -> TlsRptFacts {
    let mut facts = TlsRptFacts {
        apex: None,
        destinations: BTreeMap::new(),
        authenticated: None,
        answer: Err(DnsError::NoData),
    };
    match &answer {
        Err(e) if e.is_absent() => facts.apex = dns.txt(domain).await.ok().map(|a| a.data),
        Err(_) => {}
        Ok(a) => {
            let cands: Vec<String> = joined(a).into_iter().filter(|t| is_candidate(t)).collect();
            if let [one] = cands.as_slice() {
                for uri in records::parse_tlsrpt_record(one).rua {
                    let d = if let Some(addr) = uri.strip_prefix("mailto:") {
                        let d = mail_domain(addr);
                        let mx = dns.mx(&d).await;
                        let ips = match &mx {
                            Err(DnsError::NoData) => Some(dns.ips(&d).await),
                            _ => None,
                        };
                        Destination::Mail { mx, ips }
                    } else if let Some(rest) = uri.strip_prefix("https://") {
                        Destination::Web(dns.ips(&web_host(rest)).await)
                    } else {
                        continue;
                    };
                    facts.destinations.insert(uri, d);
                }
            }
            facts.authenticated = dns
                .authenticated(&format!("_smtp._tls.{domain}"), RecordType::TXT)
                .await;
        }
    }
    facts.answer = answer;
    facts
}

/// Group G's verdicts on gathered facts (no network); whether the record is valid.
pub(super) fn verify_tlsrpt(out: &mut Out, domain: &str, facts: &TlsRptFacts) -> bool {
    {
        let answer = &facts.answer;
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
                if let Some(apex) = &facts.apex {
                    if apex.iter().any(|r| r.concat().starts_with(b"v=TLSRPTv1")) {
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
        let joined = joined(a);
        let cands: Vec<&String> = joined.iter().filter(|t| is_candidate(t)).collect();
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
            match facts.destinations.get(uri) {
                Some(Destination::Mail { mx, ips }) => {
                    let addr = uri.trim_start_matches("mailto:");
                    let d = mail_domain(addr);
                    match (mx, ips) {
                        (Ok(m), _)
                            if m.data.len() == 1
                                && (m.data[0].1.is_empty() || m.data[0].1 == ".") =>
                        {
                            out.add(
                                "RPT-TXT-08",
                                Severity::Warn,
                                format!("{d} has a null MX: mail to {addr} is refused"),
                            )
                        }
                        (Ok(_), _) => {
                            out.add("RPT-TXT-08", Severity::Pass, format!("{d} has MX records"))
                        }
                        (Err(DnsError::NoData), Some(Ok(_))) => out.add(
                            "RPT-TXT-08",
                            Severity::Pass,
                            format!("{d} has no MX but has addresses (implicit MX)"),
                        ),
                        (Err(DnsError::NoData), Some(Err(e))) => out.add(
                            "RPT-TXT-08",
                            Severity::Warn,
                            format!("{d} has neither MX nor addresses ({e})"),
                        ),
                        (Err(e), _) => out.add("RPT-TXT-08", Severity::Warn, format!("{d}: {e}")),
                    };
                    if d != domain && !d.ends_with(&format!(".{domain}")) {
                        out.add(
                            "RPT-TXT-12",
                            Severity::Info,
                            format!("reports go to another domain ({d})"),
                        );
                    }
                }
                Some(Destination::Web(ips)) => {
                    let host = web_host(uri.trim_start_matches("https://"));
                    match ips {
                        Ok(_) => out.add("RPT-TXT-08", Severity::Pass, format!("{host} resolves")),
                        Err(e) => out.add("RPT-TXT-08", Severity::Warn, format!("{host}: {e}")),
                    };
                }
                None => {}
            }
        }
        let ad = facts.authenticated;
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
        record.valid()
    }
}
