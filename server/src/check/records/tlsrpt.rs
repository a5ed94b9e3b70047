//! The `_smtp._tls` TXT record (RFC 8460 §3).

use app::health::Severity;

use super::*;

/// A parsed `_smtp._tls` record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsRptRecord {
    /// Valid `rua` URIs, in order.
    pub rua: Vec<String>,
    /// Number of `rua=` fields.
    pub rua_fields: usize,
    /// Problems.
    pub problems: Vec<Problem>,
}

impl TlsRptRecord {
    /// Whether a sender would use the record.
    pub fn valid(&self) -> bool {
        !self.rua.is_empty() && !self.problems.iter().any(|p| p.severity == Severity::Fail)
    }
}

/// Whether a TXT string is meant as a TLS-RPT record.
pub fn is_tlsrpt_candidate(txt: &str) -> bool {
    txt.starts_with("v=TLSRPTv1")
}

/// Parses one `_smtp._tls` TXT string.
pub fn parse_tlsrpt_record(txt: &str) -> TlsRptRecord {
    let mut out = TlsRptRecord::default();
    let Some(rest) = txt.strip_prefix("v=TLSRPTv1") else {
        let hint = if txt.to_ascii_lowercase().starts_with("v=tlsrptv1") {
            "the version must be written exactly v=TLSRPTv1 (case-sensitive)"
        } else if txt.starts_with("v=TSLRPT") || txt.starts_with("v=TLSRTP") {
            "the version is misspelt: it must be v=TLSRPTv1"
        } else {
            "the record must begin with v=TLSRPTv1"
        };
        out.problems
            .push(problem("RPT-TXT-04", Severity::Fail, hint));
        return out;
    };
    let rest = rest.trim_start_matches(is_wsp);
    let Some(rest) = rest.strip_prefix(';') else {
        out.problems.push(problem(
            "RPT-TXT-04",
            Severity::Fail,
            if rest.is_empty() {
                "the record has no rua field".to_string()
            } else {
                format!(
                    "v=TLSRPTv1 must be followed by ';' (found {:?})",
                    first_chars(rest)
                )
            },
        ));
        return out;
    };
    let mut fields = split_fields(rest);
    if fields.last() == Some(&"") {
        fields.pop();
    }
    let mut seen = Vec::<String>::new();
    for field in fields {
        let Some((name, value)) = field.split_once('=') else {
            out.problems.push(problem(
                "RPT-TXT-04",
                Severity::Fail,
                format!("field {field:?} is not name=value"),
            ));
            continue;
        };
        if name != "rua" {
            if ext_name_ok(name) && sts_ext_value_ok(value) {
                out.problems.push(problem(
                    "RPT-TXT-10",
                    Severity::Info,
                    format!("unknown field {name:?} is ignored by senders"),
                ));
            } else {
                out.problems.push(problem(
                    "RPT-TXT-10",
                    Severity::Fail,
                    format!("field {field:?} does not follow the extension grammar"),
                ));
            }
            continue;
        }
        out.rua_fields += 1;
        for uri in value.split(',').map(|u| u.trim_matches(is_wsp)) {
            match check_rua_uri(uri) {
                Ok(()) => {
                    if seen.iter().any(|s| s.eq_ignore_ascii_case(uri)) {
                        out.problems.push(problem(
                            "RPT-TXT-09",
                            Severity::Warn,
                            format!("{uri} is listed twice"),
                        ));
                    } else {
                        seen.push(uri.to_string());
                        out.rua.push(uri.to_string());
                    }
                }
                Err((id, why)) => out.problems.push(problem(
                    id,
                    Severity::Fail,
                    format!("rua {:?}: {why}", truncate(uri)),
                )),
            }
        }
    }
    if out.rua_fields == 0 {
        out.problems.push(problem(
            "RPT-TXT-04",
            Severity::Fail,
            "the record has no rua field (where reports go)",
        ));
    }
    out
}

fn check_rua_uri(uri: &str) -> Result<(), (&'static str, &'static str)> {
    if let Some(addr) = uri.strip_prefix("mailto:") {
        if addr.contains(['!', ',', ';', ' ']) {
            return Err(("RPT-TXT-06", "'!', ',' ';' and spaces must be percent-encoded (a DMARC-style size suffix like !10m is not allowed)"));
        }
        let decoded = percent_encoding::percent_decode_str(addr).decode_utf8_lossy();
        let Some((local, domain)) = decoded.rsplit_once('@') else {
            return Err(("RPT-TXT-06", "not an e-mail address"));
        };
        if local.is_empty() || domain.is_empty() || !domain.contains('.') || domain.contains('@') {
            return Err(("RPT-TXT-06", "not an e-mail address"));
        }
        Ok(())
    } else if let Some(rest) = uri.strip_prefix("https://") {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = authority.rsplit_once(':').map_or(authority, |(h, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                authority
            }
        });
        if host.is_empty()
            || !(host.contains('.') || host.starts_with('['))
            || authority.contains('@')
        {
            return Err(("RPT-TXT-07", "not an https URL with a host name"));
        }
        Ok(())
    } else if uri.starts_with("http://") {
        Err((
            "RPT-TXT-05",
            "plain http is not allowed; use https:// or mailto:",
        ))
    } else if uri.contains('@') && !uri.contains(':') {
        Err((
            "RPT-TXT-05",
            "the mailto: scheme is missing (write mailto:address)",
        ))
    } else {
        Err((
            "RPT-TXT-05",
            "only mailto: and https: destinations are defined",
        ))
    }
}
