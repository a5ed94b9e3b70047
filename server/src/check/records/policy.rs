//! The MTA-STS policy file (RFC 8461 §3.2) and the §4.1 MX pattern match.

use app::health::Severity;

use super::*;

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
