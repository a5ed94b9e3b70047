//! The `_mta-sts` TXT record (RFC 8461 §3.1).

use app::health::Severity;

use super::*;

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
