//! The TLS-RPT report model (RFC 8460 §4.4) and its lenient parser.
//!
//! Real senders deviate from the RFC in many ways (`../shared/spec` §1.7, D-01…D-30). The parser
//! accepts every deviation that still lets us know *what happened to which sessions*, records a
//! warning for each, and rejects only what would make the numbers wrong (bad counts, no dates, no
//! policy domain). It never panics on input: it walks a `serde_json::Value` instead of deriving a
//! strict schema.

use std::fmt;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Map, Value};

use super::names::{normalize_domain, normalize_mx_pattern};

/// Largest count a report may carry: 2^53, the largest integer an I-JSON number holds exactly.
pub const MAX_COUNT: u64 = 1 << 53;

/// A parsed TLS-RPT report.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// `organization-name`; empty when the sender left it out.
    pub organization_name: String,
    /// `report-id`; when absent, a synthetic id derived from the content hash is used.
    pub report_id: String,
    /// `contact-info`; `None` when null or absent (D-14).
    pub contact_info: Option<String>,
    /// `date-range.start-datetime`.
    pub start: DateTime<Utc>,
    /// `date-range.end-datetime`.
    pub end: DateTime<Utc>,
    /// One entry per applied policy.
    pub policies: Vec<PolicyResult>,
    /// Deviations from RFC 8460 that were tolerated.
    pub warnings: Vec<String>,
}

/// One element of `policies`.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyResult {
    /// `policy-type` as sent (`sts`, `tlsa`, `no-policy-found`, or anything else kept as text).
    pub policy_type: String,
    /// `policy-string`, with Microsoft's JSON-in-a-string TLSA encoding unwrapped (D-06).
    pub policy_strings: Vec<String>,
    /// `policy-domain`, lowercased, without a trailing dot.
    pub policy_domain: String,
    /// `mx-host` patterns (string or array, `mx:` prefix stripped).
    pub mx_hosts: Vec<String>,
    /// `total-successful-session-count`.
    pub success: u64,
    /// `total-failure-session-count`.
    pub failure: u64,
    /// `failure-details`.
    pub failures: Vec<FailureDetail>,
}

/// One element of `failure-details`. Every RFC 8460 field; unknown result types are kept as text.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FailureDetail {
    /// `result-type`.
    pub result_type: String,
    /// `sending-mta-ip` (kept as text; validated leniently).
    pub sending_mta_ip: Option<String>,
    /// `receiving-mx-hostname`, lowercased, without a trailing dot.
    pub receiving_mx_hostname: Option<String>,
    /// `receiving-mx-helo`.
    pub receiving_mx_helo: Option<String>,
    /// `receiving-ip`.
    pub receiving_ip: Option<String>,
    /// `failed-session-count`.
    pub failed_session_count: u64,
    /// `additional-information` (alias `additional-info-uri`); opaque text.
    pub additional_information: Option<String>,
    /// `failure-reason-code`.
    pub failure_reason_code: Option<String>,
}

/// Why a report was rejected. The message names the problem in words a postmaster understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportError(pub String);

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ReportError {}

fn reject<T>(msg: impl Into<String>) -> Result<T, ReportError> {
    Err(ReportError(msg.into()))
}

/// Context the transport knows and the body may lack.
#[derive(Debug, Clone, Default)]
pub struct ParseContext {
    /// `TLS-Report-Domain` header or the domain in the RFC 8460 file name, used when a policy
    /// has no `policy-domain` (D-07). The body wins whenever it names a domain.
    pub fallback_domain: Option<String>,
}

/// The 11 result types RFC 8460 registers.
pub const RFC_RESULT_TYPES: [&str; 11] = [
    "starttls-not-supported",
    "certificate-host-mismatch",
    "certificate-expired",
    "certificate-not-trusted",
    "validation-failure",
    "tlsa-invalid",
    "dnssec-invalid",
    "dane-required",
    "sts-policy-fetch-error",
    "sts-policy-invalid",
    "sts-webpki-invalid",
];

/// Parses report JSON bytes.
pub fn parse_report(bytes: &[u8], ctx: &ParseContext) -> Result<Report, ReportError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let value: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => return reject(format!("not valid JSON: {e}")),
    };
    let Value::Object(root) = value else {
        return reject("the report is not a JSON object");
    };
    let mut w = Vec::new();

    let organization_name = match root.get("organization-name") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
        _ => {
            w.push("organization-name is missing".to_owned());
            String::new()
        }
    };
    let contact_info = match root.get("contact-info") {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Some(Value::Null) => {
            w.push("contact-info is null".to_owned());
            None
        }
        _ => {
            w.push("contact-info is missing".to_owned());
            None
        }
    };
    let report_id = match root.get("report-id") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
        Some(Value::Number(n)) => {
            w.push("report-id is a number, not a string".to_owned());
            n.to_string()
        }
        _ => {
            w.push("report-id is missing; the content hash identifies the report".to_owned());
            String::new()
        }
    };
    let (start, end) = parse_date_range(root.get("date-range"), &mut w)?;
    unknown_keys(&root, "the report", ROOT_KEYS, &mut w);

    let policies_value = match root.get("policies") {
        Some(Value::Array(a)) => a.clone(),
        Some(obj @ Value::Object(_)) => {
            w.push("policies is an object, not an array".to_owned());
            vec![obj.clone()]
        }
        Some(_) => return reject("policies is not an array"),
        None => return reject("the report has no policies"),
    };
    if policies_value.is_empty() {
        return reject("the report has an empty policies array");
    }
    let mut policies = Vec::with_capacity(policies_value.len());
    for (i, p) in policies_value.iter().enumerate() {
        policies.push(parse_policy(i, p, ctx, &mut w)?);
    }
    if policies.len() > 1
        && policies
            .iter()
            .all(|p| p.policy_domain == policies[0].policy_domain)
    {
        let types: Vec<&str> = policies.iter().map(|p| p.policy_type.as_str()).collect();
        if types.contains(&"sts") && types.contains(&"tlsa") {
            w.push(format!(
                "sessions for {} are listed under both sts and tlsa; counted once",
                policies[0].policy_domain
            ));
        }
    }

    Ok(Report {
        organization_name,
        report_id,
        contact_info,
        start,
        end,
        policies,
        warnings: w,
    })
}

fn parse_date_range(
    v: Option<&Value>,
    w: &mut Vec<String>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), ReportError> {
    let Some(Value::Object(dr)) = v else {
        return reject("date-range is missing");
    };
    let start = parse_time(dr, "start-datetime", w)?;
    let end = parse_time(dr, "end-datetime", w)?;
    if end < start {
        return reject("date-range ends before it starts");
    }
    let secs = (end - start).num_seconds();
    if !(86_399..=86_400).contains(&secs) {
        w.push(format!("date-range covers {secs} seconds, not one day"));
    }
    Ok((start, end))
}

fn parse_time(
    dr: &Map<String, Value>,
    key: &str,
    w: &mut Vec<String>,
) -> Result<DateTime<Utc>, ReportError> {
    let Some(Value::String(s)) = dr.get(key) else {
        return reject(format!("date-range.{key} is missing"));
    };
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            w.push(format!("date-range.{key} has no time zone; read as UTC"));
            return Ok(t.and_utc());
        }
    }
    reject(format!(
        "date-range.{key} is not a date-time: {}",
        truncate(s, 64)
    ))
}

fn parse_policy(
    i: usize,
    v: &Value,
    ctx: &ParseContext,
    w: &mut Vec<String>,
) -> Result<PolicyResult, ReportError> {
    let Value::Object(entry) = v else {
        return reject(format!("policies[{i}] is not an object"));
    };
    let empty = Map::new();
    let policy = match entry.get("policy") {
        Some(Value::Object(p)) => p,
        _ => {
            w.push(format!("policies[{i}].policy is missing"));
            &empty
        }
    };
    let policy_type = match policy.get("policy-type") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
        _ => {
            w.push(format!("policies[{i}].policy-type is missing"));
            "unknown".to_owned()
        }
    };
    if !matches!(policy_type.as_str(), "sts" | "tlsa" | "no-policy-found") {
        w.push(format!(
            "policies[{i}] has unknown policy-type {:?}",
            truncate(&policy_type, 64)
        ));
    }
    let policy_domain = match policy.get("policy-domain") {
        Some(Value::String(s)) if !s.trim().is_empty() => match normalize_domain(s) {
            Some(d) => d,
            None => return reject(format!("policies[{i}].policy-domain is not a domain name: {:?}", truncate(s, 64))),
        },
        _ => match ctx.fallback_domain.as_deref().and_then(normalize_domain) {
            Some(d) => {
                w.push(format!("policies[{i}].policy-domain is missing; taken from the mail header or file name"));
                d
            }
            None => {
                return reject(format!(
                    "policies[{i}].policy-domain is missing and no TLS-Report-Domain header or file name names the domain"
                ))
            }
        },
    };
    let mut policy_strings = string_list(
        policy.get("policy-string"),
        &format!("policies[{i}].policy-string"),
        w,
    );
    if policy_type == "tlsa"
        && policy_strings.len() == 1
        && policy_strings[0].trim_start().starts_with('[')
    {
        if let Ok(inner) = serde_json::from_str::<Vec<String>>(&policy_strings[0]) {
            w.push(format!(
                "policies[{i}].policy-string holds a JSON array inside one string; unwrapped"
            ));
            policy_strings = inner;
        }
    }
    let mx_value = policy
        .get("mx-host")
        .or_else(|| policy.get("mx-host-pattern"));
    if matches!(mx_value, Some(Value::String(_))) {
        w.push(format!("policies[{i}].mx-host is a string, not an array"));
    }
    let mut mx_hosts = Vec::new();
    for raw in string_list(mx_value, &format!("policies[{i}].mx-host"), w) {
        let trimmed = raw.trim();
        let stripped = trimmed.strip_prefix("mx:").map(str::trim_start);
        if stripped.is_some() {
            w.push(format!(
                "policies[{i}].mx-host entry carries an \"mx:\" prefix"
            ));
        }
        match normalize_mx_pattern(stripped.unwrap_or(trimmed)) {
            Some(p) => mx_hosts.push(p),
            None => w.push(format!(
                "policies[{i}].mx-host entry {:?} is not a host pattern; ignored",
                truncate(trimmed, 64)
            )),
        }
    }

    unknown_keys(entry, &format!("policies[{i}]"), POLICY_ENTRY_KEYS, w);
    unknown_keys(policy, &format!("policies[{i}].policy"), POLICY_KEYS, w);
    let summary = match entry.get("summary") {
        Some(Value::Object(s)) => s,
        _ => {
            w.push(format!("policies[{i}].summary is missing"));
            &empty
        }
    };
    unknown_keys(summary, &format!("policies[{i}].summary"), SUMMARY_KEYS, w);
    let success = count(
        summary.get("total-successful-session-count"),
        &format!("policies[{i}].summary.total-successful-session-count"),
        w,
    )?;
    let failure = count(
        summary.get("total-failure-session-count"),
        &format!("policies[{i}].summary.total-failure-session-count"),
        w,
    )?;

    let mut failures = Vec::new();
    match entry.get("failure-details") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (j, d) in items.iter().enumerate() {
                failures.push(parse_failure(i, j, d, w)?);
            }
        }
        Some(_) => return reject(format!("policies[{i}].failure-details is not an array")),
    }
    let detail_sum: u64 = failures.iter().map(|f| f.failed_session_count).sum();
    if !failures.is_empty() && detail_sum > failure {
        w.push(format!(
            "policies[{i}]: failure details add up to {detail_sum} sessions, more than the summary's {failure}; \
             kept as sent, the per-MX and per-result-type breakdowns are capped at {failure}"
        ));
    } else if !failures.is_empty() && detail_sum != failure {
        w.push(format!(
            "policies[{i}]: failure details add up to {detail_sum} sessions but the summary says {failure}"
        ));
    }
    Ok(PolicyResult {
        policy_type,
        policy_strings,
        policy_domain,
        mx_hosts,
        success,
        failure,
        failures,
    })
}

fn parse_failure(
    i: usize,
    j: usize,
    v: &Value,
    w: &mut Vec<String>,
) -> Result<FailureDetail, ReportError> {
    let path = format!("policies[{i}].failure-details[{j}]");
    let Value::Object(d) = v else {
        return reject(format!("{path} is not an object"));
    };
    let result_type = match d.get("result-type") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
        _ => {
            w.push(format!("{path}.result-type is missing"));
            "unknown".to_owned()
        }
    };
    if !RFC_RESULT_TYPES.contains(&result_type.as_str()) {
        w.push(format!(
            "{path} has result-type {:?}, not one of RFC 8460's",
            truncate(&result_type, 64)
        ));
    }
    let text = |key: &str| match d.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(truncate(s.trim(), 1024).to_owned()),
        _ => None,
    };
    let ip = |key: &str, w: &mut Vec<String>| {
        let v = text(key)?;
        if v.parse::<std::net::IpAddr>().is_err() {
            w.push(format!(
                "{path}.{key} {:?} is not an IP address; kept as text",
                truncate(&v, 64)
            ));
        }
        Some(v)
    };
    let sending_mta_ip = ip("sending-mta-ip", w);
    let receiving_ip = ip("receiving-ip", w);
    let receiving_mx_hostname = text("receiving-mx-hostname")
        .or_else(|| {
            let alias = text("receiving-mx-host-name");
            if alias.is_some() {
                w.push(format!(
                    "{path} names the MX under receiving-mx-host-name; read as receiving-mx-hostname"
                ));
            }
            alias
        })
        .map(|h| h.trim_end_matches('.').to_ascii_lowercase());
    unknown_keys(d, &path, FAILURE_KEYS, w);
    let failed_session_count = count(
        d.get("failed-session-count"),
        &format!("{path}.failed-session-count"),
        w,
    )?;
    Ok(FailureDetail {
        result_type,
        sending_mta_ip,
        receiving_mx_hostname,
        receiving_mx_helo: text("receiving-mx-helo"),
        receiving_ip,
        failed_session_count,
        additional_information: text("additional-information")
            .or_else(|| text("additional-info-uri")),
        failure_reason_code: text("failure-reason-code"),
    })
}

const ROOT_KEYS: &[&str] = &[
    "organization-name",
    "date-range",
    "contact-info",
    "report-id",
    "policies",
];
const POLICY_ENTRY_KEYS: &[&str] = &["policy", "summary", "failure-details"];
const POLICY_KEYS: &[&str] = &[
    "policy-type",
    "policy-string",
    "policy-domain",
    "mx-host",
    "mx-host-pattern",
];
const SUMMARY_KEYS: &[&str] = &[
    "total-successful-session-count",
    "total-failure-session-count",
];
const FAILURE_KEYS: &[&str] = &[
    "result-type",
    "sending-mta-ip",
    "receiving-mx-hostname",
    "receiving-mx-host-name",
    "receiving-mx-helo",
    "receiving-ip",
    "failed-session-count",
    "additional-information",
    "additional-info-uri",
    "failure-reason-code",
];

/// One warning per key RFC 8460 does not define (at most a few per object, named escaped).
fn unknown_keys(obj: &Map<String, Value>, path: &str, known: &[&str], w: &mut Vec<String>) {
    let unknown: Vec<&String> = obj
        .keys()
        .filter(|k| !known.contains(&k.as_str()))
        .collect();
    for k in unknown.iter().take(5) {
        w.push(format!(
            "{path} has the key {:?}, which RFC 8460 does not define; ignored",
            truncate(k, 64)
        ));
    }
    if unknown.len() > 5 {
        w.push(format!(
            "{path} has {} more keys RFC 8460 does not define; ignored",
            unknown.len() - 5
        ));
    }
}

/// Reads a session count: a non-negative integer no larger than 2^53. Absent counts are 0 with a
/// warning (D-09); anything else that is not such an integer rejects the report, because every
/// total built on it would be wrong.
fn count(v: Option<&Value>, path: &str, w: &mut Vec<String>) -> Result<u64, ReportError> {
    match v {
        None | Some(Value::Null) => {
            w.push(format!("{path} is missing; read as 0"));
            Ok(0)
        }
        Some(Value::Number(n)) => {
            if let Some(u) = n.as_u64() {
                if u > MAX_COUNT {
                    return reject(format!("{path} is {u}, above 2^53"));
                }
                return Ok(u);
            }
            if n.as_i64().is_some() {
                return reject(format!("{path} is negative: {n}"));
            }
            match n.as_f64() {
                Some(f) if f.fract() == 0.0 && (0.0..=MAX_COUNT as f64).contains(&f) => {
                    w.push(format!("{path} is written as a decimal number"));
                    Ok(f as u64)
                }
                Some(f) if f < 0.0 => reject(format!("{path} is negative: {n}")),
                Some(f) if f > MAX_COUNT as f64 => reject(format!("{path} is {n}, above 2^53")),
                _ => reject(format!("{path} is not an integer: {n}")),
            }
        }
        Some(Value::String(s)) => match s.trim().parse::<u64>() {
            Ok(u) if u <= MAX_COUNT => {
                w.push(format!("{path} is a string, not a number"));
                Ok(u)
            }
            Ok(u) => reject(format!("{path} is {u}, above 2^53")),
            Err(_) => reject(format!(
                "{path} is not a non-negative integer: {:?}",
                truncate(s, 64)
            )),
        },
        Some(other) => reject(format!(
            "{path} is not a number: {}",
            truncate(&other.to_string(), 64)
        )),
    }
}

fn string_list(v: Option<&Value>, path: &str, w: &mut Vec<String>) -> Vec<String> {
    match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|x| match x {
                Value::String(s) => Some(s.clone()),
                other => {
                    w.push(format!(
                        "{path} holds a non-string entry {}; ignored",
                        truncate(&other.to_string(), 64)
                    ));
                    None
                }
            })
            .collect(),
        Some(other) => {
            w.push(format!(
                "{path} is neither a string nor an array: {}; ignored",
                truncate(&other.to_string(), 64)
            ));
            Vec::new()
        }
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
