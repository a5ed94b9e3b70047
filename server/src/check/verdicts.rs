//! The pure verdict functions of the check groups, on facts written by hand: no DNS, no
//! sockets. The loopback lab tests (`tests/check.rs`) run the same functions on facts
//! gathered over the network.

use super::dane::{verify_dane, DaneFacts};
use super::mx::{verify_mx_set, MxFacts};
use super::tlsrpt::{verify_tlsrpt, Destination, TlsRptFacts};
use super::txt::{verify_txt, TxtFacts};
use super::*;

fn answer<T>(data: T) -> dns::Lookup<T> {
    Ok(dns::Answer {
        data,
        ttl: 300,
        cname_chain: Vec::new(),
    })
}

fn txt(records: &[&str]) -> dns::Lookup<Vec<Vec<Vec<u8>>>> {
    answer(
        records
            .iter()
            .map(|r| vec![r.as_bytes().to_vec()])
            .collect(),
    )
}

fn found<'a>(out: &'a Out, id: &str) -> Vec<&'a Finding> {
    out.findings.iter().filter(|f| f.id == id).collect()
}

fn severity(out: &Out, id: &str) -> Severity {
    let f = found(out, id);
    assert_eq!(f.len(), 1, "{id}: {:?}", out.findings);
    f[0].severity
}

fn out() -> Out {
    Out {
        findings: Vec::new(),
    }
}

#[test]
fn a_record_at_the_apex_instead_of_the_sts_name_fails() {
    let facts = TxtFacts {
        answer: Err(DnsError::NxDomain),
        apex: Some(vec![vec![b"v=STSv1; id=1".to_vec()]]),
        authenticated: None,
    };
    let mut o = out();
    let st = verify_txt(&mut o, "example.com", &facts);
    assert!(!st.present);
    assert_eq!(severity(&o, "STS-TXT-01"), Severity::Info);
    assert_eq!(severity(&o, "STS-TXT-05"), Severity::Fail);
}

#[test]
fn two_sts_records_fail_and_one_valid_record_passes() {
    let two = TxtFacts {
        answer: txt(&["v=STSv1; id=1", "v=STSv1; id=2"]),
        apex: None,
        authenticated: Some(false),
    };
    let mut o = out();
    verify_txt(&mut o, "example.com", &two);
    assert_eq!(severity(&o, "STS-TXT-03"), Severity::Fail);
    let one = TxtFacts {
        answer: txt(&["v=STSv1; id=20261201"]),
        apex: None,
        authenticated: Some(true),
    };
    let mut o = out();
    let st = verify_txt(&mut o, "example.com", &one);
    assert!(st.valid && st.present);
    assert_eq!(st.id.as_deref(), Some("20261201"));
    assert_eq!(severity(&o, "STS-TXT-08"), Severity::Pass);
}

#[test]
fn a_null_mx_and_hosts_without_addresses() {
    let null = MxFacts {
        mx: answer(vec![(0, ".".to_owned())]),
        authenticated: None,
        addresses: Vec::new(),
    };
    let mut o = out();
    let set = verify_mx_set(&mut o, "example.com", &null);
    assert!(set.null_mx && set.hosts.is_empty());
    let two = MxFacts {
        mx: answer(vec![
            (10, "mx1.example.com".to_owned()),
            (20, "mx2.example.com".to_owned()),
        ]),
        authenticated: Some(true),
        addresses: vec![
            (
                "mx1.example.com".to_owned(),
                answer(vec!["192.0.2.1".parse().unwrap()]),
            ),
            ("mx2.example.com".to_owned(), Err(DnsError::NoData)),
        ],
    };
    let mut o = out();
    let set = verify_mx_set(&mut o, "example.com", &two);
    assert_eq!(set.hosts.len(), 2);
    assert_eq!(set.addrs.len(), 1, "only hosts with addresses are probed");
    let mx2: Vec<Severity> = found(&o, "STS-MX-02").iter().map(|f| f.severity).collect();
    assert_eq!(mx2, vec![Severity::Pass, Severity::Fail]);
    // No MX at all: the domain is its own (implicit) MX.
    let none = MxFacts {
        mx: Err(DnsError::NoData),
        authenticated: None,
        addresses: Vec::new(),
    };
    let set = verify_mx_set(&mut out(), "example.com", &none);
    assert_eq!(set.hosts, vec!["example.com".to_owned()]);
}

#[test]
fn a_bogus_tlsa_answer_is_dnssec_invalid() {
    let facts = vec![DaneFacts {
        host: "mx.example.com".into(),
        tlsa: Err(DnsError::ServFail("SERVFAIL".into())),
        authenticated: None,
        host_tlsrpt: None,
    }];
    let mut o = out();
    assert!(!verify_dane(&mut o, &facts));
    let f = found(&o, "DANE-02");
    assert_eq!(f[0].severity, Severity::Fail);
    assert_eq!(f[0].result_type.as_deref(), Some("dnssec-invalid"));
}

#[test]
fn tlsrpt_destinations_are_judged_from_their_dns_facts() {
    let mut destinations = BTreeMap::new();
    destinations.insert(
        "mailto:tlsrpt@reports.example.net".to_owned(),
        Destination::Mail {
            mx: answer(vec![(0, ".".to_owned())]),
            ips: None,
        },
    );
    destinations.insert(
        "https://collector.example.com/v1".to_owned(),
        Destination::Web(answer(vec!["192.0.2.9".parse().unwrap()])),
    );
    let facts = TlsRptFacts {
        answer: txt(&[
            "v=TLSRPTv1; rua=mailto:tlsrpt@reports.example.net,https://collector.example.com/v1",
        ]),
        apex: None,
        destinations,
        authenticated: Some(false),
    };
    let mut o = out();
    assert!(verify_tlsrpt(&mut o, "example.com", &facts));
    let reach: Vec<Severity> = found(&o, "RPT-TXT-08").iter().map(|f| f.severity).collect();
    assert_eq!(
        reach,
        vec![Severity::Warn, Severity::Pass],
        "{:?}",
        o.findings
    );
    assert_eq!(severity(&o, "RPT-TXT-12"), Severity::Info);
}
