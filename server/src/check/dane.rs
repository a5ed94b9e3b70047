//! DANE per MX host (group H): TLSA records, their DNSSEC state, and the MX host's own
//! TLS-RPT record that DANE senders report to.

use super::*;

/// What group H looks at for one MX host, gathered by [`gather_dane`].
#[derive(Debug)]
pub struct DaneFacts {
    /// The MX host.
    pub host: String,
    /// The TLSA answer at `_25._tcp.<host>`.
    pub tlsa: dns::Lookup<Vec<String>>,
    /// The AD bit of the TLSA answer, when there are records.
    pub authenticated: Option<bool>,
    /// Whether `_smtp._tls.<host>` has TXT records, when there are TLSA records.
    pub host_tlsrpt: Option<bool>,
}

/// Gathers [`DaneFacts`] for each MX host.
pub(super) async fn gather_dane<'a>(
    dns: &Dns,
    hosts: impl Iterator<Item = &'a String>,
) -> Vec<DaneFacts> {
    let mut facts = Vec::new();
    for host in hosts {
        let name = format!("_25._tcp.{host}");
        let tlsa = dns.tlsa(&name).await;
        let (authenticated, host_tlsrpt) = if tlsa.is_ok() {
            (
                dns.authenticated(&name, RecordType::TLSA).await,
                Some(dns.txt(&format!("_smtp._tls.{host}")).await.is_ok()),
            )
        } else {
            (None, None)
        };
        facts.push(DaneFacts {
            host: host.clone(),
            tlsa,
            authenticated,
            host_tlsrpt,
        });
    }
    facts
}

/// Group H's verdicts on gathered facts (no network); whether any MX has TLSA records.
pub(super) fn verify_dane(out: &mut Out, facts: &[DaneFacts]) -> bool {
    let mut any_tlsa = false;
    for f in facts {
        let (host, name) = (&f.host, format!("_25._tcp.{}", f.host));
        match &f.tlsa {
            Ok(a) => {
                any_tlsa = true;
                let ad = f.authenticated;
                let sev = if ad == Some(false) {
                    Severity::Warn
                } else {
                    Severity::Info
                };
                out.add(
                    "DANE-02",
                    sev,
                    format!(
                        "{name}: {} TLSA record(s){}",
                        a.data.len(),
                        if ad == Some(false) {
                            ", but the answer is not DNSSEC-authenticated: DANE senders ignore them"
                        } else {
                            "; DANE senders validate this MX with them"
                        }
                    ),
                )
                .on(host.clone());
                out.add("DANE-03", Severity::Info, a.data.join("; "))
                    .on(host.clone());
                let rpt = format!("_smtp._tls.{host}");
                if f.host_tlsrpt == Some(true) {
                    out.add(
                        "RPT-TXT-13",
                        Severity::Pass,
                        format!("{rpt} exists for DANE reports"),
                    )
                    .on(host.clone());
                } else {
                    out.add(
                        "RPT-TXT-13",
                        Severity::Info,
                        format!(
                            "no {rpt}: DANE senders report to the MX host's own TLS-RPT record"
                        ),
                    )
                    .on(host.clone());
                }
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
    any_tlsa
}
