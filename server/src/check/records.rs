//! Exact parsers for the `_mta-sts` TXT record, the MTA-STS policy file and the `_smtp._tls`
//! TXT record (RFC 8461 §3.1, §3.2; RFC 8460 §3), and the §4.1 MX pattern match.
//!
//! They never reject silently: every deviation is a [`Problem`] with a check ID, a severity and
//! (for the policy) a line number, so the checker can explain it.

use app::health::Severity;

/// One deviation found while parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Catalogue check ID.
    pub id: &'static str,
    /// How bad it is.
    pub severity: Severity,
    /// What is wrong, in words.
    pub message: String,
}

fn problem(id: &'static str, severity: Severity, message: impl Into<String>) -> Problem {
    Problem {
        id,
        severity,
        message: message.into(),
    }
}

/// A parsed `_mta-sts` record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StsRecord {
    /// The `id` value, if syntactically valid.
    pub id: Option<String>,
    /// Unknown `name=value` extensions (valid grammar), in order.
    pub extensions: Vec<(String, String)>,
    /// Problems; the record is usable when none of them is a `fail`.
    pub problems: Vec<Problem>,
}

impl StsRecord {
    /// Whether a sender would accept the record.
    pub fn valid(&self) -> bool {
        self.id.is_some() && !self.problems.iter().any(|p| p.severity == Severity::Fail)
    }
}

/// Whether a TXT string is meant as an MTA-STS record (RFC 8461 §3.1 discard rule, plus the
/// `v=STSv1 ;` form that mox treats as an invalid STS record).
pub fn is_sts_candidate(txt: &str) -> bool {
    txt.starts_with("v=STSv1;")
        || txt
            .strip_prefix("v=STSv1")
            .is_some_and(|rest| rest.trim_start_matches([' ', '\t']).starts_with(';'))
        || txt == "v=STSv1"
}

fn is_wsp(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn ext_name_ok(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && name.len() <= 32
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn sts_ext_value_ok(v: &str) -> bool {
    !v.is_empty()
        && v.bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b'=' && b != b';')
}

/// Splits `a; b ;c;` into fields with the `*WSP ";" *WSP` delimiter; `None` marks an empty field
/// between two delimiters (`;;`).
fn split_fields(rest: &str) -> Vec<&str> {
    rest.split(';')
        .map(|f| f.trim_matches(is_wsp))
        .collect::<Vec<_>>()
}

/// Parses one (already concatenated) `_mta-sts` TXT string.
pub fn parse_sts_record(txt: &str) -> StsRecord {
    let mut out = StsRecord::default();
    if !txt.is_ascii() {
        out.problems.push(problem(
            "STS-TXT-07",
            Severity::Fail,
            "the record contains non-ASCII characters (it MUST be US-ASCII)",
        ));
        return out;
    }
    if txt.contains('"') {
        out.problems.push(problem(
            "STS-TXT-07",
            Severity::Fail,
            "the record contains literal quote characters; the DNS editor probably stored the quotes as data",
        ));
    }
    let Some(rest) = txt.strip_prefix("v=STSv1") else {
        out.problems.push(problem(
            "STS-TXT-07",
            Severity::Fail,
            "the record must begin with v=STSv1 (case-sensitive)",
        ));
        return out;
    };
    if rest.starts_with(|c: char| is_wsp(c)) {
        out.problems.push(problem(
            "STS-TXT-07",
            Severity::Warn,
            "whitespace before the first ';' (\"v=STSv1 ;\") is ambiguous (RFC 8461 erratum 6285); some senders discard such a record",
        ));
    }
    let rest = rest.trim_start_matches(is_wsp);
    let Some(rest) = rest.strip_prefix(';') else {
        out.problems.push(problem(
            "STS-TXT-07",
            Severity::Fail,
            if rest.is_empty() {
                "the record has no fields after v=STSv1 (an id is required)".to_string()
            } else {
                format!(
                    "v=STSv1 must be followed by ';' (found {:?})",
                    first_chars(rest)
                )
            },
        ));
        return out;
    };
    let mut fields = split_fields(rest);
    // One optional trailing delimiter.
    if fields.last() == Some(&"") {
        fields.pop();
    }
    let mut seen_id = false;
    for field in fields {
        if field.is_empty() {
            out.problems.push(problem(
                "STS-TXT-07",
                Severity::Fail,
                "empty field (\";;\") in the record",
            ));
            continue;
        }
        let Some((name, value)) = field.split_once('=') else {
            out.problems.push(problem(
                "STS-TXT-07",
                Severity::Fail,
                format!("field {field:?} is not name=value"),
            ));
            continue;
        };
        if name == "id" {
            if seen_id {
                out.problems.push(problem(
                    "STS-TXT-09",
                    Severity::Warn,
                    format!(
                        "id appears more than once; senders use the first and ignore {value:?}"
                    ),
                ));
                continue;
            }
            seen_id = true;
            if value.is_empty() {
                out.problems
                    .push(problem("STS-TXT-08", Severity::Fail, "the id is empty"));
            } else if value.len() > 32 || !value.bytes().all(|b| b.is_ascii_alphanumeric()) {
                out.problems.push(problem(
                    "STS-TXT-08",
                    Severity::Fail,
                    format!(
                        "id {value:?} is invalid: it must be 1 to 32 letters and digits only (no '-', ':', '.' or spaces)"
                    ),
                ));
            } else {
                out.id = Some(value.to_string());
            }
        } else if name == "v" {
            out.problems.push(problem(
                "STS-TXT-09",
                Severity::Warn,
                "v appears more than once; senders use the first",
            ));
        } else if !ext_name_ok(name) || !sts_ext_value_ok(value) {
            out.problems.push(problem(
                "STS-TXT-10",
                Severity::Fail,
                format!("extension {field:?} does not follow the grammar (name: letter or digit then up to 31 of letters, digits, _ - .; value: printable, no '=' ';' or space)"),
            ));
        } else {
            out.extensions.push((name.to_string(), value.to_string()));
        }
    }
    if !seen_id {
        out.problems.push(problem(
            "STS-TXT-08",
            Severity::Fail,
            "the record has no id field (required)",
        ));
    }
    out
}

fn first_chars(s: &str) -> String {
    s.chars().take(16).collect()
}

/// `mode:` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `enforce`.
    Enforce,
    /// `testing`.
    Testing,
    /// `none`.
    None,
}

impl Mode {
    /// The policy-file spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Testing => "testing",
            Mode::None => "none",
        }
    }
}

/// A parsed policy file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// `version`, if `STSv1`.
    pub version_ok: bool,
    /// `mode`.
    pub mode: Option<Mode>,
    /// `max_age` in seconds.
    pub max_age: Option<u64>,
    /// Valid `mx` patterns, normalized, in order.
    pub mx: Vec<String>,
    /// Problems, with line numbers in the message.
    pub problems: Vec<Problem>,
}

impl Policy {
    /// Whether a strict sender would apply this policy.
    pub fn valid(&self) -> bool {
        !self.problems.iter().any(|p| p.severity == Severity::Fail)
    }
}

/// Keys that are probably typos of the real ones.
fn typo_hint(key: &str) -> Option<&'static str> {
    match key.to_ascii_lowercase().as_str() {
        "max-age" | "maxage" | "max_age" => Some("max_age"),
        "mode" | "modes" => Some("mode"),
        "mx" | "mx-host" | "mxs" | "mx_host" => Some("mx"),
        "version" | "versions" | "ver" => Some("version"),
        _ => None,
    }
}

/// Validates an `mx` value: `["*."] Domain` with A-labels only. Returns the normalized pattern.
pub fn valid_mx_pattern(value: &str) -> Result<String, &'static str> {
    let base = value.strip_prefix("*.").unwrap_or(value);
    if value.ends_with('.') {
        return Err("a trailing dot is not allowed");
    }
    if base.contains('*') {
        return Err("'*' is only allowed as the whole left-most label (\"*.example.com\")");
    }
    if !base.is_ascii() {
        return Err("internationalized names must be written as A-labels (xn--…)");
    }
    if base.parse::<std::net::IpAddr>().is_ok()
        || base.starts_with('[')
        || base.bytes().all(|b| b.is_ascii_digit() || b == b'.')
    {
        return Err("an IP address is not an MX host name");
    }
    if base.len() > 253 || !base.contains('.') && value.starts_with("*.") {
        return Err("not a valid domain name");
    }
    let labels_ok = base.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    });
    if !labels_ok {
        return Err(
            "not a valid domain name (letters, digits and '-' in labels of 1 to 63 characters)",
        );
    }
    Ok(value.to_ascii_lowercase())
}

/// Parses a policy body exactly per the RFC 8461 §3.2 ABNF, reporting every deviation.
pub fn parse_policy(body: &[u8]) -> Policy {
    let mut p = Policy::default();
    let mut text = match std::str::from_utf8(body) {
        Ok(t) => t,
        Err(e) => {
            p.problems.push(problem(
                "STS-POL-01",
                Severity::Fail,
                format!(
                    "the policy is not valid UTF-8 (at byte {})",
                    e.valid_up_to()
                ),
            ));
            return p;
        }
    };
    if let Some(rest) = text.strip_prefix('\u{feff}') {
        p.problems.push(problem(
            "STS-POL-01",
            Severity::Warn,
            "the file starts with a UTF-8 byte-order mark; strict senders (e.g. mox) reject the first line",
        ));
        text = rest;
    }
    let trimmed_start = text.trim_start();
    if trimmed_start.starts_with('<') || text.to_ascii_lowercase().contains("<html") {
        p.problems.push(problem(
            "STS-POL-11",
            Severity::Fail,
            "the server returned an HTML page, not a policy",
        ));
        return p;
    }
    if text.contains('\0') {
        p.problems.push(problem(
            "STS-POL-01",
            Severity::Fail,
            "the policy contains NUL bytes",
        ));
        return p;
    }
    // Line terminators: LF or CRLF; a CR not followed by LF is invalid.
    let bytes = text.as_bytes();
    if bytes
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'\r' && bytes.get(i + 1) != Some(&b'\n'))
    {
        p.problems.push(problem(
            "STS-POL-02",
            Severity::Fail,
            "a bare CR line ending was found; lines must end with LF or CRLF",
        ));
    }
    let mut lines: Vec<&str> = text.split('\n').collect();
    // At most one final terminator: "a\n" gives ["a", ""].
    if lines.last() == Some(&"") {
        lines.pop();
    }
    let mut seen_version = false;
    let mut seen_mode = false;
    let mut seen_max_age = false;
    let mut mx_seen: Vec<String> = Vec::new();
    if lines.is_empty() {
        p.problems
            .push(problem("STS-POL-03", Severity::Fail, "the policy is empty"));
    }
    for (i, raw) in lines.iter().enumerate() {
        let n = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() {
            p.problems.push(problem(
                "STS-POL-03",
                Severity::Warn,
                format!("line {n}: blank line (not allowed by the grammar; mox rejects the file, some parsers stop reading here)"),
            ));
            continue;
        }
        if line.starts_with('#') {
            p.problems.push(problem(
                "STS-POL-03",
                Severity::Warn,
                format!("line {n}: comment lines are not part of the format; strict senders reject them"),
            ));
            continue;
        }
        if line.starts_with(is_wsp) {
            p.problems.push(problem(
                "STS-POL-03",
                Severity::Warn,
                format!(
                    "line {n}: leading whitespace before the key (strict senders reject the file)"
                ),
            ));
        }
        let line = line.trim_start_matches(is_wsp);
        let Some((key, value)) = line.split_once(':') else {
            p.problems.push(problem(
                "STS-POL-03",
                Severity::Fail,
                format!(
                    "line {n}: {:?} is not a \"key: value\" line",
                    truncate(line)
                ),
            ));
            continue;
        };
        let value = value.trim_matches(is_wsp);
        if value.chars().any(|c| c.is_control() && c != '\t') {
            p.problems.push(problem(
                "STS-POL-01",
                Severity::Fail,
                format!("line {n}: control characters in the value"),
            ));
            continue;
        }
        match key {
            "version" => {
                if seen_version {
                    p.problems.push(problem(
                        "STS-POL-09",
                        Severity::Warn,
                        format!("line {n}: version repeated; senders use the first"),
                    ));
                    continue;
                }
                seen_version = true;
                if value == "STSv1" {
                    p.version_ok = true;
                } else {
                    p.problems.push(problem(
                        "STS-POL-04",
                        Severity::Fail,
                        format!("line {n}: version {:?} is not STSv1", truncate(value)),
                    ));
                }
            }
            "mode" => {
                if seen_mode {
                    p.problems.push(problem(
                        "STS-POL-09",
                        Severity::Warn,
                        format!("line {n}: mode repeated; senders use the first"),
                    ));
                    continue;
                }
                seen_mode = true;
                p.mode = match value {
                    "enforce" => Some(Mode::Enforce),
                    "testing" => Some(Mode::Testing),
                    "none" => Some(Mode::None),
                    other => {
                        p.problems.push(problem("STS-POL-05", Severity::Fail, format!("line {n}: mode {:?} is not one of enforce, testing, none (lower case)", truncate(other))));
                        None
                    }
                };
            }
            "max_age" => {
                if seen_max_age {
                    p.problems.push(problem(
                        "STS-POL-09",
                        Severity::Warn,
                        format!("line {n}: max_age repeated; senders use the first"),
                    ));
                    continue;
                }
                seen_max_age = true;
                if value.is_empty()
                    || value.len() > 10
                    || !value.bytes().all(|b| b.is_ascii_digit())
                {
                    p.problems.push(problem(
                        "STS-POL-06",
                        Severity::Fail,
                        format!(
                            "line {n}: max_age {:?} is not 1 to 10 digits",
                            truncate(value)
                        ),
                    ));
                } else {
                    let v: u64 = value.parse().unwrap_or(u64::MAX);
                    if v > 31_557_600 {
                        p.problems.push(problem(
                            "STS-POL-06",
                            Severity::Fail,
                            format!(
                                "line {n}: max_age {v} is above the maximum 31557600 (one year)"
                            ),
                        ));
                    } else {
                        p.max_age = Some(v);
                    }
                }
            }
            "mx" => match valid_mx_pattern(value) {
                Ok(pattern) => {
                    if mx_seen.contains(&pattern) {
                        p.problems.push(problem(
                            "STS-POL-09",
                            Severity::Info,
                            format!("line {n}: mx {pattern} listed twice"),
                        ));
                    } else {
                        mx_seen.push(pattern.clone());
                        p.mx.push(pattern);
                    }
                }
                Err(why) => p.problems.push(problem(
                    "STS-POL-08",
                    Severity::Fail,
                    format!("line {n}: mx {:?}: {why}", truncate(value)),
                )),
            },
            other => {
                let name_ok = ext_name_ok(other);
                let value_ok = !value.is_empty();
                if !name_ok || !value_ok {
                    p.problems.push(problem(
                        "STS-POL-10",
                        Severity::Fail,
                        format!(
                            "line {n}: {:?} is not a valid extension field",
                            truncate(line)
                        ),
                    ));
                } else if let Some(real) = typo_hint(other) {
                    p.problems.push(problem("STS-POL-10", Severity::Warn, format!("line {n}: unknown key {other:?} is ignored by senders; did you mean {real:?}? (keys are case-sensitive)")));
                } else {
                    p.problems.push(problem(
                        "STS-POL-10",
                        Severity::Info,
                        format!("line {n}: unknown key {other:?} is ignored by senders"),
                    ));
                }
            }
        }
    }
    if !seen_version {
        p.problems.push(problem(
            "STS-POL-04",
            Severity::Fail,
            "the version line (version: STSv1) is missing",
        ));
    }
    if !seen_mode {
        p.problems.push(problem(
            "STS-POL-05",
            Severity::Fail,
            "the mode line is missing",
        ));
    }
    if !seen_max_age {
        p.problems.push(problem(
            "STS-POL-06",
            Severity::Fail,
            "the max_age line is missing",
        ));
    }
    if matches!(p.mode, Some(Mode::Enforce | Mode::Testing)) && p.mx.is_empty() {
        p.problems.push(problem(
            "STS-POL-07",
            Severity::Fail,
            "mode enforce or testing needs at least one mx line",
        ));
    }
    p
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

/// RFC 8461 §4.1: does `pattern` (normalized) match the MX host `host`? A wildcard replaces
/// exactly one left-most label.
pub fn mx_matches(pattern: &str, host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(base) => match host.split_once('.') {
            Some((first, rest)) => !first.is_empty() && rest == base,
            None => false,
        },
        None => host == pattern,
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sts_records_valid_per_the_spec_vectors() {
        for txt in [
            "v=STSv1; id=20160831085700Z;",
            "v=STSv1; \t id=20160831085700Z  \t;",
            "v=STSv1; id=a",
            "v=STSv1; id=a; more=a; ext=2",
        ] {
            let r = parse_sts_record(txt);
            assert!(r.valid(), "{txt}: {:?}", r.problems);
        }
    }

    #[test]
    fn sts_records_invalid_per_the_spec_vectors() {
        for txt in [
            "v=STSv0",
            "v=STSv10",
            "v=STSv2",
            "v=STSv1",
            "v=STSv1;",
            "v=STSv1; ext=1",
            "v=STSv1; id=",
            "v=STSv1; id=012345678901234567890123456789012",
            "v=STSv1; id=test-123",
            "v=STSv1; id=a; more=",
            "v=STSv1; id=a; a12345678901234567890123456789012=1",
            "v=STSv1; id=a; 1%=a",
            "v=STSv1; id=a; test==",
            "v=STSv1; id=a;;",
            "id=20180907T090909; v=STSv1;",
            "v=STSv12;id=20180907T090909;",
            "v=STSv1; id=2026-04-29",
        ] {
            let r = parse_sts_record(txt);
            assert!(!r.valid(), "{txt} should be invalid");
        }
    }

    #[test]
    fn duplicate_id_keeps_the_first_and_warns() {
        let r = parse_sts_record("v=STSv1; id=first; id=second");
        assert_eq!(r.id.as_deref(), Some("first"));
        assert!(r.problems.iter().any(|p| p.id == "STS-TXT-09"));
    }

    #[test]
    fn policies_valid_per_the_spec_vectors() {
        for body in [
            "version: STSv1\nmode: enforce\t\nmx: *.example.com \nmax_age: 0 \n",
            "version:STSv1\r\nmode:\tenforce\r\nmx:  \t\t *.example.com\nmax_age: 1\nmore:ext e  ns ion",
            "version:STSv1\nmode:none\nmax_age:1",
            "version: STSv1\nmode: testing\nmx: mail.example.com\nmax_age: 86400\nreport: https://x.example/a:b\n",
        ] {
            let p = parse_policy(body.as_bytes());
            assert!(p.valid(), "{body:?}: {:?}", p.problems);
        }
        let p = parse_policy(b"version: STSv1\nmode: enforce\nmx: *.example.com \nmax_age: 0 \n");
        assert_eq!(p.mode, Some(Mode::Enforce));
        assert_eq!(p.max_age, Some(0));
        assert_eq!(p.mx, vec!["*.example.com"]);
    }

    #[test]
    fn policies_invalid_per_the_spec_vectors() {
        let base = |extra: &str| {
            format!("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\n{extra}")
        };
        let mut bodies: Vec<String> = [
            "",
            "version:STSv0\nmode:none\nmax_age:1",
            "version:STSv10\nmode:none\nmax_age:1",
            "version:STSv1\nmax_age:1\nmx:a.example",
            "version:STSv1\nmode:enforce\nmx:a.example",
            "version:STSv1\nmode:enforce\nmax_age:1",
            "version:STSv1\nmode:testing\nmax_age:1",
            "mode:none\nmax_age:1",
            "version:STSv1\nmode:none\nmax_age:01234567890",
            "version:STSv1\nmode:bad\nmax_age:1",
            "version:STSv1\nmode:none\nmax_age:a",
            "version: STSv1\nmode: none\nmax_age: 31557601",
            "version: STSv1\nmode: doubt\nmax_age: 1",
            "garbage",
            "<html><body>Not found</body></html>",
            "version: STSv1\rmode: none\rmax_age: 1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for mx in [
            "mx:",
            "mx:*.*.example",
            "mx:**.example",
            "mx:**.example-",
            "mx:test.example-",
            "mx: møx.example",
            "mx: 192.0.2.1",
            "mx: mail.example.com.",
        ] {
            bodies.push(base(mx));
        }
        for ext in ["ext:", &format!("{}:x", "a".repeat(33)), "_bad:test"] {
            bodies.push(base(ext));
        }
        for body in bodies {
            assert!(
                !parse_policy(body.as_bytes()).valid(),
                "{body:?} should be invalid"
            );
        }
    }

    #[test]
    fn policy_lint_warnings_do_not_invalidate() {
        let p = parse_policy(b"version: STSv1\n\nmode: testing\nmx: a.example\nmax_age: 86400\nmode: enforce\nmax-age: 5\n");
        assert!(p.valid(), "{:?}", p.problems);
        assert_eq!(p.mode, Some(Mode::Testing), "first mode wins");
        let ids: Vec<_> = p.problems.iter().map(|p| (p.id, p.severity)).collect();
        assert!(ids.contains(&("STS-POL-03", Severity::Warn)));
        assert!(ids.contains(&("STS-POL-09", Severity::Warn)));
        assert!(ids.contains(&("STS-POL-10", Severity::Warn)));
        assert!(p.problems.iter().any(|p| p.message.starts_with("line 2:")));
    }

    #[test]
    fn mx_patterns_match_exactly_one_label() {
        assert!(mx_matches("a.example", "a.example"));
        assert!(mx_matches("a.example", "A.Example."));
        assert!(mx_matches("*.b.example", "sub.b.example"));
        assert!(!mx_matches("*.b.example", "b.example"));
        assert!(!mx_matches("*.b.example", "sub.sub.b.example"));
        assert!(!mx_matches("a.example", "other"));
        assert!(mx_matches("*.example.com", "mail.example.com"));
        assert!(!mx_matches("*.example.com", "example.com"));
        assert!(!mx_matches("*.example.com", "foo.bar.example.com"));
    }

    #[test]
    fn tlsrpt_records_per_the_spec_vectors() {
        for txt in [
            "v=TLSRPTv1;rua=mailto:reports@example.com",
            "v=TLSRPTv1; rua=https://reporting.example.com/v1/tlsrpt",
            "v=TLSRPTv1; rua=mailto:tlsrpt@mydomain.com,https://tlsrpt.mydomain.com/v1",
            "v=TLSRPTv1;rua=mailto:reports@example.com,mailto:postmaster@example.com",
            "v=TLSRPTv1; rua=https://reporting.example.com:8443/v1; ext=extvalue",
        ] {
            let r = parse_tlsrpt_record(txt);
            assert!(r.valid(), "{txt}: {:?}", r.problems);
        }
        for txt in [
            "v=TLSRPTv1; rua=!!",
            "v=TLSRPTv1; rua=postmaster@isaspa.it",
            "v=TSLRPTv1; rua=mailto:x@y.example",
            "v=TLSRPTv1",
            "v=tlsrptv1; rua=mailto:x@y.example",
            "v=TLSRPTv1; rua=mailto:x@y.example!10m",
            "v=TLSRPTv1; rua=http://reports.example.com/",
        ] {
            assert!(!parse_tlsrpt_record(txt).valid(), "{txt} should be invalid");
        }
    }
}
