//! TLS-RPT destinations (group H).

use super::*;

impl Checker {
    pub(super) async fn tlsrpt_checks(
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
}
