//! Finding the report JSON inside whatever a sender delivered: plain JSON, gzip, zip, or a mail.
//!
//! Detection order (spec §1.7 D-24): declared media type, then file name, then magic bytes.
//! Every read is bounded by [`Limits`]; a gzip or zip bomb is refused after reading no more than
//! the decompressed limit.

use std::io::{Cursor, Read};

use mail_parser::{Message, MessageParser, MimeHeaders, PartType};

/// Bounds on untrusted input. Defaults follow mox (15 MB mail, 20 MB JSON).
///
/// Every bound but `max_input` is a budget for one whole input (a mail, a file, a POST body),
/// shared by all its MIME parts, nested mails and archive entries: see [`Budget`].
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest mail, upload or POST body, in bytes.
    pub max_input: usize,
    /// Most bytes one input may inflate to, all its reports together.
    pub max_decompressed: usize,
    /// Most entries a zip archive may list.
    pub max_zip_entries: usize,
    /// Deepest MIME nesting accepted.
    pub max_mime_depth: usize,
    /// Most reports one input may carry.
    pub max_reports: usize,
    /// Most MIME parts and archive entries examined in one input.
    pub max_parts: usize,
    /// With a retention period: reports that ended longer ago than this many days are not
    /// stored (their rows would be pruned at once, and a re-delivered copy of a pruned report
    /// would be counted twice).
    pub max_report_age_days: Option<u32>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_input: 15_000_000,
            max_decompressed: 20_000_000,
            max_zip_entries: 1_000,
            max_mime_depth: 20,
            max_reports: 1_000,
            max_parts: 2_000,
            max_report_age_days: None,
        }
    }
}

/// What is left of one input's allowance. One `Budget` is made per input and passed down to
/// every part, nested mail and archive entry, so many small parts cannot add up to more than
/// one input may cost.
#[derive(Debug)]
pub struct Budget {
    limits: Limits,
    inflated_left: usize,
    reports_left: usize,
    parts_left: usize,
}

impl Budget {
    /// The full allowance of one input.
    pub fn new(limits: &Limits) -> Self {
        Self {
            limits: *limits,
            inflated_left: limits.max_decompressed,
            reports_left: limits.max_reports,
            parts_left: limits.max_parts,
        }
    }

    /// Bytes that may still be inflated.
    pub fn inflated_left(&self) -> usize {
        self.inflated_left
    }

    /// Spends `n` inflated bytes.
    fn inflate(&mut self, n: usize) -> Result<(), ExtractError> {
        match self.inflated_left.checked_sub(n) {
            Some(left) => {
                self.inflated_left = left;
                Ok(())
            }
            None => Err(ExtractError::DecompressedTooLarge(
                self.limits.max_decompressed,
            )),
        }
    }

    /// Spends one report.
    fn report(&mut self) -> Result<(), ExtractError> {
        self.reports_left = self
            .reports_left
            .checked_sub(1)
            .ok_or(ExtractError::OverBudget(format!(
                "the input carries more than {} reports",
                self.limits.max_reports
            )))?;
        Ok(())
    }

    /// Spends one examined part (MIME part or archive entry).
    fn part(&mut self) -> Result<(), ExtractError> {
        self.parts_left = self
            .parts_left
            .checked_sub(1)
            .ok_or(ExtractError::OverBudget(format!(
                "the input has more than {} MIME parts and archive entries",
                self.limits.max_parts
            )))?;
        Ok(())
    }
}

/// The kind of payload, as detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Report JSON.
    Json,
    /// gzip-compressed report JSON.
    Gzip,
    /// zip archive holding report JSON.
    Zip,
    /// An RFC 5322 mail carrying a report.
    Mail,
}

/// One report body found in the input.
#[derive(Debug, Clone)]
pub struct Found {
    /// The report JSON, decompressed.
    pub json: Vec<u8>,
    /// The gzip bytes exactly as received, when the report came gzipped.
    pub original_gzip: Option<Vec<u8>>,
    /// `TLS-Report-Domain` from the mail headers, or the domain in an RFC 8460 file name.
    pub fallback_domain: Option<String>,
    /// Where in the input it was found (file name or MIME part), for messages.
    pub origin: String,
}

/// Why nothing could be extracted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    /// The input is larger than [`Limits::max_input`].
    #[error("input is {0} bytes, above the {1}-byte limit")]
    TooLarge(usize, usize),
    /// Decompression would exceed [`Limits::max_decompressed`] for the whole input.
    #[error("the input inflates to more than the {0}-byte limit (TLSWATCH_MAX_DECOMPRESSED_BYTES), all its reports together")]
    DecompressedTooLarge(usize),
    /// Another per-input bound (reports, parts) was reached.
    #[error("{0}")]
    OverBudget(String),
    /// Anything else, with a reason.
    #[error("{0}")]
    Invalid(String),
}

impl ExtractError {
    /// Whether the whole input's budget was spent: such an input is rejected as a whole.
    pub fn is_budget(&self) -> bool {
        matches!(
            self,
            Self::TooLarge(..) | Self::DecompressedTooLarge(_) | Self::OverBudget(_)
        )
    }
}

/// Detects the payload kind from a declared media type, a file name and the first bytes.
pub fn detect(content_type: Option<&str>, name: Option<&str>, bytes: &[u8]) -> Option<Kind> {
    if let Some(ct) = content_type {
        let ct = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match ct.as_str() {
            "application/tlsrpt+gzip" | "application/gzip" | "application/x-gzip" => {
                return Some(sniff_gzip_or(bytes, Kind::Gzip))
            }
            "application/tlsrpt+json" | "application/json" | "application/tlsrpt" => {
                return Some(sniff_gzip_or(bytes, Kind::Json))
            }
            "application/zip" | "application/tlsrpt+zip" | "application/x-zip-compressed" => {
                return Some(Kind::Zip)
            }
            "message/rfc822" => return Some(Kind::Mail),
            _ => {}
        }
    }
    if let Some(name) = name {
        let n = name.to_ascii_lowercase();
        if n.ends_with(".gz") {
            return Some(sniff_gzip_or(bytes, Kind::Gzip));
        }
        if n.ends_with(".zip") {
            return Some(Kind::Zip);
        }
        if n.ends_with(".json") {
            return Some(sniff_gzip_or(bytes, Kind::Json));
        }
        if n.ends_with(".eml") || n.ends_with(".msg") {
            return Some(Kind::Mail);
        }
    }
    sniff(bytes)
}

/// Magic bytes alone.
pub fn sniff(bytes: &[u8]) -> Option<Kind> {
    let trimmed = trim_start(bytes);
    if bytes.starts_with(&[0x1f, 0x8b]) {
        Some(Kind::Gzip)
    } else if bytes.starts_with(b"PK\x03\x04") {
        Some(Kind::Zip)
    } else if trimmed.starts_with(b"{") || trimmed.starts_with(b"\xEF\xBB\xBF{") {
        Some(Kind::Json)
    } else if looks_like_mail(trimmed) {
        Some(Kind::Mail)
    } else {
        None
    }
}

// A declared JSON type or name does not stop us from noticing gzip magic (RFC 8460 receivers
// see both labels on both encodings).
fn sniff_gzip_or(bytes: &[u8], declared: Kind) -> Kind {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        Kind::Gzip
    } else if bytes.starts_with(b"PK\x03\x04") {
        Kind::Zip
    } else if declared == Kind::Gzip && trim_start(bytes).starts_with(b"{") {
        Kind::Json
    } else {
        declared
    }
}

fn trim_start(bytes: &[u8]) -> &[u8] {
    let n = bytes.iter().take_while(|b| b.is_ascii_whitespace()).count();
    &bytes[n..]
}

fn looks_like_mail(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(4096)];
    let Ok(text) =
        std::str::from_utf8(head).or_else(|e| std::str::from_utf8(&head[..e.valid_up_to()]))
    else {
        return false;
    };
    let first = text.lines().next().unwrap_or("");
    let header_like = |l: &str| {
        l.split_once(':').is_some_and(|(k, _)| {
            !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
    };
    (first.starts_with("From ") || header_like(first))
        && text.lines().take(200).any(|l| {
            let l = l.to_ascii_lowercase();
            l.starts_with("content-type:")
                || l.starts_with("mime-version:")
                || l.starts_with("tls-report-domain:")
        })
}

/// Extracts every report from `bytes`, within one [`Budget`] for the whole input.
pub fn extract(
    bytes: &[u8],
    content_type: Option<&str>,
    name: Option<&str>,
    limits: &Limits,
) -> Result<Vec<Found>, ExtractError> {
    if bytes.len() > limits.max_input {
        return Err(ExtractError::TooLarge(bytes.len(), limits.max_input));
    }
    let fallback_domain = name.and_then(domain_from_filename);
    let origin = name.unwrap_or("input").to_owned();
    let mut budget = Budget::new(limits);
    match detect(content_type, name, bytes) {
        Some(kind) => extract_kind(kind, bytes, fallback_domain, origin, &mut budget, 0),
        None if bytes.is_empty() => Err(ExtractError::Invalid("input is empty".into())),
        None => Err(ExtractError::Invalid(
            "not a TLS-RPT report: neither JSON, gzip, zip nor a mail (first bytes do not match any)".into(),
        )),
    }
}

fn extract_kind(
    kind: Kind,
    bytes: &[u8],
    fallback_domain: Option<String>,
    origin: String,
    budget: &mut Budget,
    depth: usize,
) -> Result<Vec<Found>, ExtractError> {
    match kind {
        Kind::Json => {
            budget.inflate(bytes.len())?;
            budget.report()?;
            Ok(vec![Found {
                json: bytes.to_vec(),
                original_gzip: None,
                fallback_domain,
                origin,
            }])
        }
        Kind::Gzip => {
            let json = gunzip_within(bytes, budget)?;
            budget.report()?;
            Ok(vec![Found {
                json,
                original_gzip: Some(bytes.to_vec()),
                fallback_domain,
                origin,
            }])
        }
        Kind::Zip => unzip(bytes, fallback_domain, &origin, budget),
        Kind::Mail => extract_mail(bytes, budget, depth),
    }
}

/// Decompresses gzip within what is left of `budget`, and spends what it inflated.
fn gunzip_within(bytes: &[u8], budget: &mut Budget) -> Result<Vec<u8>, ExtractError> {
    let json = gunzip(bytes, budget.inflated_left()).map_err(|e| match e {
        ExtractError::DecompressedTooLarge(_) => {
            ExtractError::DecompressedTooLarge(budget.limits.max_decompressed)
        }
        e => e,
    })?;
    budget.inflate(json.len())?;
    Ok(json)
}

/// Decompresses the first gzip member (trailing bytes are ignored, D-26), reading at most
/// `max` bytes of output.
pub fn gunzip(bytes: &[u8], max: usize) -> Result<Vec<u8>, ExtractError> {
    let mut out = Vec::with_capacity((bytes.len() * 4).min(max));
    // `bufread` reads the slice in place (no 32 KiB intermediate buffer per report).
    let mut dec = flate2::bufread::GzDecoder::new(bytes).take(max as u64 + 1);
    dec.read_to_end(&mut out)
        .map_err(|e| ExtractError::Invalid(format!("gzip data is corrupt: {e}")))?;
    if out.len() > max {
        return Err(ExtractError::DecompressedTooLarge(max));
    }
    Ok(out)
}

fn unzip(
    bytes: &[u8],
    fallback_domain: Option<String>,
    origin: &str,
    budget: &mut Budget,
) -> Result<Vec<Found>, ExtractError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| ExtractError::Invalid(format!("zip archive is corrupt: {e}")))?;
    if archive.len() > budget.limits.max_zip_entries {
        return Err(ExtractError::Invalid(format!(
            "zip archive lists {} entries, above the limit of {}",
            archive.len(),
            budget.limits.max_zip_entries
        )));
    }
    let mut found = Vec::new();
    for i in 0..archive.len() {
        budget.part()?;
        let mut entry = archive
            .by_index(i)
            .map_err(|e| ExtractError::Invalid(format!("zip entry {i} is unreadable: {e}")))?;
        let name = entry.name().to_owned();
        let lower = name.to_ascii_lowercase();
        if entry.is_dir() || !(lower.ends_with(".json") || lower.ends_with(".json.gz")) {
            continue;
        }
        let mut data = Vec::new();
        (&mut entry)
            .take(budget.inflated_left() as u64 + 1)
            .read_to_end(&mut data)
            .map_err(|e| ExtractError::Invalid(format!("zip entry {name} is corrupt: {e}")))?;
        budget.inflate(data.len())?;
        budget.report()?;
        let domain = domain_from_filename(&name).or_else(|| fallback_domain.clone());
        let origin = format!("{origin}:{name}");
        if data.starts_with(&[0x1f, 0x8b]) {
            let json = gunzip_within(&data, budget)?;
            found.push(Found {
                json,
                original_gzip: Some(data),
                fallback_domain: domain,
                origin,
            });
        } else {
            found.push(Found {
                json: data,
                original_gzip: None,
                fallback_domain: domain,
                origin,
            });
        }
    }
    if found.is_empty() {
        return Err(ExtractError::Invalid(
            "zip archive holds no .json entry".into(),
        ));
    }
    Ok(found)
}

fn extract_mail(
    bytes: &[u8],
    budget: &mut Budget,
    depth: usize,
) -> Result<Vec<Found>, ExtractError> {
    let limits = budget.limits;
    if depth > limits.max_mime_depth {
        return Err(ExtractError::Invalid(format!(
            "MIME nesting deeper than {}",
            limits.max_mime_depth
        )));
    }
    let msg = MessageParser::default()
        .parse(bytes)
        .ok_or_else(|| ExtractError::Invalid("not a parsable mail message".into()))?;
    let header_domain = msg
        .header_raw("TLS-Report-Domain")
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    let nesting = mime_depth(&msg, 0, 0, limits.max_mime_depth + 1);
    if nesting > limits.max_mime_depth {
        return Err(ExtractError::Invalid(format!(
            "MIME nesting deeper than {}",
            limits.max_mime_depth
        )));
    }
    let mut found = Vec::new();
    let mut reasons = Vec::new();
    for (i, part) in msg.parts.iter().enumerate() {
        budget.part()?;
        if let PartType::Message(inner) = &part.body {
            match extract_mail(inner.raw_message(), budget, depth + nesting + 1) {
                Ok(mut more) => found.append(&mut more),
                Err(e) if e.is_budget() => return Err(e),
                Err(_) => {}
            }
            continue;
        }
        if matches!(part.body, PartType::Multipart(_)) {
            continue;
        }
        let ct = part
            .content_type()
            .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or("")).to_ascii_lowercase());
        let name = part.attachment_name().map(str::to_owned);
        let candidate = is_candidate(
            ct.as_deref(),
            name.as_deref(),
            i == 0 && msg.parts.len() == 1,
        );
        if !candidate {
            continue;
        }
        let data = part.contents();
        let fallback = header_domain
            .clone()
            .or_else(|| name.as_deref().and_then(domain_from_filename));
        let origin = name.clone().unwrap_or_else(|| format!("part {i}"));
        let kind = match detect(ct.as_deref(), name.as_deref(), data) {
            Some(Kind::Mail) | None => continue,
            Some(k) => k,
        };
        match extract_kind(
            kind,
            data,
            fallback.clone(),
            origin.clone(),
            budget,
            depth + 1,
        ) {
            Ok(mut f) => found.append(&mut f),
            Err(e) if e.is_budget() => return Err(e),
            Err(e) => {
                // Some senders end the mail inside the last part (no closing boundary), base64
                // on one long line; the MIME decoder then hands over bytes that are not the
                // attachment. Decode the part's raw body ourselves before giving up.
                let raw = bytes
                    .get(part.raw_body_offset() as usize..part.raw_end_offset() as usize)
                    .unwrap_or_default();
                match lenient_base64(raw)
                    .filter(|d| d.as_slice() != data)
                    .map(|d| extract_kind(kind, &d, fallback, origin, budget, depth + 1))
                {
                    Some(Ok(mut f)) => found.append(&mut f),
                    Some(Err(e2)) if e2.is_budget() => return Err(e2),
                    _ => reasons.push(e.to_string()),
                }
            }
        }
    }
    if found.is_empty() {
        return Err(ExtractError::Invalid(match reasons.first() {
            Some(r) => format!("the mail's report attachment is unusable: {r}"),
            None => "the mail carries no TLS-RPT report (no JSON, gzip or zip attachment)".into(),
        }));
    }
    Ok(found)
}

/// Decodes base64 text leniently: whitespace anywhere, stops at a boundary line (`--`) or the
/// first character that is not base64, padding optional. `None` when nothing decodes.
fn lenient_base64(raw: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine;
    let mut text = Vec::with_capacity(raw.len());
    for line in raw.split(|&b| b == b'\n') {
        let line = line.trim_ascii();
        if line.starts_with(b"--") {
            break;
        }
        for &b in line {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' => text.push(b),
                b'=' => break,
                _ => return None,
            }
        }
    }
    text.truncate(
        text.len() / 4 * 4
            + if text.len() % 4 >= 2 {
                text.len() % 4
            } else {
                0
            },
    );
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(&text)
        .ok()
        .filter(|d| !d.is_empty())
}

fn is_candidate(ct: Option<&str>, name: Option<&str>, whole_message: bool) -> bool {
    let by_type = matches!(
        ct,
        Some(
            "application/tlsrpt+gzip"
                | "application/tlsrpt+json"
                | "application/tlsrpt"
                | "application/tlsrpt+zip"
                | "application/gzip"
                | "application/x-gzip"
                | "application/zip"
                | "application/x-zip-compressed"
                | "application/json"
                | "application/octet-stream"
        )
    );
    let by_name = name.is_some_and(|n| {
        let n = n.to_ascii_lowercase();
        n.ends_with(".json") || n.ends_with(".gz") || n.ends_with(".zip")
    });
    // D-23: a report may be the whole message body (not multipart).
    by_type || by_name || whole_message
}

fn mime_depth(msg: &Message<'_>, part: u32, depth: usize, cap: usize) -> usize {
    if depth >= cap {
        return depth;
    }
    let Some(p) = msg.part(part) else {
        return depth;
    };
    match p.sub_parts() {
        Some(children) => children
            .iter()
            .map(|&c| {
                if c == part {
                    depth
                } else {
                    mime_depth(msg, c, depth + 1, cap)
                }
            })
            .max()
            .unwrap_or(depth),
        None => depth,
    }
}

/// The policy domain in an RFC 8460 §5.1 file name: `sender!policy-domain!begin!end[!id].json[.gz]`.
pub fn domain_from_filename(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next()?;
    let mut fields = base.split('!');
    let _sender = fields.next()?;
    let domain = fields.next()?;
    let begin = fields.next()?;
    (!domain.is_empty() && begin.bytes().all(|b| b.is_ascii_digit())).then(|| domain.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn gzip_is_sniffed_whatever_the_declared_type() {
        let body = gz(b"{}");
        assert_eq!(
            detect(Some("application/tlsrpt+json"), None, &body),
            Some(Kind::Gzip)
        );
        assert_eq!(detect(None, Some("x.json"), &body), Some(Kind::Gzip));
        assert_eq!(
            detect(Some("application/tlsrpt+gzip"), None, b"{}"),
            Some(Kind::Json)
        );
    }

    #[test]
    fn gzip_trailing_garbage_is_ignored() {
        let mut body = gz(b"{\"a\":1}");
        body.extend_from_slice(b"\r\n\r\ngarbage");
        assert_eq!(gunzip(&body, 1000).unwrap(), b"{\"a\":1}");
    }

    #[test]
    fn ingest_rejects_gzip_that_expands_past_limit() {
        let body = gz(&vec![b' '; 10_000]);
        assert_eq!(
            gunzip(&body, 1_000),
            Err(ExtractError::DecompressedTooLarge(1_000))
        );
    }

    #[test]
    fn rfc_file_names_give_the_policy_domain() {
        assert_eq!(
            domain_from_filename("google.com!example.net!1663200000!1663286399!001.json.gz"),
            Some("example.net".into())
        );
        assert_eq!(domain_from_filename("report.json"), None);
    }

    #[test]
    fn random_bytes_are_rejected_with_a_reason() {
        let err = extract(b"\x00\x01\x02hello", None, None, &Limits::default()).unwrap_err();
        assert!(err.to_string().contains("not a TLS-RPT report"), "{err}");
    }
}
