//! DNS records: the `_mta-sts` and `_smtp._tls` TXT records (catalogue groups A and F).

use super::*;

/// What group A looks at, gathered from DNS by [`gather_txt`].
#[derive(Debug)]
pub struct TxtFacts {
    /// The TXT answer at `_mta-sts.<domain>`.
    pub answer: dns::Lookup<Vec<Vec<Vec<u8>>>>,
    /// The TXT records at the domain itself, looked up when `answer` is absent (a record
    /// published at the apex by mistake).
    pub apex: Option<Vec<Vec<Vec<u8>>>>,
    /// The AD bit of the record's answer, when there is a record.
    pub authenticated: Option<bool>,
}

/// Gathers [`TxtFacts`] (the record's own answer was looked up with the others).
pub(super) async fn gather_txt(
    dns: &Dns,
    domain: &str,
    answer: dns::Lookup<Vec<Vec<Vec<u8>>>>,
) -> TxtFacts {
    let (apex, authenticated) = match &answer {
        Err(e) if e.is_absent() => (dns.txt(domain).await.ok().map(|a| a.data), None),
        Err(_) => (None, None),
        Ok(_) => (
            None,
            dns.authenticated(&format!("_mta-sts.{domain}"), RecordType::TXT)
                .await,
        ),
    };
    TxtFacts {
        answer,
        apex,
        authenticated,
    }
}

/// Group A's verdicts on gathered facts (no network).
pub(super) fn verify_txt(out: &mut Out, domain: &str, facts: &TxtFacts) -> TxtState {
    {
        let answer = &facts.answer;
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
                if let Some(apex) = &facts.apex {
                    if apex.iter().any(|r| r.concat().starts_with(b"v=STSv1")) {
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
        match facts.authenticated {
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
}
