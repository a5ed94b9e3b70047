//! The policy host and the policy file, and the policy host certificate (groups B–D).

use super::*;

/// The handshake without SNI at the address whose policy was read (STS-HOST-08).
#[derive(Debug)]
pub enum WithoutSni {
    /// The leaf certificate's SHA-256 served without SNI.
    Served(Option<String>),
    /// The handshake failed.
    Failed(String),
    /// No connection.
    NotTested(String),
}

/// What groups B–D look at, gathered by [`Checker::gather_policy`].
#[derive(Debug)]
pub struct PolicyFacts {
    /// Addresses the checker may not connect to.
    pub refused: Vec<IpAddr>,
    /// One fetch per address tried (at most four).
    pub fetches: Vec<(IpAddr, Fetch)>,
    /// The handshake without SNI at the first address that completed one.
    pub without_sni: Option<WithoutSni>,
    /// A second fetch with another user agent, when the first answered 200.
    pub other_agent: Option<Fetch>,
}

const USER_AGENT: &str = concat!("tlswatch/", env!("CARGO_PKG_VERSION"), " (MTA-STS checker)");

impl Checker {
    /// Fetches the policy from each address of the policy host (bounded), and the follow-up
    /// probes on the first that answered (groups B–D's facts).
    pub(super) async fn gather_policy(
        &self,
        host: &str,
        ips: &dns::Lookup<Vec<IpAddr>>,
    ) -> PolicyFacts {
        let mut facts = PolicyFacts {
            refused: Vec::new(),
            fetches: Vec::new(),
            without_sni: None,
            other_agent: None,
        };
        let Ok(ips) = ips else {
            return facts;
        };
        let fetch = |ip: IpAddr, agent: &'static str| {
            probe::fetch_policy(
                &self.tls,
                host,
                SocketAddr::new(ip, self.config.https_port),
                agent,
                self.config.policy_max_bytes,
                self.config.http_timeout,
            )
        };
        for ip in ips.data.iter().take(4) {
            if self.allowed(*ip) {
                facts.fetches.push((*ip, fetch(*ip, USER_AGENT).await));
            } else {
                facts.refused.push(*ip);
            }
        }
        let Some((ip, first)) = facts.fetches.iter().find(|(_, f)| f.tls.is_ok()) else {
            return facts;
        };
        let ip = *ip;
        let answered_200 = first.http.as_ref().is_ok_and(|a| a.status == 200);
        facts.without_sni = Some(
            match probe::connect(
                SocketAddr::new(ip, self.config.https_port),
                self.config.http_timeout,
            )
            .await
            {
                Ok(tcp) => match self.tls.handshake(tcp, None, ip, true).await {
                    Ok((_, f)) => WithoutSni::Served(f.leaf().map(|c| c.sha256)),
                    Err(e) => WithoutSni::Failed(e.to_string()),
                },
                Err(e) => WithoutSni::NotTested(e.to_string()),
            },
        );
        if answered_200 {
            facts.other_agent = Some(fetch(ip, "libwww-perl/6.72").await);
        }
        facts
    }

    /// Groups B–D's verdicts on gathered facts (no network): the policy host's addresses,
    /// TLS and certificate, the HTTP answer, the policy. Returns the policy, the body's hash
    /// and its text.
    pub(super) fn verify_policy(
        &self,
        out: &mut Out,
        host: &str,
        ips: &dns::Lookup<Vec<IpAddr>>,
        gathered: &PolicyFacts,
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
        let _ = ips;
        let (fetches, refused) = (&gathered.fetches, &gathered.refused);
        for ip in refused {
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
        let (_, fetch) = reachable[0];
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
        match &gathered.without_sni {
            Some(WithoutSni::Served(leaf)) if *leaf == sni_leaf => out.add(
                "STS-HOST-08",
                Severity::Pass,
                "the same certificate is served without SNI",
            ),
            Some(WithoutSni::Served(_)) => out.add(
                "STS-HOST-08",
                Severity::Info,
                "a different certificate is served without SNI (fine: senders send SNI)",
            ),
            Some(WithoutSni::Failed(e)) => out.add(
                "STS-HOST-08",
                Severity::Info,
                format!("without SNI the handshake fails ({e}); fine, senders send SNI"),
            ),
            Some(WithoutSni::NotTested(e)) => {
                out.add("STS-HOST-08", Severity::Info, format!("not tested: {e}"))
            }
            None => out.add("STS-HOST-08", Severity::Info, "not tested"),
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
            match gathered.other_agent.as_ref().map(|f| &f.http) {
                None => {
                    out.skip(&["STS-HTTP-06"], "no second fetch");
                    None
                }
                Some(Ok(a)) if a.status == 200 && a.body == answer.body => Some(out.add("STS-HTTP-06", Severity::Pass, "a client with another user agent gets the same policy")),
                Some(Ok(a)) => Some(out.add("STS-HTTP-06", Severity::Fail, format!("a client with user agent libwww-perl got status {} and a different body: bot protection blocks some senders", a.status)).reported_as("sts-policy-fetch-error")),
                Some(Err(e)) => Some(out.add("STS-HTTP-06", Severity::Warn, format!("a second fetch failed: {e}"))),
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
        (Some(policy), Some(hash), text)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn cert_checks(
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
}

/// A policy file's text: `version`, `mode`, one `mx` line per host, `max_age` (RFC 8461 §3.2).
pub fn policy_text(mode: &str, mx: &[String], max_age: u64) -> String {
    let mut s = format!("version: STSv1\nmode: {mode}\n");
    for m in mx {
        s.push_str(&format!("mx: {m}\n"));
    }
    s.push_str(&format!("max_age: {max_age}\n"));
    s
}
